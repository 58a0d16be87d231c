"""CSV through DuckDB's own reader (sniffs delimiter, quoting, header and types)."""

from __future__ import annotations

from .sql import call


def read(options: dict, types: dict[str, str] | None = None) -> str:
    """SQL reading one CSV file (the path is the ``?``).

    ``types`` pins column types to an existing raw table's, so a month in which a column
    happens to look like text cannot change what the sniffer picks.
    """
    options = dict(options)
    if types:
        options["types"] = {**types, **options.get("types", {})}
    return call("read_csv", options)
