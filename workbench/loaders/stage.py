"""Stage a source's new files before taking the write lock.

Reading is the slow part of a load: parsing a big CSV, a custom reader that fetches or
decodes. Under ``workbench serve`` each source's load is its own flow run, and runs take the
warehouse's write lock in turn; if a slow source read its files under the lock, every other
source's load and build would queue behind it. So the load flow first reads each new or
changed file on a DuckDB connection of its own (no lock, no warehouse file) into a Parquet
copy under ``.workbench/staging/<source>/``; the load under the lock then inserts from that
copy, which takes a fraction of the time.

A staged copy is named by the file's path and by how it was read (size, modification time,
column types, format, options, reader), so a file changed since, or one the load would now read
with other types (a new source's second file, a table being rebuilt), is read afresh. A load
deletes the copies of the files it read, whether it commits or fails.
Staging never decides anything: a file that cannot be read is left unstaged, and the load
under the lock reads it again and reports the error as always (file and line, recorded as
rejected).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import hashlib
import json
import logging
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock

from ..config import SourceConfig, WorkbenchConfig
from ..errors import ConfigError
from ..warehouse import Warehouse
from .read import column_types, reader_sql, select_columns
from .scan import LandingFile, scan

if TYPE_CHECKING:
    import duckdb

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Staged:
    """What ``stage_source`` did for one source."""

    source: str
    files: tuple[str, ...]      # landing paths now staged
    failed: tuple[str, ...]     # left for the load to read (and report) itself
    seconds: float


def staged_copy(config: WorkbenchConfig, source: SourceConfig, file: LandingFile,
                types: dict[str, str] | None) -> Path | None:
    """The staged Parquet copy of ``file`` as it is now, read as the load would read it now
    (same column types, format, options and reader), if there is one."""
    path = _path(config, source, file, types)
    return path if path.exists() else None


def discard_staged(config: WorkbenchConfig, source: str, files: Iterable[LandingFile]) -> None:
    """Delete every staged copy of these files, whatever version of them it holds."""
    for file in files:
        for copy in _folder(config, source).glob(f"{_name_key(file)}-*.parquet"):
            copy.unlink(missing_ok=True)


def stage_source(config: WorkbenchConfig, name: str) -> Staged:
    """Read the source's new or changed files (against the published warehouse) into
    staged Parquet copies; takes no warehouse lock and opens the warehouse only read-only.

    Two flows staging the same source take turns (a lock of the staging folder's own): the
    second finds the copies made and reads nothing again."""
    started = time.perf_counter()
    source = config.source(name)
    if source.on_bad_rows == "quarantine":      # its rejects are kept by the load itself
        return Staged(name, (), (), time.perf_counter() - started)
    try:
        with Warehouse(config.warehouse, config.published).reading() as published:
            found = scan(published, config, source)
            types = column_types(published, config.raw_schema, source.name)
    except ConfigError:         # nothing published yet: the first load reads directly
        return Staged(name, (), (), time.perf_counter() - started)
    folder = _folder(config, name)
    folder.mkdir(parents=True, exist_ok=True)
    staged, failed = [], []
    import duckdb

    with FileLock(str(folder / ".lock")), duckdb.connect() as con:
        con.execute("set enable_progress_bar = false")   # a notebook shows no bare widget
        wanted = {_path(config, source, f, types) for f in found.changed if not f.error}
        for old in folder.glob("[!.]*.parquet"):
            if old not in wanted:           # an earlier version of a file, or loaded since
                old.unlink(missing_ok=True)
        for file in found.changed:
            if file.error:                  # unreadable: the load reports it
                failed.append(file.relative)
                continue
            target = _path(config, source, file, types)
            if not target.exists() and not _stage(con, config, source, file, types, target):
                failed.append(file.relative)
            else:
                staged.append(file.relative)
    return Staged(name, tuple(staged), tuple(failed), time.perf_counter() - started)


def _stage(con: duckdb.DuckDBPyConnection, config: WorkbenchConfig, source: SourceConfig,
           file: LandingFile, types: dict[str, str] | None, target: Path) -> bool:
    partial = target.with_name(f".{target.stem}.{os.getpid()}.parquet")
    try:
        reading, sniffing, params = reader_sql(con, f"_staging_{source.name}", source, file,
                                               types, config)
        described = con.execute(f"describe select * from {sniffing}", params).fetchall()
        con.sql(f"select {select_columns(described)} from {reading}",
                params=params).to_parquet(str(partial))
        os.replace(partial, target)
        return True
    except Exception as error:      # the load will read it again and say why
        partial.unlink(missing_ok=True)
        log.warning("could not stage %s (%s); it will be read under the lock",
                    file.relative, error)
        return False


def _folder(config: WorkbenchConfig, source: str) -> Path:
    return config.state_dir / "staging" / source


def _path(config: WorkbenchConfig, source: SourceConfig, file: LandingFile,
          types: dict[str, str] | None) -> Path:
    """``<file's name key>-<how it was read>.parquet``: a copy made from another version of
    the file, or read with other column types or reader settings, is never used."""
    how = json.dumps([file.size, file.mtime_ns, source.format, source.options, source.reader,
                      types], sort_keys=True, default=str)
    version = hashlib.sha256(how.encode()).hexdigest()[:24]
    return _folder(config, source.name) / f"{_name_key(file)}-{version}.parquet"


def _name_key(file: LandingFile) -> str:
    return hashlib.sha256(file.relative.encode()).hexdigest()[:24]
