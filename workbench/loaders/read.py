"""How to read one landing file on a DuckDB connection: the SQL, its columns, its types.

Shared by ``load`` (under the write lock) and ``stage`` (before it, on a connection of its own).
"""

from __future__ import annotations

from ..config import SourceConfig, WorkbenchConfig
from ..errors import SourceError
from ..steps import import_function
from . import csv, json, parquet
from .scan import LandingFile

READERS = {"csv": csv.read, "parquet": parquet.read, "json": json.read}
LINEAGE_COLUMNS = ("_loaded_at", "_source_file")


def reader_sql(con, view: str, source: SourceConfig, file: LandingFile,
               types: dict[str, str] | None, config: WorkbenchConfig
               ) -> tuple[str, str, list]:
    """How to read one file on ``con``: (SQL to read it with ``types`` pinned, SQL to
    describe its own columns, parameters of both). A custom reader is called here, once."""
    if file.size == 0:
        raise SourceError(f"{file.relative}: the file is empty (0 bytes). Remove it or replace "
                          f"it with a complete export; nothing from source {source.name!r} "
                          f"was loaded.", source=source.name, file=file.relative)
    if source.reader:
        custom = import_function(source.reader, config.root,
                                 where=f"[sources.{source.name}] reader")
        custom(con, str(file.path), source.options, types).create_view(view, replace=True)
        return view, view, []
    return (_format_sql(source, file, types), _format_sql(source, file, None),
            [str(file.path)])


def _format_sql(source: SourceConfig, file: LandingFile, types: dict[str, str] | None) -> str:
    if source.format == "json":
        return json.read(source.options, types,
                         newline_delimited=file.relative.endswith((".jsonl", ".ndjson")))
    return READERS[source.format](source.options, types)


def select_columns(described: list[tuple]) -> str:
    """Select every column; one that is null in every row of this file (JSON reads it as
    type NULL) becomes VARCHAR, so the first file loaded cannot give the table a NULL column."""
    return ", ".join(
        f'"{row[0]}"::varchar as "{row[0]}"' if str(row[1]).strip('"').upper() == "NULL"
        else f'"{row[0]}"' for row in described)


def column_types(con, schema: str, table: str) -> dict[str, str] | None:
    rows = con.execute(
        "select column_name, data_type from information_schema.columns "
        "where table_schema = ? and table_name = ? order by ordinal_position",
        [schema, table]).fetchall()
    return {name: kind for name, kind in rows if name not in LINEAGE_COLUMNS} or None
