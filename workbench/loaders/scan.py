"""Which landing files are new, changed or removed since they were last loaded.

A file is unchanged if its size and modification time match the last successful load;
otherwise its SHA-256 decides, so touching or copying a file back does not reload it. A file
loaded before and no longer found is *removed*: the load retracts its rows.

A matching entry that cannot be read is never fatal to the scan (which covers every source
of a run): it is returned as a changed file with ``error`` set, and only its own source's
load fails on it. That covers a file without read permission, a dangling symbolic link, a
FIFO or device, and a link that leads out of the landing folder (refused: a source reads
only what is under the landing folder, as its glob does; see ``config._require_confined``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import hashlib
import os
from dataclasses import dataclass, replace
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
    error: str | None = None    # why it cannot be read; the load rejects it with this


@dataclass(frozen=True)
class SourceScan:
    """The state of one source's files against what the warehouse already holds."""

    source: SourceConfig
    files: tuple[LandingFile, ...]      # every current file, sorted
    changed: tuple[LandingFile, ...]    # new or changed content, with sha256 set
    touched: tuple[LandingFile, ...]    # same content, new mtime: only metadata to refresh
    removed: tuple[LandingFile, ...] = ()   # loaded before, gone now: as last loaded

    @property
    def pending(self) -> bool:
        """Whether the load has anything to do: load, refresh metadata or retract."""
        return bool(self.changed or self.touched or self.removed)


def is_landing_file(path: Path) -> bool:
    """False for hidden files and files still being written under a temporary name."""
    return not (path.name.startswith(".") or path.name.endswith(_IGNORED_SUFFIXES))


def discover(config: WorkbenchConfig, source: SourceConfig) -> list[LandingFile]:
    """The files matching a source's glob, in name order; hidden and partial files skipped,
    and each entry that cannot be read returned with ``error`` set (see the module)."""
    if not config.landing.is_dir():
        raise ConfigError(
            f"landing folder {config.landing} does not exist. Create it and put each source's "
            f"files in a subfolder (e.g. {config.landing / source.name}), or run "
            f"`workbench demo-data` for the sample company.", path=str(config.landing))
    landing = config.landing.resolve()
    found = []
    for path in sorted(config.landing.glob(source.path)):
        if not is_landing_file(path) or path.is_dir():     # a folder the glob matched
            continue
        try:
            error = _unreadable(path, landing)
            stat = path.stat() if error is None else path.lstat()
        except FileNotFoundError:       # removed while we looked: not there
            continue
        found.append(LandingFile(path, path.relative_to(config.landing).as_posix(),
                                 stat.st_size, stat.st_mtime_ns, error=error))
    return found


def glob_folder(config: WorkbenchConfig, source: SourceConfig) -> Path:
    """The deepest folder a source's glob names literally (``events`` for
    ``events/*.parquet``): where its files live."""
    parts = []
    for part in Path(source.path).parts[:-1]:
        if any(c in part for c in "*?[{"):
            break
        parts.append(part)
    return config.landing.joinpath(*parts)


def _unreadable(path: Path, landing: Path) -> str | None:
    """Why ``path`` cannot be loaded, or None if it is a regular file inside ``landing``."""
    try:
        real = path.resolve(strict=True)
    except FileNotFoundError:
        if not path.is_symlink():
            raise
        return f"a symbolic link to {os.readlink(path)}, which does not exist"
    except (OSError, RuntimeError) as error:        # a loop of links, a permission
        return f"cannot be followed: {error}"
    if not real.is_relative_to(landing):
        return (f"a link to {real}, outside the landing folder {landing}: refused (a source "
                f"reads only files under the landing folder; copy the file there instead)")
    if not real.is_file():
        return "not a regular file (a FIFO, socket or device): nothing to read"
    return None


def scan(con: duckdb.DuckDBPyConnection, config: WorkbenchConfig, source: SourceConfig,
         *, full_refresh: bool = False) -> SourceScan:
    """Compare a source's files with its last successful loads recorded in the warehouse."""
    files = discover(config, source)
    loaded = ledger.loaded_files(con, source.name)
    changed, touched = [], []
    for file in files:
        previous = loaded.get(file.relative)
        if file.error is None and not full_refresh and previous and (
                previous.size, previous.mtime_ns) == (file.size, file.mtime_ns):
            continue
        hashed = file if file.error else _hashed(file)
        if hashed is None:              # removed between the listing and the hash
            continue
        if not hashed.error and not full_refresh and previous and \
                previous.sha256 == hashed.sha256:
            touched.append(hashed)
        else:
            changed.append(hashed)
    present = {f.relative for f in files}
    removed = tuple(LandingFile(config.landing / path, path, last.size, last.mtime_ns,
                                last.sha256) for path, last in sorted(loaded.items())
                    if path not in present)
    return SourceScan(source, tuple(files), tuple(changed), tuple(touched), removed)


def _hashed(file: LandingFile) -> LandingFile | None:
    """``file`` with its SHA-256; with ``error`` if it cannot be read (no permission, an
    I/O error); None if it was removed meanwhile."""
    try:
        digest = sha256_of(file.path)
    except FileNotFoundError:
        return None
    except OSError as error:
        return replace(file, error=f"cannot be read: {error.strerror or error}")
    return replace(file, sha256=digest)


def sha256_of(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()
