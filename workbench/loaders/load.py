"""Load one source's new or changed files into ``raw.<source>``, all or nothing.

Every row gets ``_loaded_at`` (UTC) and ``_source_file`` (path under the landing folder).
In append mode a changed file replaces the rows it brought last time; in replace mode the
table is rebuilt from all current files. Either way one transaction covers the source: if
any file fails, the table and the load records stay exactly as they were, the failure is
recorded in the ledger's files with status ``rejected``, and a SourceError names the file
(and the line, when DuckDB reports one).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import re
import time
from dataclasses import replace
from datetime import datetime


from .. import ledger
from ..config import SourceConfig, WorkbenchConfig
from ..errors import SourceError
from ..results import NodeResult
from ..warehouse import quote
from .read import LINEAGE_COLUMNS, column_types, reader_sql, select_columns
from .scan import LandingFile, SourceScan
from .sql import exact_path
from .stage import discard_staged, staged_copy

if TYPE_CHECKING:
    import duckdb

_LINE = re.compile(r"\b[Ll]ine:?\s+(\d+)")


def load_source(con: duckdb.DuckDBPyConnection, config: WorkbenchConfig, scan: SourceScan,
                *, run_id: str, loaded_at: datetime, full_refresh: bool = False) -> NodeResult:
    """Load what ``scan`` found new or changed; return the source's NodeResult."""
    source = scan.source
    started = time.perf_counter()
    _record(con, source, scan.touched, run_id, loaded_at, rows=None, status="loaded",
            message="unchanged content; metadata refreshed")
    if not scan.changed:
        return replace(unchanged(config, scan), seconds=time.perf_counter() - started)
    rebuild = source.mode == "replace" or full_refresh
    files = _with_hashes(scan) if rebuild else scan.changed
    table = f"{quote(config.raw_schema)}.{quote(source.name)}"
    view = f"_incoming_{source.name}"   # one per source: loads run concurrently
    current: LandingFile | None = None
    con.begin()
    try:
        con.execute(f"create schema if not exists {quote(config.raw_schema)}")
        if rebuild:
            con.execute(f"drop table if exists {table}")
        types = column_types(con, config.raw_schema, source.name)
        counts = {}
        for current in files:
            counts[current.relative] = _load_file(con, table, view, source, current, types,
                                                  loaded_at, replace_rows=not rebuild,
                                                  config=config)
            types = types or column_types(con, config.raw_schema, source.name)
        for file in files:
            _record(con, source, [file], run_id, loaded_at, rows=counts[file.relative],
                    status="loaded", message=None)
        ledger.source_loaded(con, source.name, loaded_at)
        con.commit()
    except Exception as exc:
        con.rollback()
        error = _as_source_error(exc, source, current)
        _record(con, source, [current] if current else [], run_id, loaded_at, rows=None,
                status="rejected", message=str(error))
        raise error from exc
    finally:
        con.execute(f"drop view if exists {view}")
        discard_staged(config, source.name, files)
    total = sum(counts.values())
    return NodeResult(source.name, "source", "success", time.perf_counter() - started,
                      rows=total, relation=_relation(config, source),
                      metrics={"files": len(files)},
                      message=f"{len(files)} file(s), {total:,} rows"
                              + (" (table rebuilt)" if rebuild else ""))


def unchanged(config: WorkbenchConfig, scan: SourceScan) -> NodeResult:
    """The result of a source with nothing new to load."""
    return NodeResult(scan.source.name, "source", "skipped", message="no new or changed files",
                      relation=_relation(config, scan.source))


def _load_file(con, table: str, view: str, source: SourceConfig, file: LandingFile,
               types: dict[str, str] | None, loaded_at: datetime, *, replace_rows: bool,
               config: WorkbenchConfig) -> int:
    staged = staged_copy(config, source, file, types)
    if staged is not None:      # read outside the write lock already (see stage.py)
        reading = sniffing = "read_parquet(?)"
        params = [exact_path(str(staged))]
    else:
        reading, sniffing, params = reader_sql(con, view, source, file, types, config)
    described = con.execute(f"describe select * from {sniffing}", params).fetchall()
    if types is not None:
        _check_columns(source, file, [row[0] for row in described], types, table)
    columns = "*" if types is not None else select_columns(described)
    lineage = (f"select {columns}, ?::timestamp as _loaded_at, "
               f"?::varchar as _source_file from {reading}")
    params = [loaded_at, file.relative, *params]    # in text order: select list first
    if types is None:
        con.execute(f"create table {table} as {lineage}", params)
        return con.execute(f"select count(*) from {table}").fetchone()[0]
    if replace_rows:
        con.execute(f"delete from {table} where _source_file = ?", [file.relative])
    return con.execute(f"insert into {table} by name {lineage}", params).fetchone()[0]


def _check_columns(source: SourceConfig, file: LandingFile, columns: list[str],
                   types: dict[str, str], table: str) -> None:
    expected = [c for c in types if c not in LINEAGE_COLUMNS]
    missing = [c for c in expected if c not in columns]
    unexpected = [c for c in columns if c not in expected]
    if missing or unexpected:
        detail = "; ".join(part for part in (
            f"missing {missing}" if missing else "",
            f"unexpected {unexpected}" if unexpected else "") if part)
        raise SourceError(
            f"{file.relative}: columns do not match {table}: {detail}. If the export format "
            f"changed on purpose, set mode = 'replace' for [sources.{source.name}] (or run "
            f"with full_refresh) so the table is rebuilt from all files.",
            source=source.name, file=file.relative)


def _with_hashes(scan: SourceScan) -> tuple[LandingFile, ...]:
    from .scan import sha256_of

    known = {f.relative: f for f in (*scan.changed, *scan.touched)}
    return tuple(known.get(f.relative) or LandingFile(
        f.path, f.relative, f.size, f.mtime_ns, sha256_of(f.path)) for f in scan.files)


def _record(con, source: SourceConfig, files, run_id: str, loaded_at: datetime, *,
            rows: int | None, status: str, message: str | None) -> None:
    ledger.record_files(con, source.name, files, run_id=run_id, loaded_at=loaded_at,
                        rows=rows, status=status, message=message)


def _as_source_error(exc: Exception, source: SourceConfig,
                     file: LandingFile | None) -> SourceError:
    if isinstance(exc, SourceError):
        return exc
    where = file.relative if file else f"source {source.name!r}"
    text = str(exc).strip()
    line = _LINE.search(text)
    first = text.splitlines()[0] if text else type(exc).__name__
    return SourceError(
        f"{where}: could not be read as {source.format}"
        + (f" (line {line[1]})" if line else "") + f": {first}\n{text}\n"
        f"Fix or remove the file; the warehouse was left as it was for source "
        f"{source.name!r}.", source=source.name, file=file.relative if file else None,
        row=int(line[1]) if line else None)


def _relation(config: WorkbenchConfig, source: SourceConfig) -> str:
    return f"{config.raw_schema}.{source.name}"
