"""Arrivals merged per source, each source's batches handled in a thread of its own.

The watcher reports files one by one; a person copying a month of files, or an export job
writing three tables, lands them within a moment of each other. ``ArrivalBatches`` waits
until a source has had no new arrival for ``debounce`` seconds (at most ``max_wait`` after
the first) and hands the batch to ``handle(source, arrivals)`` as one unit: one load, one
build. Each source has its own thread, so a slow source's batch never holds up another
source's; one source's batches run one at a time, and what lands meanwhile is the next
batch. ``request(source)`` asks for a batch with no new arrival (the service's catch-up:
files the warehouse has not loaded, data it has not built); it merges with the source's
arrivals like one of them. No Prefect, no DuckDB here: ``handle`` decides what a batch does.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from ..watch import Arrival

log = logging.getLogger(__name__)


class ArrivalBatches:
    """Collects arrivals per source and hands each batch to ``handle`` in the source's
    thread, after ``debounce`` seconds without another arrival of that source."""

    def __init__(self, handle: Callable[[str, list[Arrival]], None], *,
                 debounce: float = 0.3, max_wait: float | None = None) -> None:
        self.handle = handle
        self.debounce = debounce
        self.max_wait = max(debounce, 2.0) * 5 if max_wait is None else max_wait
        self._pending: dict[str, list[Arrival]] = {}
        self._requested: set[str] = set()    # sources asked for with no arrival
        self._first: dict[str, float] = {}
        self._latest: dict[str, float] = {}
        self._busy: set[str] = set()
        self._threads: dict[str, threading.Thread] = {}
        self._changed = threading.Condition()
        self._stopping = False

    def add(self, arrival: Arrival) -> None:
        """Queue one complete file (the watcher's ``on_arrival``); returns at once."""
        with self._changed:
            if self._stopping:
                return
            batch = self._pending.setdefault(arrival.source, [])
            batch.append(arrival)
            self._queued(arrival.source)

    def request(self, source: str) -> None:
        """Queue a batch of ``source`` even without arrivals (merged with any); at once."""
        with self._changed:
            if not self._stopping:
                self._requested.add(source)
                self._queued(source)

    def _queued(self, source: str) -> None:
        """Called with the condition held: time the source's batch, start its thread."""
        now = time.monotonic()
        if source not in self._first:
            self._first[source] = now
        self._latest[source] = now
        if source not in self._threads:
            thread = threading.Thread(target=self._work, args=(source,),
                                      name=f"workbench-arrivals-{source}", daemon=True)
            self._threads[source] = thread
            thread.start()
        self._changed.notify_all()

    def idle(self) -> bool:
        """Nothing queued and nothing being handled."""
        with self._changed:
            return (not self._busy and not self._requested
                    and not any(self._pending.values()))

    def stop(self, timeout: float = 30.0) -> list[str]:
        """Drop what is queued, let batches being handled finish (up to ``timeout``);
        return the sources whose batch is still under way."""
        with self._changed:
            self._stopping = True
            self._pending.clear()
            self._requested.clear()
            self._changed.notify_all()
        deadline = time.monotonic() + timeout
        for thread in list(self._threads.values()):
            thread.join(max(0.0, deadline - time.monotonic()))
        return sorted(s for s, thread in self._threads.items() if thread.is_alive())

    def _work(self, source: str) -> None:
        while True:
            batch = self._next(source)
            if batch is None:
                return
            try:
                self.handle(source, batch)
            except Exception:   # the handler reports its own failures; the thread lives on
                log.exception("handling %d arrival(s) of %s failed", len(batch), source)
            finally:
                with self._changed:
                    self._busy.discard(source)
                    self._changed.notify_all()

    def _next(self, source: str) -> list[Arrival] | None:
        """Wait for the source's next batch to settle; None once stopping."""
        with self._changed:
            while True:
                if self._stopping:
                    return None
                if self._pending.get(source) or source in self._requested:
                    now = time.monotonic()
                    settles = min(self._latest[source] + self.debounce,
                                  self._first[source] + self.max_wait)
                    if now >= settles:
                        self._busy.add(source)
                        self._requested.discard(source)
                        del self._first[source]
                        return self._pending.pop(source, [])
                    self._changed.wait(settles - now)
                else:
                    self._changed.wait()
