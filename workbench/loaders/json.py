"""JSON arrays and newline-delimited JSON through DuckDB's reader."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .sql import TableFunctionReader

NEWLINE_DELIMITED = (".jsonl", ".ndjson")


class JsonReader(TableFunctionReader):
    """``read_json``; ``.jsonl``/``.ndjson`` files are read line by line, and ``types`` pins
    the columns to an existing raw table's."""

    function = "read_json"

    def arguments(self, path: str, options: Mapping[str, Any],
                  types: dict[str, str] | None) -> dict[str, Any]:
        arguments = dict(options)
        if path.endswith(NEWLINE_DELIMITED):
            arguments.setdefault("format", "newline_delimited")
        if types:
            arguments["columns"] = {**types, **options.get("columns", {})}
        return arguments


read = JsonReader()
