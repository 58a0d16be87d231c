"""Which landing files are new or changed since they were last loaded.

A file is unchanged if its size and modification time match the last successful load;
otherwise its SHA-256 decides, so touching or copying a file back does not reload it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import hashlib
from dataclasses import dataclass
from pathlib import Path


from .. import ledger
from ..config import SourceConfig, WorkbenchConfig
from ..errors import ConfigError

if TYPE_CHECKING:
    import duckdb

_IGNORED_SUFFIXES = (".tmp", ".part", ".crdownload", ".partial")


@dataclass(frozen=True)
class LandingFile:
    """A file under the landing folder, as the loader saw it."""

    path: Path          # absolute
    relative: str       # to the landing folder; stored in _source_file
    size: int
    mtime_ns: int
    sha256: str | None = None   # computed only when size or mtime changed


@dataclass(frozen=True)
class SourceScan:
    """The state of one source's files against what the warehouse already holds."""

    source: SourceConfig
    files: tuple[LandingFile, ...]      # every current file, sorted
    changed: tuple[LandingFile, ...]    # new or changed content, with sha256 set
    touched: tuple[LandingFile, ...]    # same content, new mtime: only metadata to refresh


def is_landing_file(path: Path) -> bool:
    """False for hidden files and files still being written under a temporary name."""
    return not (path.name.startswith(".") or path.name.endswith(_IGNORED_SUFFIXES))


def discover(config: WorkbenchConfig, source: SourceConfig) -> list[LandingFile]:
    """The files matching a source's glob, in name order; hidden and partial files skipped."""
    if not config.landing.is_dir():
        raise ConfigError(
            f"landing folder {config.landing} does not exist. Create it and put each source's "
            f"files in a subfolder (e.g. {config.landing / source.name}), or run "
            f"`workbench demo-data` for the sample company.", path=str(config.landing))
    found = []
    for path in sorted(config.landing.glob(source.path)):
        if not path.is_file() or not is_landing_file(path):
            continue
        stat = path.stat()
        found.append(LandingFile(path, path.relative_to(config.landing).as_posix(),
                                 stat.st_size, stat.st_mtime_ns))
    return found


def scan(con: duckdb.DuckDBPyConnection, config: WorkbenchConfig, source: SourceConfig,
         *, full_refresh: bool = False) -> SourceScan:
    """Compare a source's files with its last successful loads recorded in the warehouse."""
    files = discover(config, source)
    loaded = ledger.loaded_files(con, source.name)
    changed, touched = [], []
    for file in files:
        previous = loaded.get(file.relative)
        if not full_refresh and previous and (previous.size, previous.mtime_ns) == (
                file.size, file.mtime_ns):
            continue
        hashed = LandingFile(file.path, file.relative, file.size, file.mtime_ns,
                             sha256_of(file.path))
        if not full_refresh and previous and previous.sha256 == hashed.sha256:
            touched.append(hashed)
        else:
            changed.append(hashed)
    return SourceScan(source, tuple(files), tuple(changed), tuple(touched))


def sha256_of(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()
