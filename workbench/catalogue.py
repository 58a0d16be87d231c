"""``wb.tables()``: the warehouse's catalogue as an object that displays itself."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from .warehouse import TableInfo

if TYPE_CHECKING:
    import pandas as pd

_HEADERS = ["layer", "name", "kind", "rows", "columns"]


class Catalogue:
    """A list of TableInfo: iterate it, index it by name, or turn it into a DataFrame."""

    def __init__(self, tables: list[TableInfo]) -> None:
        self._tables = list(tables)

    def __iter__(self) -> Iterator[TableInfo]:
        return iter(self._tables)

    def __len__(self) -> int:
        return len(self._tables)

    def __contains__(self, name: object) -> bool:
        return any(name in (t.name, t.qualified) for t in self._tables)

    def names(self, layer: str | None = None) -> list[str]:
        return [t.name for t in self._tables if layer is None or t.schema == layer]

    def to_pandas(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame(self._rows(), columns=_HEADERS)

    def _rows(self) -> list[tuple]:
        return [(t.schema, t.name, t.kind, t.rows, t.columns) for t in self._tables]

    def __repr__(self) -> str:
        from .display.text import table

        return table(_HEADERS, self._rows())

    def _repr_html_(self) -> str:
        from .display.html import html_table

        return html_table(_HEADERS, self._rows(), limit=200)
