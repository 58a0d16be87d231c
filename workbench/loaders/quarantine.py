"""Bad rows set aside instead of failing their file (``on_bad_rows = "quarantine"``, CSV).

A 10 GB export with one bad row should load its good rows and list the bad one. DuckDB's CSV
reader does the work: with ``store_rejects`` it skips each row it cannot read (a value that
does not cast to the column's type, too many or too few columns, a bad encoding) and writes
it to a temporary table with its line, column and error. After each file the loader moves
those rows into the ledger's ``_workbench.rejects`` (``ledger.replace_rejects``), in the same
transaction as the file's good rows, and drops the temporary tables.

A file that cannot be read at all (not CSV, empty, cut short) is still rejected whole.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

from .. import ledger
from ..config import SourceConfig
from .messages import FIELD_LIMIT
from .scan import LandingFile

if TYPE_CHECKING:
    import duckdb


def quarantines(source: SourceConfig) -> bool:
    return source.on_bad_rows == "quarantine"


def reading(source: SourceConfig) -> SourceConfig:
    """``source`` with the reader options that keep its bad rows aside."""
    return replace(source, options={**source.options, "store_rejects": True,
                                    "rejects_table": _errors(source),
                                    "rejects_scan": _scans(source)})


def set_aside(con: duckdb.DuckDBPyConnection, source: SourceConfig, file: LandingFile, *,
              run_id: str, loaded_at: datetime) -> int:
    """Move the rows DuckDB set aside while reading ``file`` into the ledger; how many."""
    errors = _errors(source)
    exists = con.execute("select count(*) from duckdb_tables() where table_name = ?",
                         [errors]).fetchone()[0]
    if not exists:              # nothing read with store_rejects (a staged copy, say)
        ledger.forget_rejects(con, source.name, [file.relative])
        return 0
    rows = (f"(select line, column_name, error_type::varchar as error_type, "
            f"left(error_message, {FIELD_LIMIT * 2}) as error, "
            f"left(csv_line, {FIELD_LIMIT}) as csv_line from {errors})")
    try:
        return ledger.replace_rejects(con, source.name, file.relative, rows, run_id=run_id,
                                      loaded_at=loaded_at)
    finally:
        con.execute(f"drop table if exists {errors}")
        con.execute(f"drop table if exists {_scans(source)}")


def _errors(source: SourceConfig) -> str:
    return f"_rejects_{source.name}"


def _scans(source: SourceConfig) -> str:
    return f"_rejects_scan_{source.name}"
