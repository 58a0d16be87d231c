"""Load one source's new or changed files into ``raw.<source>``, all or nothing.

Every row gets ``_loaded_at`` (UTC) and ``_source_file`` (path under the landing folder).
In append mode a changed file replaces the rows it brought last time, and a file removed
from landing has its rows retracted; in replace mode the table is rebuilt from all current
files. Either way one transaction covers the source: if any file fails, the table and the
load records stay exactly as they were, the failure is recorded in the ledger's files with
status ``rejected``, and a SourceError names the file (and the line: ``messages``).
A file that cannot be read at all (see ``scan``) fails its source the same way, before any
reading.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import time
from dataclasses import replace
from datetime import datetime

from .. import ledger
from ..config import SourceConfig, WorkbenchConfig
from ..errors import SourceError
from ..results import NodeResult
from ..warehouse import quote
from . import quarantine
from .messages import columns_differ, read_failed
from .read import LINEAGE_COLUMNS, column_types, reader_sql, select_columns
from .scan import LandingFile, SourceScan, glob_folder
from .sql import exact_path
from .stage import discard_staged, staged_copy

if TYPE_CHECKING:
    import duckdb


def load_source(con: duckdb.DuckDBPyConnection, config: WorkbenchConfig, scan: SourceScan,
                *, run_id: str, loaded_at: datetime, full_refresh: bool = False) -> NodeResult:
    """Load what ``scan`` found new or changed; return the source's NodeResult."""
    source = scan.source
    started = time.perf_counter()
    _record(con, source, scan.touched, run_id, loaded_at, rows=None, status="loaded",
            message="unchanged content; metadata refreshed")
    _refuse_unreadable(con, config, scan, run_id, loaded_at)
    if not scan.changed and not scan.removed:
        return replace(unchanged(config, scan), seconds=time.perf_counter() - started)
    rebuild = source.mode == "replace" or full_refresh
    files = _with_hashes(scan) if rebuild else scan.changed
    table = f"{quote(config.raw_schema)}.{quote(source.name)}"
    view = f"_incoming_{source.name}"   # one per source: loads run concurrently
    current: LandingFile | None = None
    con.begin()
    try:
        con.execute(f"create schema if not exists {quote(config.raw_schema)}")
        retracted = _retract(con, table, scan, config, rebuild=rebuild, keep=bool(files))
        types = column_types(con, config.raw_schema, source.name)
        counts, bad = {}, 0
        for current in files:
            counts[current.relative] = _load_file(con, table, view, source, current, types,
                                                  loaded_at, replace_rows=not rebuild,
                                                  config=config)
            if quarantine.quarantines(source):
                bad += quarantine.set_aside(con, source, current, run_id=run_id,
                                            loaded_at=loaded_at)
            types = types or column_types(con, config.raw_schema, source.name)
        for file in files:
            _record(con, source, [file], run_id, loaded_at, rows=counts[file.relative],
                    status="loaded", message=None)
        for file in scan.removed:
            _record(con, source, [file], run_id, loaded_at, rows=retracted.get(file.relative),
                    status="retracted", message="removed from landing: its rows retracted")
        ledger.source_loaded(con, source.name, loaded_at)
        con.commit()
    except Exception as exc:
        con.rollback()
        error = exc if isinstance(exc, SourceError) else read_failed(exc, source, current) \
            if current else SourceError(f"source {source.name!r}: {exc}", source=source.name)
        _record(con, source, [current] if current else [], run_id, loaded_at, rows=None,
                status="rejected", message=str(error))
        raise error from exc
    finally:
        con.execute(f"drop view if exists {view}")
        discard_staged(config, source.name, files)
    total = sum(counts.values())
    gone = (f"; {len(scan.removed)} removed file(s) retracted"
            + (f" ({sum(retracted.values()):,} rows)" if retracted else "")) if scan.removed else ""
    return NodeResult(source.name, "source", "success", time.perf_counter() - started,
                      rows=total, relation=_relation(config, source),
                      metrics={"files": len(files), "retracted_files": len(scan.removed),
                               "bad_rows": bad},
                      message=f"{len(files)} file(s), {total:,} rows"
                              + (" (table rebuilt)" if rebuild else "") + gone
                              + (f"; {bad:,} bad row(s) set aside in _workbench.rejects"
                                 if bad else ""))


