"""Stage a source's new files before taking the write lock.

Reading is the slow part of a load: parsing a big CSV, a custom reader that fetches or
decodes. Under ``workbench serve`` each source's load is its own flow run, and runs take the
warehouse's write lock in turn; if a slow source read its files under the lock, every other
source's load and build would queue behind it. So the load flow first reads each new or
changed file on a DuckDB connection of its own (no lock, no warehouse file) into a Parquet
copy under ``.workbench/staging/<source>/``; the load under the lock then inserts from that
copy, which takes a fraction of the time.

A staged copy is named by the file's path, size and modification time, so a file changed
since it was staged is read afresh. A load deletes the copies of the files it read, whether it
commits or fails.
Staging never decides anything: a file that cannot be read is left unstaged, and the load
under the lock reads it again and reports the error as always (file and line, recorded as
rejected).
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import duckdb

from ..config import WorkbenchConfig
from ..errors import ConfigError
from ..warehouse import Warehouse
from .read import column_types, reader_sql, select_columns
from .scan import LandingFile, scan

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Staged:
    """What ``stage_source`` did for one source."""

    source: str
    files: tuple[str, ...]      # landing paths now staged
    failed: tuple[str, ...]     # left for the load to read (and report) itself
    seconds: float


def staged_copy(config: WorkbenchConfig, source: str, file: LandingFile) -> Path | None:
    """The staged Parquet copy of ``file`` as it is now, if there is one."""
    path = _path(config, source, file)
    return path if path.exists() else None


def discard_staged(config: WorkbenchConfig, source: str, files: Iterable[LandingFile]) -> None:
    """Delete every staged copy of these files, of this version or an earlier one."""
    for file in files:
        for copy in _folder(config, source).glob(f"{_name_key(file)}-*.parquet"):
            copy.unlink(missing_ok=True)


def stage_source(config: WorkbenchConfig, name: str) -> Staged:
    """Read the source's new or changed files (against the published warehouse) into
    staged Parquet copies; takes no lock and opens the warehouse only read-only."""
    started = time.perf_counter()
    source = config.source(name)
    try:
        with Warehouse(config.warehouse, config.published).reading() as published:
            found = scan(published, config, source)
            types = column_types(published, config.raw_schema, source.name)
    except ConfigError:         # nothing published yet: the first load reads directly
        return Staged(name, (), (), time.perf_counter() - started)
    folder = _folder(config, name)
    folder.mkdir(parents=True, exist_ok=True)
    wanted = {_path(config, name, f) for f in found.changed}
    for old in folder.glob("*.parquet"):
        if old not in wanted:               # an earlier version of a file, or loaded since
            old.unlink(missing_ok=True)
    staged, failed = [], []
    with duckdb.connect() as con:
        for file in found.changed:
            target = _path(config, name, file)
            if target.exists():
                staged.append(file.relative)
                continue
            partial = target.with_name(f".{target.stem}.{os.getpid()}.parquet")
            try:
                reading, sniffing, params = reader_sql(
                    con, f"_staging_{name}", source, file, types, config)
                described = con.execute(f"describe select * from {sniffing}",
                                        params).fetchall()
                con.sql(f"select {select_columns(described)} from {reading}",
                        params=params).to_parquet(str(partial))
                os.replace(partial, target)
                staged.append(file.relative)
            except Exception as error:      # the load will read it again and say why
                partial.unlink(missing_ok=True)
                log.warning("could not stage %s (%s); it will be read under the lock",
                            file.relative, error)
                failed.append(file.relative)
    return Staged(name, tuple(staged), tuple(failed), time.perf_counter() - started)


def _folder(config: WorkbenchConfig, source: str) -> Path:
    return config.state_dir / "staging" / source


def _path(config: WorkbenchConfig, source: str, file: LandingFile) -> Path:
    return _folder(config, source) / f"{_name_key(file)}-{file.size}-{file.mtime_ns}.parquet"


def _name_key(file: LandingFile) -> str:
    return hashlib.sha256(file.relative.encode()).hexdigest()[:24]
