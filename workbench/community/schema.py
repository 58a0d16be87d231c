"""The sample's own schema, ``_community``: the tables its steps keep for themselves (the
classifier's cache) live here, apart from the core's metadata.

Releases before this one kept them in the core's schema ``_workbench``. ``ensure_table``
creates a table here from the old one's rows, once, so an upgraded warehouse keeps them (the
classifier does not pay again for labels it already has). The old table is read, never
written or dropped.
"""

from __future__ import annotations

import duckdb

from ..ledger import SCHEMA as OLD_SCHEMA   # the core's metadata: read only, to copy

SCHEMA = "_community"


def table(name: str) -> str:
    """The qualified name of the sample's table ``name``."""
    return f"{SCHEMA}.{name}"


def ensure_table(con: duckdb.DuckDBPyConnection, name: str, columns: str) -> None:
    """Create ``_community.<name>`` with ``columns`` (``"(a varchar, b double)"``) unless it
    exists; if ``_workbench.<name>`` exists, the new table is a copy of it instead.

    One statement each, so a crash never leaves a new table without the old rows.
    """
    if _exists(con, SCHEMA, name):
        return
    con.execute(f"create schema if not exists {SCHEMA}")
    if _exists(con, OLD_SCHEMA, name):
        con.execute(f"create table {table(name)} as select * from {OLD_SCHEMA}.{name}")
    else:
        con.execute(f"create table {table(name)} {columns}")


def readable(con: duckdb.DuckDBPyConnection, name: str) -> str | None:
    """The table to read ``name`` from, without creating anything (a dry run's read-only
    connection): ours, else the old one of a warehouse not yet upgraded, else None."""
    for schema in (SCHEMA, OLD_SCHEMA):
        if _exists(con, schema, name):
            return f"{schema}.{name}"
    return None


def _exists(con: duckdb.DuckDBPyConnection, schema: str, name: str) -> bool:
    # On the caller's connection: a table created earlier in its transaction counts.
    return con.execute(
        "select count(*) from duckdb_tables() where database_name = current_database() "
        "and schema_name = ? and table_name = ?", [schema, name]).fetchall()[0][0] > 0
