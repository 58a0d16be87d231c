"""How to read one landing file on a DuckDB connection: the reader, its SQL, the columns.

Every reader, built-in or custom, is a ``Reader``; ``reader_sql`` is the one place that
picks a source's reader and turns it into SQL. Shared by ``load`` (under the write lock) and
``stage`` (before it, on a connection of its own).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

from ..config import SourceConfig, WorkbenchConfig
from ..errors import SourceError
from ..functions import import_function
from ..warehouse import quote
from . import csv, json, parquet
from .scan import LandingFile
from .sql import TableFunctionReader, exact_path

if TYPE_CHECKING:
    import duckdb

LINEAGE_COLUMNS = ("_loaded_at", "_source_file")


class Reader(Protocol):
    """Reads one landing file: ``reader(con, path, options, types) -> relation``.

    ``path`` is the file's absolute path, ``options`` the source's ``[sources.<name>.options]``
    and ``types`` (column -> DuckDB type) the raw table's columns once it exists (None for
    the first file), which a reader should keep so every file loads alike. A custom reader
    (``reader = "file.py:function"`` in workbench.toml) is any function of this shape; it is
    called once per file read and may return any relation on ``con``.
    """

    def __call__(self, con: duckdb.DuckDBPyConnection, path: str, options: Mapping[str, Any],
                 types: dict[str, str] | None) -> duckdb.DuckDBPyRelation: ...


READERS: dict[str, Reader] = {"csv": csv.read, "parquet": parquet.read, "json": json.read}


def reader_of(source: SourceConfig, config: WorkbenchConfig) -> Reader:
    """The source's own reader if it names one, else its format's built-in reader."""
    if source.reader:
        return import_function(source.reader, config.root,
                               where=f"[sources.{source.name}] reader")
    return READERS[source.format]


def reader_sql(con: duckdb.DuckDBPyConnection, view: str, source: SourceConfig,
               file: LandingFile, types: dict[str, str] | None, config: WorkbenchConfig
               ) -> tuple[str, str, list]:
    """How to read one file on ``con``: (SQL to read it with ``types`` pinned, SQL to
    describe its own columns, parameters of both).

    A built-in reader is pure SQL, with the path bound; its own columns are described
    without ``types``, so a file that lacks or adds a column is named as such. Any other
    reader is called once, and its relation becomes the view ``view`` for both.
    """
    if file.size == 0:
        raise SourceError(f"{file.relative}: the file is empty (0 bytes). Remove it or replace "
                          f"it with a complete export; nothing from source {source.name!r} "
                          f"was loaded.", source=source.name, file=file.relative)
    reader, path = reader_of(source, config), str(file.path)
    if isinstance(reader, TableFunctionReader):
        return (reader.sql(path, source.options, types), reader.sql(path, source.options, None),
                [exact_path(path)])
    reader(con, path, source.options, types).create_view(view, replace=True)
    return view, view, []


def select_columns(described: list[tuple]) -> str:
    """Select every column; one that is null in every row of this file (JSON reads it as
    type NULL) becomes VARCHAR, so the first file loaded cannot give the table a NULL column."""
    return ", ".join(
        f"{quote(row[0])}::varchar as {quote(row[0])}" if str(row[1]).strip('"').upper() == "NULL"
        else quote(row[0]) for row in described)


def column_types(con: duckdb.DuckDBPyConnection, schema: str, table: str
                 ) -> dict[str, str] | None:
    rows = con.execute(
        "select column_name, data_type from information_schema.columns "
        "where table_schema = ? and table_name = ? order by ordinal_position",
        [schema, table]).fetchall()
    return {name: kind for name, kind in rows if name not in LINEAGE_COLUMNS} or None
