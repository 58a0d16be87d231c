"""CSV through DuckDB's own reader (sniffs delimiter, quoting, header and types)."""

from __future__ import annotations

import duckdb


def read(con: duckdb.DuckDBPyConnection, path: str, options: dict,
         types: dict[str, str] | None = None) -> duckdb.DuckDBPyRelation:
    """A relation over one CSV file.

    ``types`` pins column types to an existing raw table's, so a month in which a column
    happens to look like text cannot change what the sniffer picks.
    """
    options = dict(options)
    if types:
        options["dtype"] = {**types, **options.get("dtype", {})}
    return con.read_csv(path, **options)
