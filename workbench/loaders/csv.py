"""CSV through DuckDB's own reader (sniffs delimiter, quoting, header and types)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .sql import TableFunctionReader


class CsvReader(TableFunctionReader):
    """``read_csv``; ``types`` pins column types to an existing raw table's, so a month in
    which a column happens to look like text cannot change what the sniffer picks."""

    function = "read_csv"

    def arguments(self, path: str, options: Mapping[str, Any],
                  types: dict[str, str] | None) -> dict[str, Any]:
        arguments = dict(options)
        if types:
            arguments["types"] = {**types, **options.get("types", {})}
        return arguments


read = CsvReader()
