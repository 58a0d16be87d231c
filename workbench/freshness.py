"""Freshness: how long since each source last brought new data, against its SLA."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from .catalogue import Listing
from .config import WorkbenchConfig

STATES = ("fresh", "warn", "stale", "never loaded", "no SLA")


@dataclass(frozen=True)
class SourceFreshness:
    source: str
    last_loaded_at: datetime | None     # UTC; the last load that brought new data
    age: timedelta | None
    warn_after: timedelta | None
    error_after: timedelta | None
    state: str                          # one of STATES

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
                 if f.last_loaded_at else None, _human(f.age), _human(f.warn_after),
                 _human(f.error_after), f.state) for f in self._items]


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


def _human(delta: timedelta | None) -> str | None:
    if delta is None:
        return None
    seconds = int(delta.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds}s"
