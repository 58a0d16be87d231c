"""``wb.explore()``: a table explorer over ``workbench.explore``, data first.

A title line (the table, its kind, rows, columns, last build, freshness), then the grid (one
page, sorted, filtered and counted by DuckDB: never all rows in the browser), then a
collapsed accordion with the schema and a per-column profile (computed when opened).
``explorer.frame()`` pulls the whole table into pandas; ``explorer.page_frame`` is the page
shown. In an export without widget state the explorer is its first page as an HTML table.

    >>> ex = wb.explore("user_engagement")      # a bare name finds marts.user_engagement
    >>> ex.sort("events", descending=True); ex.filter("plan", "team"); ex.last_page()
"""

from __future__ import annotations

from html import escape

from .. import explore
from ..catalogue import dbt_docs
from ..errors import WorkbenchError
from . import theme
from .grid import Grid
from .html import html_table

PAGE = 25
_BARS = "▁▂▃▄▅▆▇█"
_NUMERIC = explore._NUMERIC


class Explorer:
    """The widget and its state. Raises TableNotFoundError (with "did you mean") for a
    table the warehouse does not have, as ``wb.table`` does."""

    def __init__(self, wb, table: str | None = None) -> None:
        import ipywidgets as w

        self.wb = wb
        tables = [t.qualified for t in wb.tables()]
        if table is not None:
            with wb.warehouse.reading() as con:       # the same resolution as wb.table
                found = explore.table_info(con, table)
            table = f"{found['schema']}.{found['name']}"
        self.table = w.Dropdown(options=tables, value=table or (tables[0] if tables else None),
                                layout=w.Layout(width="auto"))
        self.info = w.HTML()
        self.grid = Grid(page_size=PAGE)
        self.schema, self.stats = w.HTML(), w.HTML()
        self.details = w.Accordion(children=[self.schema, self.stats], selected_index=None)
        self.details.set_title(0, "Schema")
        self.details.set_title(1, "Profile (nulls, distinct, min, max, histogram)")
        self.rows, self.page_frame, self._info = 0, None, None
        self.table.observe(lambda _: self._select(), names="value")
        self.grid.observe(self._query, names=["sort", "descending", "filters", "offset"])
        self.details.observe(self._opened, names="selected_index")
        self.widget = w.VBox([w.HBox([self.table, self.info]), self.grid, self.details],
                             layout=w.Layout(max_width="100%"))
        self.widget.add_class("workbench-explorer")
        self._select()

    # -- what a notebook calls -----------------------------------------------------------------
    def frame(self):
        """The whole selected table as a pandas DataFrame (through Arrow)."""
        return self.wb.table(self.table.value)

    def sort(self, column: str | None, descending: bool = False) -> None:
        """Sort by ``column`` (None: the table's order), as a click on its header does."""
        with self.grid.hold_trait_notifications():
            self.grid.sort, self.grid.descending, self.grid.offset = column, descending, 0

    def filter(self, column: str, text: str) -> None:
        """Keep rows whose ``column`` contains ``text`` (case-insensitive; "" clears it)."""
        with self.grid.hold_trait_notifications():
            self.grid.filters, self.grid.offset = {**self.grid.filters, column: text}, 0

    def last_page(self) -> None:
        """Go to the last page of the filtered rows."""
        self.grid.offset = max(self.grid.total - 1, 0) // PAGE * PAGE

    @property
    def matching(self) -> int:
        """How many rows the filters leave (all rows without filters)."""
        return self.grid.total

    def profile(self):
        """The per-column profile (``workbench.explore.profile``) of the selected table."""
        with self.wb.warehouse.reading() as con:
            return explore.profile(con, self.table.value)

    # -- display -------------------------------------------------------------------------------
    def _repr_mimebundle_(self, include=None, exclude=None):
        """The widget in Jupyter; its first page as static HTML where widgets do not run
        (nbconvert, GitHub, an export without widget state)."""
        data = self.widget._repr_mimebundle_()
        data = data[0] if isinstance(data, tuple) else (data or {})
        return {**data, "text/html": self.static_html(), "text/plain": repr(self)}

    def static_html(self) -> str:
        """The title line and the page shown, as a plain HTML table."""
        if self.page_frame is None:
            return f"<div class='workbench-explorer'>{self.info.value}</div>"
        table = html_table(list(map(str, self.page_frame.columns)), _cells(self.page_frame),
                           limit=PAGE, css="workbench-page")
        return (f"<div class='workbench-explorer'><div>{self.info.value}</div>"
                f"<div>{theme.note(self.grid.status)}</div>"
                f"<div style='overflow-x:auto;max-width:100%'>{table}</div></div>")

    def __repr__(self) -> str:
        if self._info is None:
            return "Explorer(nothing published yet: run wb.run() first)"
        return f"Explorer({self.table.value}: {self.grid.status})"

    # -- reacting ------------------------------------------------------------------------------
    def _select(self) -> None:
        if not self.table.value:
            self.info.value = theme.note("nothing published yet: run wb.run() first")
            return
        with self.wb.warehouse.reading() as con:
            info = explore.table_info(con, self.table.value)
        self._info, self.rows = info, info["rows"]
        freshness = {f.source: f.state for f in self.wb.freshness()} \
            if info["schema"] == self.wb.config.raw_schema else {}
        fresh = freshness.get(info["name"])
        docs = dbt_docs(self.wb.config.dbt_project)     # dbt's descriptions, if any
        relation = f"{info['schema']}.{info['name']}"
        described, columns = docs.tables.get(relation), docs.columns.get(relation, {})
        self.info.value = (
            f"<span style='color:{theme.INK}'><b>{escape(info['schema'])}."
            f"{escape(info['name'])}</b></span> "
            + theme.note(f"{info['kind']} · {info['rows']:,} rows · {len(info['columns'])} "
                         f"columns · last built {info['last_built'] or 'unknown'}"
                         + (f" · freshness {fresh}" if fresh else ""))
            + (f"<div class='workbench-description'>{escape(described)}</div>"
               if described else ""))
        self.schema.value = html_table(
            ["column", "type", "nullable", "description"],
            [(c["name"], c["type"], "yes" if c["nullable"] else "no",
              columns.get(c["name"], "")) for c in info["columns"]],
            limit=500)
        self.stats.value = theme.note("open to compute")
        if self.details.selected_index == 1:
            self._opened({"new": 1})
        with self.grid.hold_trait_notifications():
            self.grid.columns = [{"name": c["name"], "type": c["type"],
                                  "numeric": c["type"].startswith(_NUMERIC)}
                                 for c in info["columns"]]
            self.grid.sort, self.grid.descending = None, False
            self.grid.filters, self.grid.offset = {}, 0
        self._query()

    def _query(self, change=None) -> None:
        grid = self.grid
        filters = {k: v for k, v in grid.filters.items() if v}
        try:
            with self.wb.warehouse.reading() as con:
                total = explore.count(con, self.table.value, filters)
                offset = min(max(grid.offset, 0), max(total - 1, 0) // PAGE * PAGE)
                frame = explore.page(con, self.table.value, offset=offset, limit=PAGE,
                                     order_by=grid.sort, descending=grid.descending,
                                     filters=filters)
        except WorkbenchError as error:
            grid.error = str(error)
            return
        self.page_frame = frame
        if total:
            shown = f"rows {offset + 1:,}–{offset + len(frame):,} of {total:,}"
        else:
            shown = "no rows match"
        if filters:
            shown += f" (filtered from {self.rows:,})"
        with grid.hold_trait_notifications():
            grid.error, grid.total, grid.offset = "", total, offset
            grid.rows = [list(r) for r in _cells(frame)]
            grid.status = shown

    def _opened(self, change) -> None:
        if change["new"] != 1 or not self.table.value:
            return
        stats = self.profile()
        exact = bool(stats["distinct_exact"].all()) if len(stats) else True
        self.stats.value = (
            ("" if exact else theme.note(
                f"≈ distinct counts are estimates (HyperLogLog, a few percent off): the "
                f"table has more than {explore.EXACT_DISTINCT_ROWS:,} rows"))
            + html_table(["column", "type", "nulls", "distinct", "min", "max", "histogram"],
                         [(r.name, r.type, r.nulls,
                           f"{r.distinct:,}" if r.distinct_exact else f"≈ {r.distinct:,}",
                           r.min, r.max, _bars(r.histogram))
                          for r in stats.itertuples()], limit=500,
                         cut={"min": 40, "max": 40}))


def _cells(frame) -> list[list[str | None]]:
    """A page as text, NULL, NaN and NaT as None (drawn as an empty, shaded cell)."""
    out = []
    for row in frame.itertuples(index=False):
        out.append([_text(v) for v in row])
    return out


def _text(value) -> str | None:
    import pandas as pd

    try:
        if value is None or pd.isna(value) is True:
            return None
    except (TypeError, ValueError):     # a list or an array: never "missing" as a whole
        pass
    return str(value)


def _bars(histogram) -> str:
    if histogram is None or not len(histogram):
        return ""
    top = max(histogram) or 1
    return "".join(_BARS[min(len(_BARS) - 1, int(v / top * (len(_BARS) - 1)))]
                   for v in histogram)
