"""Every DuckDB connection is opened here.

DuckDB lets one process write a database file, and while it does, no other process may even
read it. A notebook kernel must never make a run fail, nor see a half-built table, so the
workbench keeps two files:

* ``warehouse.duckdb``: the writers' file. Loaders and dbt write it, one run at a time,
  under a cross-process lock (``warehouse.duckdb.lock``); a second run waits its turn.
* ``warehouse.published.duckdb``: a symlink to the latest snapshot, a copy of the writers'
  file taken when a run that changed something finishes (``.snapshots/<id>.duckdb``). The
  link is swapped with an atomic rename. Readers (``wb.table``, ``wb.sql``, the notebook)
  read the snapshot read-only; one that is mid-query during a swap keeps the old file (POSIX
  keeps an unlinked file alive while it is open), so no reader ever sees a table being built
  or blocks a writer.

Each snapshot has a path of its own because DuckDB shares one database instance per path
within a process: a reader that kept a connection to a fixed path could be handed the old
instance after a swap. With unique paths the process keeps one read-only connection per
snapshot (opening one costs ~20 ms, more than a small query) and moves to the next snapshot
as soon as the link points elsewhere.

The price is one file copy per run that changed data (measured in benchmarks/core.py).

Readers read the warehouse and nothing else: their connection is opened with DuckDB's
``enable_external_access = false`` and ``lock_configuration = true``, so SQL from a notebook,
``%%sql``, the explorer or a report cannot write a file (``COPY ... TO``), read one
(``read_csv('/etc/passwd')``), ``ATTACH`` another database (which would also hold it open for
the whole process) or switch the setting back; ``query`` turns such a refusal into
``QueryRefused``. Files are loaded through sources, and exported by actions, which write.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import contextlib
import difflib
import logging
import os
import secrets
import shutil
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock, Timeout

from . import ledger
from .config import IDENTIFIER
from .errors import (ConfigError, QueryRefused, TableNotFoundError, WarehouseBusyError,
                     WarehouseUsageError)

if TYPE_CHECKING:
    import duckdb

log = logging.getLogger(__name__)

_KEEP_SNAPSHOTS = 2
_LAYER_ORDER = ("marts", "intermediate", "staging", "seeds", "raw")
_SYSTEM_SCHEMAS = ("information_schema", "pg_catalog")
# The reader connection's settings: no file system but the snapshot itself, no ATTACH, no
# extension installs, and no SET that could undo this (see the module docstring).
READER_CONFIG = {"enable_external_access": False, "lock_configuration": True}


@dataclass(frozen=True)
class TableInfo:
    """One table or view in the published warehouse."""

    schema: str
    name: str
    kind: str            # "table" or "view"
    rows: int | None     # None for views (counting would run them)
    columns: int

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"


class Warehouse:
    """The DuckDB file pair: one writer at a time, readers on the published snapshot."""

    def __init__(self, path: Path, published: Path, *, lock_timeout: float = 600.0) -> None:
        self.path = Path(path)
        self.published = Path(published)
        self.lock_timeout = lock_timeout
        # Not thread-local: a run's loads, dbt and steps work in threads under one lock.
        self._lock = FileLock(str(self.path) + ".lock", thread_local=False)

    # -- writing ---------------------------------------------------------------------------
    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        """Hold the cross-process write lock for the length of a run."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._lock.acquire(timeout=0)
        except Timeout:
            log.info("another run is writing %s; waiting up to %.0fs for it to finish",
                     self.path, self.lock_timeout)
            try:
                self._lock.acquire(timeout=self.lock_timeout)
            except Timeout:
                raise WarehouseBusyError(
                    f"{self.path} stayed locked by another run for {self.lock_timeout:.0f}s. "
                    f"Wait for it to finish, or raise lock_timeout in workbench.toml.",
                    path=str(self.path)) from None
        try:
            yield
        finally:
            self._lock.release()

    @contextlib.contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-write connection to the writers' file; call inside ``writing()``."""
        if not self._lock.is_locked:
            raise WarehouseUsageError(
                f"Warehouse.connect() on {self.path} needs the write lock: call it inside "
                f"`with warehouse.writing():`", path=str(self.path))
        import duckdb

        con = duckdb.connect(str(self.path))
        con.execute("set enable_progress_bar = false")   # a notebook shows no bare widget
        try:
            ledger.ensure(con)
            yield con
        finally:
            con.close()

    @contextlib.contextmanager
    def held_open(self, enabled: bool = True) -> Iterator[contextlib.ExitStack]:
        """Keep this process's DuckDB instance of the writers' file open; call inside
        ``writing()``. Yields the holder: ``close()`` it before ``publish()``.

        While it is open, every ``connect()`` of the run (and dbt-duckdb's own, which DuckDB
        hands the same open database) reuses the instance instead of opening the file and
        checkpointing it again on close: ~60 ms a time on a 10 MB file, a dozen times in a
        small re-run. ``enabled=False`` (dbt opens the file with another configuration,
        which DuckDB refuses for an open file) holds nothing.
        """
        holder = contextlib.ExitStack()
        with holder:
            if enabled:
                import duckdb

                holder.enter_context(duckdb.connect(str(self.path)))
            yield holder

    def publish(self) -> float:
        """Copy the writers' file to the published snapshot atomically; return seconds taken.

        Call inside ``writing()`` with every connection to the writers' file closed, so that
        DuckDB has checkpointed its write-ahead log into the file.
        """
        started = time.perf_counter()
        wal = Path(str(self.path) + ".wal")
        if wal.exists() and wal.stat().st_size:
            # A connection left open somewhere (dbt keep_open, say): fold the log in first.
            import duckdb

            with duckdb.connect(str(self.path)) as con:
                con.execute("checkpoint")
        snapshots = self.published.parent / ".snapshots"
        snapshots.mkdir(exist_ok=True)
        snapshot = snapshots / f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}.duckdb"
        shutil.copyfile(self.path, snapshot)
        link = self.published.with_name(f".{self.published.name}.{os.getpid()}.link")
        link.unlink(missing_ok=True)
        link.symlink_to(os.path.relpath(snapshot, self.published.parent))
        os.replace(link, self.published)
        for old in sorted(snapshots.glob("*.duckdb"))[:-_KEEP_SNAPSHOTS]:
            old.unlink(missing_ok=True)      # open readers keep theirs until they finish
        return time.perf_counter() - started

    # -- reading ---------------------------------------------------------------------------
    def reading(self) -> contextlib.AbstractContextManager[duckdb.DuckDBPyConnection]:
        """A read-only cursor on the published snapshot, layers on the search path."""
        return _cursor(_readers.current(self.published))

    def query(self, sql: str, params: Sequence[object] | dict | None = None):
        """Run a query on the published snapshot and return a pandas DataFrame via Arrow."""
        import duckdb

        with self.reading() as con:
            try:
                arrow = con.sql(sql, params=params).to_arrow_table()
            except (duckdb.PermissionException, duckdb.InvalidInputException) as error:
                refused = _refusal(error)
                if refused is None:
                    raise
                raise refused from None
        return arrow.to_pandas()

    def catalogue(self) -> list[TableInfo]:
        """Every user-visible table and view, marts first, with row counts for tables."""
        with self.reading() as con:
            infos = []
            for schema, name, kind, columns in _relations(con):
                count = (con.execute(f"select count(*) from {quote(schema)}.{quote(name)}")
                         .fetchone()[0] if kind == "table" else None)
                infos.append(TableInfo(schema, name, kind, count, columns))
        return infos

    def table(self, name: str):
        """The whole table (or view) ``name`` as a pandas DataFrame, moved through Arrow."""
        snapshot = _readers.current(self.published)
        with _cursor(snapshot) as con:
            if snapshot.relations is None:      # a snapshot never changes: list it once
                snapshot.relations = _relations(con)
            relation = resolve(con, name, known=snapshot.relations)
            arrow = con.sql(f"select * from {relation}").to_arrow_table()
        return arrow.to_pandas()


