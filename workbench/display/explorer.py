"""``wb.explore()``: a table explorer widget over ``workbench.explore``.

Pick a table; see its schema, row count, last build and freshness; page through it sorted
and filtered by DuckDB (never by loading all rows into the browser); profile its columns
(nulls, distinct, min/max and a small histogram); and pull it into a DataFrame with
``explorer.frame()`` (the whole table) or ``explorer.page_frame`` (the page shown).
"""

from __future__ import annotations

from html import escape

from .. import explore
from ..errors import WorkbenchError
from . import theme
from .html import html_table

PAGE = 25
MAX_COLUMNS = 30     # a page's columns shown; the rest are in the frame
_BARS = "▁▂▃▄▅▆▇█"


class Explorer:
    """The widget and its state; display it, or call ``frame()`` for the selected table."""

    def __init__(self, wb, table: str | None = None) -> None:
        import ipywidgets as w

        self.wb = wb
        names = [t.qualified for t in wb.tables()]
        self.table = w.Dropdown(options=names, value=table if table in names else
                                (names[0] if names else None), description="Table")
        self.order = w.Dropdown(description="Sort by")
        self.descending = w.Checkbox(description="descending", indent=False)
        self.column = w.Dropdown(description="Filter")
        self.text = w.Text(placeholder="contains…", continuous_update=False)
        self.previous, self.next = w.Button(description="◀ prev"), w.Button(description="next ▶")
        self.info, self.grid, self.stats = w.HTML(), w.HTML(), w.HTML()
        self.offset, self.rows, self.page_frame = 0, 0, None
        for control in (self.table, self.order, self.descending, self.column, self.text):
            control.observe(self._changed, names="value")
        self.previous.on_click(lambda _: self._move(-PAGE))
        self.next.on_click(lambda _: self._move(PAGE))
        tabs = w.Tab(children=[w.VBox([w.HBox([self.order, self.descending]),
                                       w.HBox([self.column, self.text]),
                                       w.HBox([self.previous, self.next]), self.grid]),
                               self.stats])
        tabs.set_title(0, "Preview")
        tabs.set_title(1, "Profile")
        self.widget = w.VBox([self.table, self.info, tabs])
        self.widget.add_class("workbench-explorer")
        self._select()

    def frame(self):
        """The whole selected table as a pandas DataFrame (through Arrow)."""
        return self.wb.table(self.table.value)

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)

    # -- reacting ------------------------------------------------------------------------------
    def _changed(self, change) -> None:
        if change["owner"] is self.table:
            self._select()
        else:
            self.offset = 0
            self._show_page()

    def _move(self, step: int) -> None:
        self.offset = max(0, min(self.offset + step, max(self.rows - 1, 0)))
        self._show_page()

    def _select(self) -> None:
        if not self.table.value:
            self.info.value = "<i>nothing published yet: run wb.run() first</i>"
            return
        with self.wb.warehouse.reading() as con:
            info = explore.table_info(con, self.table.value)
            stats = explore.profile(con, self.table.value)
        self.rows = info["rows"]
        columns = [c["name"] for c in info["columns"]]
        for dropdown in (self.order, self.column):
            dropdown.unobserve(self._changed, names="value")
            dropdown.options = [None, *columns]
            dropdown.value = None
            dropdown.observe(self._changed, names="value")
        freshness = {f.source: f.state for f in self.wb.freshness()}
        fresh = freshness.get(info["name"]) if info["schema"] == self.wb.config.raw_schema \
            else None
        self.info.value = (
            f"<b>{escape(info['schema'])}.{escape(info['name'])}</b> · {info['kind']} · "
            f"{info['rows']:,} rows · {len(columns)} columns · last built "
            f"{escape(str(info['last_built'] or 'unknown'))}"
            + (f" · freshness {escape(fresh)}" if fresh else "")
            + html_table(["column", "type", "nullable"],
                         [(c["name"], c["type"], c["nullable"]) for c in info["columns"]],
                         limit=60))
        self.stats.value = html_table(
            ["column", "type", "nulls", "distinct", "min", "max", "histogram"],
            [(r.name, r.type, r.nulls, r.distinct, r.min, r.max, _bars(r.histogram))
             for r in stats.itertuples()], limit=60)
        self.offset = 0
        self._show_page()

    def _show_page(self) -> None:
        filters = {self.column.value: self.text.value} if self.column.value else None
        try:
            with self.wb.warehouse.reading() as con:
                frame = explore.page(con, self.table.value, offset=self.offset, limit=PAGE,
                                     order_by=self.order.value,
                                     descending=self.descending.value, filters=filters)
        except WorkbenchError as error:
            self.grid.value = f"<span style='color:{theme.BAD}'>{escape(str(error))}</span>"
            return
        self.page_frame = frame
        shown = f"rows {self.offset + 1:,}–{self.offset + len(frame):,} of {self.rows:,}" \
            if len(frame) else "no rows match"
        page = frame.iloc[:, :MAX_COLUMNS].astype(object)
        page = page.where(page.notna(), None)           # a null shows as an empty cell
        self.grid.value = (f"<div>{theme.note(shown)}</div><div style='overflow-x:auto'>"
                           + html_table([str(c) for c in page.columns],
                                        page.itertuples(index=False), limit=PAGE,
                                        css="workbench-page") + "</div>")


def _bars(histogram) -> str:
    if histogram is None or not len(histogram):
        return ""
    top = max(histogram) or 1
    return "".join(_BARS[min(len(_BARS) - 1, int(v / top * (len(_BARS) - 1)))]
                   for v in histogram)