def unchanged(config: WorkbenchConfig, scan: SourceScan) -> NodeResult:
    """The result of a source with nothing new to load."""
    return NodeResult(scan.source.name, "source", "skipped", message="no new or changed files",
                      relation=_relation(config, scan.source))


def _load_file(con, table: str, view: str, source: SourceConfig, file: LandingFile,
               types: dict[str, str] | None, loaded_at: datetime, *, replace_rows: bool,
               config: WorkbenchConfig) -> int:
    staged = None if quarantine.quarantines(source) else staged_copy(config, source, file,
                                                                     types)
    if staged is not None:      # read outside the write lock already (see stage.py)
        reading = sniffing = "read_parquet(?)"
        params = [exact_path(str(staged))]
    else:
        reader = quarantine.reading(source) if quarantine.quarantines(source) else source
        reading, sniffing, params = reader_sql(con, view, reader, file, types, config)
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
        raise columns_differ(source, file, detail, table)


def _with_hashes(scan: SourceScan) -> tuple[LandingFile, ...]:
    from .scan import sha256_of

    known = {f.relative: f for f in (*scan.changed, *scan.touched)}
    return tuple(known.get(f.relative) or LandingFile(
        f.path, f.relative, f.size, f.mtime_ns, sha256_of(f.path)) for f in scan.files)


def _record(con, source: SourceConfig, files, run_id: str, loaded_at: datetime, *,
            rows: int | None, status: str, message: str | None) -> None:
    ledger.record_files(con, source.name, files, run_id=run_id, loaded_at=loaded_at,
                        rows=rows, status=status, message=message)


def _refuse_unreadable(con, config: WorkbenchConfig, scan: SourceScan, run_id: str,
                      loaded_at: datetime) -> None:
    """Files that cannot be read at all fail the source before anything is read: each is
    recorded as rejected with its reason, and the SourceError names them."""
    source = scan.source
    bad = [f for f in scan.changed if f.error]
    if scan.removed and not scan.files and not glob_folder(config, source).is_dir():
        raise SourceError(
            f"source {source.name!r}: its folder {glob_folder(config, source)} is missing, "
            f"though {len(scan.removed)} file(s) were loaded from it; nothing was retracted "
            f"(a volume not mounted?). To empty the source on purpose, create the folder "
            f"empty.", source=source.name, file=None)
    if not bad:
        return
    for file in bad:
        _record(con, source, [file], run_id, loaded_at, rows=None, status="rejected",
                message=f"{file.relative}: {file.error}")
    others = f" (and {len(bad) - 1} more: {', '.join(f.relative for f in bad[1:])})" \
        if len(bad) > 1 else ""
    raise SourceError(
        f"{bad[0].relative}: {bad[0].error}{others}. Nothing of source {source.name!r} was "
        f"loaded; the other sources carry on. Fix or remove the file.",
        source=source.name, file=bad[0].relative)


def _retract(con, table: str, scan: SourceScan, config: WorkbenchConfig, *, rebuild: bool,
             keep: bool) -> dict[str, int]:
    """Empty the table for a rebuild (drop it when files will recreate it), or delete the
    rows of each file removed from landing; path -> rows retracted."""
    exists = column_types(con, config.raw_schema, scan.source.name) is not None
    ledger.forget_rejects(con, scan.source.name, [f.relative for f in scan.removed])
    if rebuild:
        con.execute(f"drop table if exists {table}" if keep or not exists
                    else f"delete from {table}")
        return {}
    if not exists:
        return {}
    return {file.relative: con.execute(f"delete from {table} where _source_file = ?",
                                       [file.relative]).fetchone()[0]
            for file in scan.removed}


def _relation(config: WorkbenchConfig, source: SourceConfig) -> str:
    return f"{config.raw_schema}.{source.name}"
