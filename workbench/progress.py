"""What one run tells its listeners as it goes, and how a listener asks it to stop.

A run (``Pipeline.run``) emits, in order: a ``RunPhase`` as each preparation begins, one
``RunPlanned`` (the nodes it may touch), then for
each unit of work a ``WorkStarted`` and, per node, a ``NodeFinished``; nodes found up to date
emit ``NodeUpToDate`` instead. Listeners belong to one run, so two runs in one process never
mix their progress. They are called from the run's worker threads: keep them quick.

(These are in-process progress events. The events a Prefect server sees, such as
``workbench.source.loaded``, are the service's: ``workbench.service.events``.)
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Union

if TYPE_CHECKING:
    from .graph import Graph
    from .results import NodeResult


@dataclass(frozen=True)
class Work:
    """One unit of work: a load, a dbt build of several nodes, or a step or action."""

    kind: str                   # "source" | "dbt" | "step" | "action"
    ids: tuple[str, ...]        # graph node ids
    names: tuple[str, ...]      # their names (dbt selects by name)
    retries: int = 0            # attempts after a failure that may pass next time (I/O)

    @property
    def label(self) -> str:
        """How a person reads it, in logs and in the Prefect UI."""
        if self.kind == "source":
            return f"load {self.names[0]}"
        if self.kind == "dbt":
            more = f" +{len(self.names) - 1}" if len(self.names) > 1 else ""
            return f"dbt build {self.names[0]}{more}"
        return f"{self.kind} {self.names[0]}"


@dataclass(frozen=True)
class RunPhase:
    """What the run is busy with before its units of work start (reading the dbt project,
    starting the flow, scanning the landing files), for a display to name while a person
    waits."""

    what: str


@dataclass(frozen=True)
class RunPlanned:
    """The nodes the run may touch (``selected``), before anything runs."""

    graph: Graph
    selected: frozenset[str]


@dataclass(frozen=True)
class WorkStarted:
    work: Work


@dataclass(frozen=True)
class NodeFinished:
    node_id: str
    result: NodeResult


@dataclass(frozen=True)
class NodeUpToDate:
    """Selected, but nothing it reads changed: it does not run."""

    node_id: str


RunEvent = Union[RunPhase, RunPlanned, WorkStarted, NodeFinished, NodeUpToDate]
Listener = Callable[[RunEvent], None]


def on_each_node(callback: Callable[[NodeResult], None]) -> Listener:
    """A listener that hands each finished node's result to ``callback``."""
    def listener(event: RunEvent) -> None:
        if isinstance(event, NodeFinished):
            callback(event.result)
    return listener


class Broadcast:
    """Hands every event to each listener of one run."""

    def __init__(self, listeners: Iterable[Listener] = ()) -> None:
        self.listeners = tuple(listeners)

    def __call__(self, event: RunEvent) -> None:
        for listener in self.listeners:
            listener(event)


class CancelToken:
    """Asks a run to stop: no new unit of work starts once it is set; units already running
    finish (a load or a dbt build is never cut in half). The run then raises RunCancelled."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.reason = ""

    def cancel(self, reason: str = "cancelled") -> None:
        self.reason = reason
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()
