"""Freshness: how long since each source last brought new data, against its SLA."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from .catalogue import Listing
from .config import WorkbenchConfig


@dataclass(frozen=True)
class SourceFreshness:
    source: str
    last_loaded_at: datetime | None     # UTC; the last load that brought new data
    age: timedelta | None
    warn_after: timedelta | None
    error_after: timedelta | None
    state: str      # fresh | warn | stale (past error_after) | never loaded | no SLA

    @property
    def late(self) -> bool:
        return self.state in ("warn", "stale")


class FreshnessReport(Listing):
    """``wb.freshness()``: each source's last load, age, SLA and state."""

    headers = ("source", "last_loaded_at", "age", "warn_after", "error_after", "state")
    status_column = "state"

    def __getitem__(self, source: str) -> SourceFreshness:
        for item in self._items:
            if item.source == source:
                return item
        raise KeyError(source)

    def late(self) -> list[str]:
        return [item.source for item in self._items if item.late]

    def _rows(self) -> list[tuple]:
        return [(f.source, f.last_loaded_at.strftime("%Y-%m-%d %H:%M:%S")
                 if f.last_loaded_at else None, human(f.age), human(f.warn_after),
                 human(f.error_after), f.state) for f in self._items]


def assess(config: WorkbenchConfig, last_loads: dict[str, datetime | None],
           now: datetime) -> FreshnessReport:
    items = []
    for source in config.sources:
        last = last_loads.get(source.name)
        age = now - last if last else None
        if last is None:
            state = "never loaded"
        elif source.warn_after is None and source.error_after is None:
            state = "no SLA"
        elif source.error_after is not None and age > source.error_after:
            state = "stale"
        elif source.warn_after is not None and age > source.warn_after:
            state = "warn"
        else:
            state = "fresh"
        items.append(SourceFreshness(source.name, last, age, source.warn_after,
                                     source.error_after, state))
    return FreshnessReport(items)


def human(delta: timedelta | None) -> str | None:
    """A duration as people read it: ``45s``, ``12.5m``, ``3.0h``, ``2.1d``."""
    if delta is None:
        return None
    seconds = int(delta.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds}s"


def newly_stale(report: FreshnessReport, memory: Path) -> list[SourceFreshness]:
    """The sources whose stale episode has not been announced (``memory``, written by
    ``remember``): the service answers a late source once, not at every check while it
    stays late. An episode is keyed on the source's last load, so a source that was loaded
    and went stale again while nothing checked is a new episode, announced at the first
    check."""
    try:
        before = json.loads(memory.read_text())
    except (OSError, ValueError):
        before = {}
    return [item for item in report
            if item.state == "stale" and before.get(item.source) != _episode(item)]


def remember(report: FreshnessReport, memory: Path) -> None:
    """Keep this check's states (a stale one with its episode) for the next; call it once
    the stale ones are announced, so a check that fails before announcing them announces
    them next time."""
    memory.parent.mkdir(parents=True, exist_ok=True)
    partial = memory.with_suffix(".part")
    partial.write_text(json.dumps({item.source: _episode(item) for item in report}))
    partial.replace(memory)


def _episode(item: SourceFreshness) -> str:
    """``stale since the load of 2026-11-02T10:00:00``; other states as they are."""
    if item.state != "stale" or item.last_loaded_at is None:
        return item.state
    return f"stale since the load of {item.last_loaded_at.isoformat()}"


def notify_stale(config: WorkbenchConfig, item: SourceFreshness) -> str:
    """Write an alert about a stale source through ``[service] notify`` (the outbox by
    default); return the message key. Keyed by source and last load, so an alert for the
    same episode is recognisable downstream."""
    from .delivery import Message
    from .results import utc_now

    now = utc_now()
    last = item.last_loaded_at.strftime("%Y-%m-%d %H:%M") if item.last_loaded_at else "never"
    message = Message(
        key=f"stale:{item.source}:{last}", user_id=0, email=config.service.notify_to,
        name=None, campaign="stale-source", period=now.strftime("%Y-%m-%d"),
        subject=f"[workbench] source {item.source} is stale: no new data for {human(item.age)}",
        body=(f"Source {item.source} last brought new data at {last} UTC, "
              f"{human(item.age)} ago; its SLA is {human(item.error_after)} (error_after).\n"
              f"Check the export that writes {config.landing / config.source(item.source).path}; "
              f"the workbench project is {config.root}."))
    _send(config, message, run_id=f"stale-{item.source}-{now:%Y%m%d%H%M%S}")
    return message.key


def notify_failed(config: WorkbenchConfig, source: str, what: str, error: str) -> str:
    """Write an alert about a failed load or build of ``source`` through the channel of
    staleness alerts (``[service] notify``); return the message key."""
    from .delivery import Message
    from .results import utc_now

    now = utc_now()
    message = Message(
        key=f"failed:{source}:{now:%Y-%m-%dT%H:%M:%S}", user_id=0,
        email=config.service.notify_to, name=None, campaign="failed-run",
        period=now.strftime("%Y-%m-%d"),
        subject=f"[workbench] {what} of source {source} failed",
        body=(f"The {what} of source {source} failed at {now:%Y-%m-%d %H:%M} UTC:\n"
              f"{error}\n`workbench serve` tries again at its next check; the flow run's "
              f"logs are in the Prefect UI. The workbench project is {config.root}."))
    _send(config, message, run_id=f"failed-{source}-{now:%Y%m%d%H%M%S}")
    return message.key


def _send(config: WorkbenchConfig, message, *, run_id: str) -> None:
    from .delivery import make_delivery

    delivery = make_delivery(config.service.notify, config.root, run_id=run_id)
    try:
        delivery.send(message)
    finally:
        delivery.close()
