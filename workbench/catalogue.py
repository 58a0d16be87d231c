"""Listings a user asks for, ``wb.tables()`` and ``wb.status()``, as objects that display
themselves: a text table in a terminal, an HTML table in Jupyter, a DataFrame on demand."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import astuple, dataclass, field, fields
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from . import ledger
from .warehouse import TableInfo

if TYPE_CHECKING:
    import pandas as pd


class Listing:
    """Rows of one dataclass type; iterate, ``len()``, ``to_pandas()``, display."""

    headers: ClassVar[Sequence[str]] = ()
    status_column: ClassVar[str | None] = None

    def __init__(self, items: Sequence[Any]) -> None:
        self._items = list(items)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def _rows(self) -> list[tuple]:
        return [astuple(item) for item in self._items]

    def to_pandas(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame(self._rows(), columns=list(self.headers))

    def __repr__(self) -> str:
        from .display.text import table

        return table(self.headers, self._rows())

    def _repr_html_(self) -> str:
        from .display.html import html_table

        return html_table(self.headers, self._rows(), status_column=self.status_column,
                          limit=200)


class Catalogue(Listing):
    """``wb.tables()``: every table and view, marts first, with the description the dbt
    project gives it (``description:`` in its YAML; ``column_descriptions`` for columns)."""

    headers = ("layer", "name", "kind", "rows", "columns", "description")
    _SHOWN = 60         # characters of a description in a terminal; to_pandas() has them all

    def __init__(self, items: Sequence[TableInfo], docs: Docs | None = None) -> None:
        super().__init__(items)
        self.docs = docs or Docs()

    def __contains__(self, name: object) -> bool:
        return any(name in (t.name, t.qualified) for t in self._items)

    def names(self, layer: str | None = None) -> list[str]:
        return [t.name for t in self._items if layer is None or t.schema == layer]

    def description(self, name: str) -> str | None:
        """The dbt description of table ``name`` (``schema.name`` or a unique name)."""
        return self.docs.tables.get(self._qualified(name))

    def column_descriptions(self, name: str) -> dict[str, str]:
        """Column name -> its dbt description, for the columns that have one."""
        return dict(self.docs.columns.get(self._qualified(name), {}))

    def _qualified(self, name: str) -> str:
        found = [t.qualified for t in self._items if name in (t.name, t.qualified)]
        return found[0] if found else name

    def _rows(self) -> list[tuple]:
        return [(t.schema, t.name, t.kind, t.rows, t.columns, self.docs.tables.get(t.qualified))
                for t in self._items]

    def __repr__(self) -> str:
        from .display.text import table

        return table(self.headers, [(*row[:-1], _shorten(row[-1], self._SHOWN))
                                    for row in self._rows()])


@dataclass(frozen=True)
class Docs:
    """Descriptions from the dbt project, by relation (``schema.name``)."""

    tables: dict[str, str] = field(default_factory=dict)
    columns: dict[str, dict[str, str]] = field(default_factory=dict)


_docs_cache: dict[Path, tuple[tuple[int, int], Docs]] = {}


def dbt_docs(dbt_project: Path) -> Docs:
    """The descriptions of models, seeds, snapshots and sources and their columns, read
    from the manifest dbt wrote at the workbench's last parse (``target/manifest.json``):
    reading it costs milliseconds, a parse seconds. None before the first parse; re-read
    only when the file changed."""
    import json

    file = Path(dbt_project) / "target" / "manifest.json"
    try:
        stat = file.stat()
    except OSError:
        return Docs()
    stamp = (stat.st_size, stat.st_mtime_ns)
    cached = _docs_cache.get(file)
    if cached is None or cached[0] != stamp:
        try:
            manifest = json.loads(file.read_text())
        except (OSError, ValueError):      # being rewritten by a parse: none this time
            return Docs()
        tables: dict[str, str] = {}
        columns: dict[str, dict[str, str]] = {}
        documented = [n for n in manifest.get("nodes", {}).values()
                      if n.get("resource_type") in ("model", "seed", "snapshot")]
        for node in [*documented, *manifest.get("sources", {}).values()]:
            table = node.get("alias") or node.get("identifier") or node.get("name")
            relation = f"{node.get('schema')}.{table}"
            if node.get("description"):
                tables[relation] = node["description"]
            described = {name: col["description"] for name, col in
                         (node.get("columns") or {}).items() if col.get("description")}
            if described:
                columns[relation] = described
        cached = _docs_cache[file] = (stamp, Docs(tables, columns))
    return cached[1]


def _shorten(text: str | None, width: int) -> str:
    if not text:
        return ""
    text = " ".join(text.split())
    return text if len(text) <= width else text[:width - 1] + "…"


@dataclass(frozen=True)
class SourceStatus:
    """One source as the published warehouse knows it."""

    source: str
    files_on_disk: int
    files_loaded: int
    rows: int | None
    last_loaded_at: datetime | None
    pending_dbt: bool           # loaded data that dbt has not yet built downstream
    rejected: str | None        # the latest rejected file's reason, if any since
    bad_rows: int = 0           # rows set aside in _workbench.rejects (on_bad_rows)


class StatusReport(Listing):
    """``wb.status()``: each source's files, rows, last load and what is pending."""

    headers = tuple(f.name for f in fields(SourceStatus))

    def __getitem__(self, source: str) -> SourceStatus:
        for item in self._items:
            if item.source == source:
                return item
        raise KeyError(source)


def source_status(config, warehouse) -> StatusReport:
    """``wb.status()``: what is on disk (always) against what the published warehouse knows."""
    from .loaders import discover

    loads: dict[str, ledger.SourceLoads] = {}
    rows: dict[str, int | None] = {}
    if config.published.exists():
        with warehouse.reading() as con:
            loads = ledger.source_loads(con)
        rows = {t.name: t.rows for t in warehouse.catalogue() if t.schema == config.raw_schema}
    items = []
    for source in config.sources:
        load = loads.get(source.name)
        items.append(SourceStatus(
            source=source.name,
            files_on_disk=len(discover(config, source)),
            files_loaded=load.files_loaded if load else 0,
            rows=rows.get(source.name),
            last_loaded_at=load.last_loaded_at if load else None,
            pending_dbt=load.pending_dbt if load else False,
            rejected=load.rejected if load else None,
            bad_rows=load.bad_rows if load else 0))
    return StatusReport(items)


@dataclass(frozen=True)
class RunLine:
    """One past run as ``workbench status`` lists it."""

    run_id: str
    status: str
    summary: str


def last_runs(config, warehouse, limit: int = 5) -> list[RunLine]:
    """The last ``limit`` runs, newest first; none before anything is published.

    Read as plain rows (DuckDB's ``fetchall``), not through ``wb.history()``: a terminal
    needs three columns of five rows, and importing pandas and pyarrow alone would cost a
    fresh ``workbench status`` process about half a second (``benchmarks/loop.py``)."""
    if not config.published.exists():
        return []
    with warehouse.reading() as con:
        return [RunLine(*row) for row in ledger.recent_run_lines(con, limit)]


__all__ = ["Catalogue", "Docs", "Listing", "RunLine", "SourceStatus", "StatusReport", "TableInfo",
           "dbt_docs", "last_runs", "source_status"]