@dataclass
class _Snapshot:
    path: str                               # the real file behind the link
    connection: duckdb.DuckDBPyConnection   # read-only, shared by this process
    search_path: str                        # layers, so SQL can name tables bare
    relations: list | None = None           # _relations(), filled on first use


class _Readers:
    """One read-only connection per published snapshot for the whole process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: dict[Path, _Snapshot] = {}     # published link -> its current snapshot

    def current(self, published: Path) -> _Snapshot:
        try:
            real = os.path.realpath(published, strict=True)
        except OSError:
            raise ConfigError(
                f"nothing published yet at {published}: run wb.run() (or `workbench run`) "
                f"to load and build the warehouse first.", path=str(published)) from None
        with self._lock:
            snapshot = self._open.get(published)
            if snapshot is None or snapshot.path != real:
                if snapshot is not None:
                    snapshot.connection.close()
                import duckdb

                connection = duckdb.connect(real, read_only=True, config=READER_CONFIG)
                snapshot = _Snapshot(real, connection, _layers(connection))
                self._open[published] = snapshot
            return snapshot


_readers = _Readers()


@contextlib.contextmanager
def _cursor(snapshot: _Snapshot) -> Iterator[duckdb.DuckDBPyConnection]:
    cursor = snapshot.connection.cursor()
    try:
        cursor.execute("set search_path = " + _literal(snapshot.search_path))
        yield cursor
    finally:
        cursor.close()


def _refusal(error: Exception) -> QueryRefused | None:
    """``QueryRefused`` for what a reader may not do (touch a file, ATTACH, change a
    setting, write the snapshot); None for any other error, which stays DuckDB's own."""
    text = str(error)
    if "file system operations are disabled" in text:
        what = text.split("Cannot access", 1)[-1].split(" - ", 1)[0].strip()
        reason = (f"it would access {what}: queries read only the warehouse (no COPY ... TO, "
                  f"no read_csv/read_parquet of files, no ATTACH). Load files through a "
                  f"source in workbench.toml; write them from an action")
    elif "configuration has been locked" in text:
        reason = "reader settings are locked: queries cannot change what they may access"
    elif "read-only mode" in text:
        reason = ("the published warehouse is read-only: change tables through dbt models, "
                  "steps or sources, not wb.sql")
    else:
        return None
    return QueryRefused(f"query refused: {reason}. ({text.splitlines()[0]})", reason=reason)


