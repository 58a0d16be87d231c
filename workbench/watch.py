"""Watch the landing folder and report each file once it is complete.

A polling loop, on purpose: it behaves the same on every filesystem (network mounts and
container volumes included, where inotify events are unreliable) and needs no dependency.
Every ``interval`` seconds it lists each source's files with the project's globs (the same
rules as the loaders: hidden and partial files such as ``*.part`` or ``*.tmp`` are skipped).
A file counts as complete when its size and modification time have not changed for
``stable_polls`` polls in a row; then ``on_arrival`` is called once for that (path, size,
mtime). A file that changes later is reported again; one that is deleted is forgotten.

Writers should still write under a temporary name and rename (the loaders skip ``*.part``),
since a writer that pauses longer than ``interval * stable_polls`` looks finished.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from .config import WorkbenchConfig
from .loaders.scan import is_landing_file

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Arrival:
    """A complete new or changed file under a source's glob."""

    source: str
    path: Path          # absolute
    relative: str       # to the landing folder, as the loaders record it
    size: int
    mtime_ns: int


class LandingWatcher:
    """Polls ``config.landing`` and calls ``on_arrival`` once per complete new file.

    ``known`` maps (source, relative path) to the (size, mtime_ns) already handled (e.g. what
    the warehouse has loaded), so files loaded before the watcher started are not reported;
    any other file present at start is reported once it is stable, which is how files that
    arrived while nothing was watching get loaded.
    """

    def __init__(self, config: WorkbenchConfig, on_arrival: Callable[[Arrival], None], *,
                 interval: float = 0.5, stable_polls: int = 2,
                 known: dict[tuple[str, str], tuple[int, int]] | None = None) -> None:
        self.config = config
        self.on_arrival = on_arrival
        self.interval = interval
        self.stable_polls = stable_polls
        self._emitted: dict[tuple[str, str], tuple[int, int]] = dict(known or {})
        self._last: dict[tuple[str, str], tuple[int, int]] = {}
        self._unchanged: dict[tuple[str, str], int] = {}
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    # -- one poll ------------------------------------------------------------------------------
    def poll(self) -> list[Arrival]:
        """Look once; report (and return) the files that just became complete."""
        arrivals = []
        present = set()
        for source, path, relative, size, mtime_ns in self._files():
            key = (source, relative)
            present.add(key)
            stat = (size, mtime_ns)
            if self._last.get(key) == stat:
                self._unchanged[key] = self._unchanged.get(key, 0) + 1
            else:
                self._last[key] = stat
                self._unchanged[key] = 0
            if self._unchanged[key] >= self.stable_polls and self._emitted.get(key) != stat:
                self._emitted[key] = stat
                arrivals.append(Arrival(source, path, relative, size, mtime_ns))
        for key in set(self._last) - present:    # deleted: a file put back is new again
            self._last.pop(key, None)
            self._unchanged.pop(key, None)
            self._emitted.pop(key, None)
        for arrival in arrivals:
            try:
                self.on_arrival(arrival)
            except Exception:
                # Report it again on a later poll rather than losing it.
                self._emitted.pop((arrival.source, arrival.relative), None)
                log.exception("could not report %s", arrival.relative)
        return arrivals

    def _files(self) -> Iterable[tuple[str, Path, str, int, int]]:
        landing = self.config.landing
        if not landing.is_dir():
            return
        for source in self.config.sources:
            for path in landing.glob(source.path):
                if not is_landing_file(path):
                    continue
                try:
                    if not path.is_file():
                        continue
                    stat = path.stat()
                except OSError:      # renamed or deleted while we looked
                    continue
                yield (source.name, path, path.relative_to(landing).as_posix(),
                       stat.st_size, stat.st_mtime_ns)

    # -- in a thread ---------------------------------------------------------------------------
    def run(self, stop: threading.Event | None = None) -> None:
        """Poll until ``stop`` (or ``self.stop()``) is set."""
        stop = stop or self._stop
        while not (stop.is_set() or self._stop.is_set()):
            try:
                self.poll()
            except Exception:
                log.exception("landing watcher poll failed; trying again")
            stop.wait(self.interval)

    def start(self) -> LandingWatcher:
        self._thread = threading.Thread(target=self.run, name="workbench-landing-watcher",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
