"""JSON arrays and newline-delimited JSON through DuckDB's reader."""

from __future__ import annotations

from .sql import call


def read(options: dict, types: dict[str, str] | None = None, *,
         newline_delimited: bool = False) -> str:
    """SQL reading one JSON file (the path is the ``?``); ``.jsonl``/``.ndjson`` files are
    read line by line."""
    options = dict(options)
    if newline_delimited:
        options.setdefault("format", "newline_delimited")
    if types:
        options["columns"] = {**types, **options.get("columns", {})}
    return call("read_json", options)
