"""Parquet through DuckDB's reader: column types come from the file itself."""

from __future__ import annotations

from .sql import TableFunctionReader


class ParquetReader(TableFunctionReader):
    """``read_parquet``; ``types`` is not needed: a Parquet file is typed."""

    function = "read_parquet"


read = ParquetReader()
