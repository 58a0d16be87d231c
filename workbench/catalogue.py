"""Listings a user asks for, ``wb.tables()`` and ``wb.status()``, as objects that display
themselves: a text table in a terminal, an HTML table in Jupyter, a DataFrame on demand."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import astuple, dataclass, fields
from datetime import datetime
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
    """``wb.tables()``: every table and view, marts first."""

    headers = ("layer", "name", "kind", "rows", "columns")

    def __contains__(self, name: object) -> bool:
        return any(name in (t.name, t.qualified) for t in self._items)

    def names(self, layer: str | None = None) -> list[str]:
        return [t.name for t in self._items if layer is None or t.schema == layer]

    def _rows(self) -> list[tuple]:
        return [(t.schema, t.name, t.kind, t.rows, t.columns) for t in self._items]


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


__all__ = ["Catalogue", "Listing", "RunLine", "SourceStatus", "StatusReport", "TableInfo",
           "last_runs", "source_status"]
