"""Parquet through DuckDB's reader: column types come from the file itself."""

from __future__ import annotations

from .sql import call


def read(options: dict, types: dict[str, str] | None = None) -> str:
    """SQL reading one Parquet file (the path is the ``?``; ``types`` unused: it is typed)."""
    return call("read_parquet", options)
