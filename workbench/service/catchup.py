"""Serve by state, not only by events: what the warehouse says is left to do.

An event can be lost: the server answered 503, serve was killed between a load and its
build, a batch failed. The ledger cannot be: ``pending(config)`` compares the landing folder
with every file the warehouse has recorded (loaded or rejected: either way that file needs
no new load) and lists the sources whose data is newer than their last build
(``data_version > built_version``). ``CatchUp`` asks it when serving starts, every
``freshness_every`` on a fixed anchor (restarts do not move it), and soon after a failure,
and hands each source with work left to ``request``: the queue arrivals go to, so a source
still has one run at a time and a catch-up merges with arrivals.

``Work.key`` is the idempotency key of that work: the source, its files not yet loaded
(path, size, mtime) and its data version. A retried or duplicated trigger finds the same
key (a Prefect run already created with it, or nothing left to do) and never runs twice.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timezone

from ..config import WorkbenchConfig
from ..errors import (ColumnNotFoundError, ConfigError, QueryRefused, RunFailed, SourceError,
                      TableNotFoundError)
from ..watch import landing_files

log = logging.getLogger(__name__)

ANCHOR = datetime(2024, 1, 1, tzinfo=timezone.utc)   # checks fall due at ANCHOR + k * every
QUIET_SECONDS = 10.0    # a file changed more recently is left to the watcher
RUN_FAILED = re.compile(r"\brun (\S+) failed")     # RunFailed's message names its run
# Errors of the input, not of the moment: trying again reads the same bad file or model.
BAD_INPUT = (ConfigError, SourceError, TableNotFoundError, ColumnNotFoundError, QueryRefused)


@dataclass(frozen=True)
class Work:
    """What one source still needs: files to load, or a build of its newer data."""

    source: str
    files: tuple[tuple[str, int, int], ...]     # not loaded yet: path, size, mtime_ns
    unbuilt: bool                               # data_version > built_version
    data_version: int

    @property
    def key(self) -> str:
        """The idempotency key: the same work, the same key, whoever triggers it."""
        text = repr((self.source, self.files, self.data_version, self.unbuilt))
        return f"workbench:{self.source}:{hashlib.sha256(text.encode()).hexdigest()[:20]}"

    def describe(self) -> str:
        parts = [f"{len(self.files)} file(s) not loaded"] if self.files else []
        if self.unbuilt:
            parts.append(f"data version {self.data_version} not built")
        return f"{self.source}: {', '.join(parts)}"


def pending(config: WorkbenchConfig, sources: Iterable[str] | None = None, *,
            quiet_seconds: float = 0.0) -> dict[str, Work]:
    """Each source (of ``sources``, default all) with files not yet loaded or data not yet
    built, read from the published warehouse; {} when every mart is current.

    ``quiet_seconds``: leave out files changed that recently (one being written in place
    is the watcher's to report once it is complete)."""
    wanted = set(sources) if sources is not None else {s.name for s in config.sources}
    seen, versions = _ledger(config)
    files: dict[str, list[tuple[str, int, int]]] = {}
    settled = time.time_ns() - int(quiet_seconds * 1e9)
    for source, _path, relative, size, mtime_ns in landing_files(config):
        if (source in wanted and seen.get((source, relative)) != (size, mtime_ns)
                and mtime_ns <= settled):
            files.setdefault(source, []).append((relative, size, mtime_ns))
    work = {}
    for source in sorted(wanted):
        data, built = versions.get(source, (0, 0))
        if files.get(source) or data > built:
            work[source] = Work(source, tuple(sorted(files.get(source, ()))), data > built,
                                data)
    return work


def _ledger(config: WorkbenchConfig) -> tuple[dict, dict[str, tuple[int, int]]]:
    """Files recorded and (data_version, built_version) per source; nothing recorded when
    there is no warehouse yet (every landing file is then new)."""
    if not config.published.exists():
        return {}, {}
    from ..ledger import SOURCES, files_seen
    from ..warehouse import Warehouse

    with Warehouse(config.warehouse, config.published).reading() as con:
        seen = files_seen(con)
        versions = {s: (int(d or 0), int(b or 0)) for s, d, b in con.execute(
            f"select source, data_version, built_version from {SOURCES}").fetchall()}
    return seen, versions


def transient(error: BaseException | None) -> bool:
    """Whether trying again may succeed: not for bad input (our errors that name a bad file,
    config or model) nor for failing dbt tests (the data is wrong, not the moment)."""
    if error is None or isinstance(error, BAD_INPUT):
        return False
    if isinstance(error, RunFailed) and error.result is not None:
        return not any(node.status == "fail" for node in error.result.failures)
    return True


def rejected(config: WorkbenchConfig, error: BaseException) -> list[str]:
    """The files the run that failed with ``error`` rejected (bad input, recorded in the
    published ledger); [] for an error of no run, or a run that rejected nothing."""
    result = getattr(error, "result", None)
    found = RUN_FAILED.search(str(error))
    run_id = result.run_id if result is not None else found.group(1) if found else None
    if run_id is None or not config.published.exists():
        return []
    from ..ledger import rejected_in
    from ..warehouse import Warehouse

    with Warehouse(config.warehouse, config.published).reading() as con:
        return rejected_in(con, run_id)


def reason(error: BaseException) -> str:
    """What failed, without the run's id: the same failure reads the same in every run (an
    alert is sent once per reason)."""
    result = getattr(error, "result", None)
    if isinstance(error, RunFailed) and result is not None:
        return "\n".join(f"{node.kind} {node.name}: {node.message}" for node in result.failures)
    return RUN_FAILED.sub("run failed", f"{type(error).__name__}: {error}")


def next_check(every: float, now: float | None = None) -> float:
    """The epoch second of the next check on the fixed anchor (``ANCHOR + k * every``)."""
    now = time.time() if now is None else now
    anchor = ANCHOR.timestamp()
    return anchor + (int((now - anchor) // every) + 1) * every


class CatchUp:
    """Hands every source with work left to ``request``: at ``start()``, at each anchored
    check (``every`` seconds), and ``soon()`` after a failure or when ``request`` returns
    the seconds after which to look again (a run under way that may have died).
    ``on_start`` runs first (the freshness check at start: the anchored ones are the
    deployment's schedule)."""

    def __init__(self, config: WorkbenchConfig, request: Callable[[Work], float | None], *,
                 every: float, on_start: Callable[[], None] | None = None) -> None:
        self.config = config
        self.request = request
        self.every = every
        self.on_start = on_start
        self._due = 0.0                  # epoch seconds; 0: now
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.checks = 0

    def run_once(self) -> dict[str, Work]:
        """Look now; request each source's work; return it."""
        try:
            work = pending(self.config, quiet_seconds=QUIET_SECONDS)
        except Exception:   # a warehouse being published, a busy disk: look again soon
            log.exception("catch-up could not read the warehouse; trying again soon")
            self.soon(5.0)
            return {}
        for item in work.values():
            log.info("catch-up: %s", item.describe())
            try:
                again = self.request(item)
            except Exception:
                log.exception("catch-up could not start the work of %s", item.source)
                self.soon(5.0)
                continue
            if again is not None:       # a run under way whose end is not known yet
                self.soon(again)
        return work

    def soon(self, delay: float = 5.0) -> None:
        """Look again within ``delay`` seconds (after a failure)."""
        self._due = min(self._due, time.time() + delay) if self._due else time.time() + delay
        self._wake.set()

    def start(self) -> CatchUp:
        self._thread = threading.Thread(target=self._run, name="workbench-catch-up",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        if self.on_start is not None:
            try:
                self.on_start()
            except Exception:
                log.exception("the freshness check at start failed; the schedule's next "
                              "one will tell")
        while not self._stop.is_set():
            scheduled = next_check(self.every)
            self._due = 0.0
            self.run_once()
            self.checks += 1
            while not self._stop.is_set():
                due = min(scheduled, self._due) if self._due else scheduled
                if time.time() >= due:
                    break
                self._wake.wait(min(1.0, max(0.0, due - time.time())))
                self._wake.clear()
