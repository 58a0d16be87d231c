"""Watch the landing folder and report each file once it is complete.

File-system events tell the watcher *when* to look (``watchdog``: inotify on Linux, FSEvents
on macOS, ...); a listing of each source's files with the project's globs tells it *what* is
there (the same rules as the loaders: hidden and partial files such as ``*.part`` or ``*.tmp``
are skipped). A file is complete, and ``on_arrival`` is called once for that (path, size,
mtime), when either

* the writer said so: it was renamed into place (``*.part`` -> ``*.parquet``, a move into the
  folder) or closed after writing (inotify's close-write), noticed within milliseconds; or
* it stayed the same size and modification time for ``stable_polls`` listings ``interval``
  apart: the rule for writers that keep a file open and write it in place, and the only rule
  where no events come (network mounts and container volumes, where inotify is unreliable,
  or ``events=False``).

Without events the folder is listed every ``interval``; with them, every ``interval`` only
while a file is still being written, and otherwise every ``safety_interval`` (a safety net
for lost events). A file that changes later is reported again; one deleted is forgotten.
"""

from __future__ import annotations

import logging
import threading
import time
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


def landing_files(config: WorkbenchConfig) -> Iterable[tuple[str, Path, str, int, int]]:
    """Every landing file under a source's glob, by the loaders' rules: (source, absolute
    path, path relative to the landing folder, size, mtime_ns). The watcher lists these, and
    the service's catch-up compares them with what the warehouse has seen."""
    landing = config.landing
    if not landing.is_dir():
        return
    for source in config.sources:
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


class LandingWatcher:
    """Watches ``config.landing`` and calls ``on_arrival`` once per complete new file.

    ``known`` maps (source, relative path) to the (size, mtime_ns) already handled (what
    the warehouse has loaded), so files loaded before the watcher started are not reported;
    any other file present at start is reported once it is stable, which is how files that
    arrived while nothing was watching get loaded.
    """

    def __init__(self, config: WorkbenchConfig, on_arrival: Callable[[Arrival], None], *,
                 interval: float = 0.5, stable_polls: int = 2,
                 known: dict[tuple[str, str], tuple[int, int]] | None = None,
                 events: bool = True, safety_interval: float = 10.0) -> None:
        self.config = config
        self.on_arrival = on_arrival
        self.interval = interval
        self.stable_polls = stable_polls
        self.events = events
        self.safety_interval = safety_interval
        self._emitted: dict[tuple[str, str], tuple[int, int]] = dict(known or {})
        self._last: dict[tuple[str, str], tuple[int, int]] = {}
        self._unchanged: dict[tuple[str, str], int] = {}
        self._finished: set[str] = set()     # paths renamed into place or closed after writing
        self._finished_lock = threading.Lock()
        self._wake = threading.Event()
        self._observer = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    @property
    def using_events(self) -> bool:
        """True while file-system events drive the watcher (else it polls)."""
        return self._observer is not None

    # -- one look ------------------------------------------------------------------------------
    def poll(self) -> list[Arrival]:
        """Look once; report (and return) the files that just became complete."""
        with self._finished_lock:
            finished, self._finished = self._finished, set()
        arrivals = []
        present = set()
        for source, path, relative, size, mtime_ns in landing_files(self.config):
            key = (source, relative)
            present.add(key)
            stat = (size, mtime_ns)
            if self._last.get(key) == stat:
                self._unchanged[key] = self._unchanged.get(key, 0) + 1
            else:
                self._last[key] = stat
                self._unchanged[key] = 0
            complete = self._unchanged[key] >= self.stable_polls or str(path) in finished
            if complete and self._emitted.get(key) != stat:
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
                # Report it again on a later look rather than losing it.
                self._emitted.pop((arrival.source, arrival.relative), None)
                log.exception("could not report %s", arrival.relative)
        return arrivals

    def _writing(self) -> bool:
        """Some file is seen but not yet reported: look again soon."""
        return any(self._emitted.get(key) != stat for key, stat in self._last.items())

    # -- file-system events --------------------------------------------------------------------
    def _on_event(self, event) -> None:
        """Called in watchdog's thread: note a finished file, wake the watcher's thread."""
        kind = event.event_type
        if kind in ("modified", "opened", "closed_no_write"):
            return      # a file being written is followed by the listing every `interval`
        if kind in ("closed", "moved") and not event.is_directory:
            with self._finished_lock:
                self._finished.add(event.dest_path if kind == "moved" else event.src_path)
        self._wake.set()    # created, closed, moved, deleted, events lost: look now

    def _start_events(self) -> None:
        """Subscribe to the landing folder's events; stay on polling when that fails."""
        if not self.events or not self.config.landing.is_dir():
            return
        try:
            from watchdog.events import FileSystemEventHandler
            from watchdog.observers import Observer

            handler = FileSystemEventHandler()
            handler.dispatch = self._on_event
            observer = Observer()
            observer.schedule(handler, str(self.config.landing), recursive=True)
            observer.daemon = True
            observer.start()
        except Exception as error:   # no inotify (limits reached, unsupported filesystem)
            log.warning("no file-system events for %s (%s); polling every %.1fs",
                        self.config.landing, error, self.interval)
            return
        self._observer = observer

    def _stop_events(self) -> None:
        observer, self._observer = self._observer, None
        if observer is not None:
            observer.stop()
            observer.join(5)

    # -- in a thread ---------------------------------------------------------------------------
    def run(self, stop: threading.Event | None = None) -> None:
        """Watch until ``stop`` (or ``self.stop()``) is set."""
        stop = stop or self._stop
        if self._observer is None:
            self._start_events()
        try:
            while not (stop.is_set() or self._stop.is_set()):
                try:
                    self.poll()
                except Exception:
                    log.exception("landing watcher listing failed; trying again")
                quiet = self.using_events and not self._writing()
                self._sleep(self.safety_interval if quiet else self.interval, stop)
        finally:
            self._stop_events()

    def _sleep(self, seconds: float, stop: threading.Event) -> None:
        """Until ``seconds`` pass, an event wakes us or we are stopped (by either event)."""
        deadline = time.monotonic() + seconds
        while not (self._wake.is_set() or stop.is_set() or self._stop.is_set()):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self._wake.wait(min(left, 0.25))
        self._wake.clear()

    def start(self) -> LandingWatcher:
        """Subscribe to events (so ``using_events`` is known on return), then watch in a
        thread of its own."""
        self._start_events()
        self._thread = threading.Thread(target=self.run, name="workbench-landing-watcher",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