def _layers(con: duckdb.DuckDBPyConnection) -> str:
    """The search path that lets SQL name tables bare (``from user_engagement``), marts
    first, as wb.table() resolves them; metadata schemas (``_workbench``, ...) stay off it.
    DuckDB refuses a search_path naming a schema that does not exist, so list what exists."""
    have = {s for s, in con.execute(
        "select schema_name from information_schema.schemata "
        "where catalog_name = current_database()").fetchall()}
    path = [s for s in ("main", *_LAYER_ORDER) if s in have]
    path += sorted(s for s in have - set(path) if not _hidden(s))
    return ",".join(path)


def _relations(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str, str, int]]:
    """(schema, name, "table"|"view", columns) of every user relation, marts first:
    metadata schemas, whose names start with ``_``, are not the user's."""
    rows = con.execute(
        """
        select t.table_schema, t.table_name,
               case when t.table_type = 'BASE TABLE' then 'table' else 'view' end,
               (select count(*) from information_schema.columns c
                where c.table_schema = t.table_schema and c.table_name = t.table_name)
        from information_schema.tables t
        where t.table_catalog = current_database()
        """).fetchall()
    order = {layer: i for i, layer in enumerate(_LAYER_ORDER)}
    return sorted((r for r in rows if not _hidden(r[0])),
                  key=lambda r: (order.get(r[0], len(order)), r[0], r[1]))


def _hidden(schema: str) -> bool:
    """Metadata (``_workbench``, the sample app's ``_community``, ...) and DuckDB's own."""
    return schema.startswith("_") or schema in _SYSTEM_SCHEMAS


def resolve(con: duckdb.DuckDBPyConnection, name: str, known: list | None = None) -> str:
    """Turn a user's table name into a quoted ``schema.table``, never splicing raw input.

    ``name`` is ``table`` or ``schema.table``; each part must be a plain identifier and must
    exist. A bare name found in several schemas prefers marts, then staging, seeds and raw.
    """
    known = _relations(con) if known is None else known
    parts = name.split(".") if isinstance(name, str) else []
    if not parts or len(parts) > 2 or not all(IDENTIFIER.match(p) for p in parts):
        raise _not_found(name, known, reason="is not a plain table name")
    for schema, table, _, _ in known:  # ordered marts first
        if (schema, table) == tuple(parts) or (len(parts) == 1 and table == parts[0]):
            return f"{quote(schema)}.{quote(table)}"
    raise _not_found(name, known)


def _not_found(name: object, known, reason: str = "") -> TableNotFoundError:
    candidates = sorted({r[1] for r in known} | {f"{r[0]}.{r[1]}" for r in known})
    close = difflib.get_close_matches(str(name), candidates, n=3, cutoff=0.6)
    # one suggestion per table: drop "marts.x" when "x" is suggested too
    close = [c for c in close if not ("." in c and c.split(".", 1)[1] in close)]
    hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    what = f"{name!r} {reason}" if reason else f"no table {name!r}"
    return TableNotFoundError(f"{what}.{hint} See wb.tables() for what exists.",
                              table=str(name), matches=close)


def quote(identifier: str) -> str:
    """A DuckDB identifier in double quotes, quotes inside doubled."""
    return '"' + identifier.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
