"""Parquet through DuckDB's reader: column types come from the file itself."""

from __future__ import annotations

import duckdb


def read(con: duckdb.DuckDBPyConnection, path: str, options: dict,
         types: dict[str, str] | None = None) -> duckdb.DuckDBPyRelation:
    """A relation over one Parquet file (``types`` is unused: Parquet is typed)."""
    return con.read_parquet(path, **options)
