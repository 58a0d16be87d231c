"""JSON arrays and newline-delimited JSON through DuckDB's reader."""

from __future__ import annotations

import duckdb

_NEWLINE_DELIMITED = (".jsonl", ".ndjson")


def read(con: duckdb.DuckDBPyConnection, path: str, options: dict,
         types: dict[str, str] | None = None) -> duckdb.DuckDBPyRelation:
    """A relation over one JSON file; ``.jsonl``/``.ndjson`` are read line by line."""
    options = dict(options)
    if path.endswith(_NEWLINE_DELIMITED):
        options.setdefault("format", "newline_delimited")
    if types:
        options["columns"] = {**types, **options.get("columns", {})}
    return con.read_json(path, **options)
