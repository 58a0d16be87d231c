"""Run a selected part of the graph, starting each node as soon as its inputs are ready.

Loads start together. dbt nodes wait only for their own inputs, so a source's models are
built while a slower source is still loading; dbt nodes that are ready together go to dbt as
one ``dbt build`` (one invocation at a time: dbt's runner is not re-entrant). Steps and
actions start when their inputs are built. A node whose input failed (or whose dbt test
failed: tests are gates) is skipped with the reason; everything else carries on.

Only work that matters runs: a node is *dirty* when an input of it changed in this run (a
load brought data, an upstream node was rebuilt), when its own dbt definition changed since
it was last built (``Plan.changed``: its SQL, config, macros or a parent's definition), or
when the user selected it explicitly. Clean nodes are left alone and do not appear in the
result. A *pass-through* node (``Plan.passthrough``: a view whose definition is unchanged)
dirtied only by new data upstream is not rebuilt either, as a view reads its inputs when it
is queried: it is reported as current and its children and tests run as for a rebuilt one.
``explain`` applies the same rules without running anything (``wb.plan()``).

The scheduler knows nothing of Prefect or dbt: ``execute(work)`` does the work (the pipeline
hands it to an executor: inline, or a Prefect task) and is called in worker threads with the
caller's context copied, so a Prefect flow's context reaches its tasks. It tells ``emit`` when
each unit starts and each node finishes (``workbench.progress``), and stops starting work
once its ``cancel`` token is set.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from datetime import datetime

from .graph import Graph
from .progress import CancelToken, NodeFinished, NodeUpToDate, RunEvent, Work, WorkStarted
from .results import NodeResult, utc_now


@dataclass(frozen=True)
class Plan:
    """What the run may touch and what counts as changed before anything runs."""

    selected: frozenset[str]            # graph node ids in the run
    stale_sources: frozenset[str] = frozenset()   # loaded earlier, not yet built downstream
    changed: Mapping[str, str] = field(default_factory=dict)  # dbt node id -> why it rebuilds
    forced: bool = False                # explicit selection: every selected node is dirty
    # dbt nodes that new data upstream does not make stale (views that read it as it is);
    # their own changed definition, or an explicit selection, still rebuilds them
    passthrough: frozenset[str] = frozenset()


class Scheduler:
    """Executes a Plan over a Graph; ``run()`` returns NodeResults in completion order."""

    def __init__(self, graph: Graph, plan: Plan, execute: Callable[[Work], list[NodeResult]],
                 *, max_workers: int = 4, emit: Callable[[RunEvent], None] | None = None,
                 cancel: CancelToken | None = None,
                 retries: Callable[[str], int] = lambda kind: 0) -> None:
        self.graph, self.plan, self.execute = graph, plan, execute
        self.emit = emit or (lambda event: None)
        self.cancel = cancel or CancelToken()
        self.retries = retries
        self.max_workers = max_workers
        self.waiting = set(plan.selected)          # not started yet
        self.unfinished = set(plan.selected)       # not finished yet (waiting or running)
        self.dirty: set[str] = set()
        self.failed: dict[str, str] = {}     # node id -> why its children cannot run
        self.outcomes: dict[str, NodeResult] = {}   # node id -> result, in finishing order
        self.running: dict[Future, Work] = {}
        self.dbt_busy = False

    def run(self) -> list[NodeResult]:
        with ThreadPoolExecutor(self.max_workers, thread_name_prefix="workbench") as pool:
            self.pool = pool
            for node_id in self.graph.order(self.waiting):
                if self.graph.nodes[node_id].kind == "source" and not self.cancel.cancelled:
                    self._start("source", [node_id])
            self._dispatch()
            while self.running:
                done, _ = wait(self.running, return_when=FIRST_COMPLETED)
                for future in done:
                    self._finished(self.running.pop(future), future)
                self._dispatch()
        if self.cancel.cancelled:
            return list(self.outcomes.values())   # the rest never started: said by the caller
        for node_id in self.graph.order(self.unfinished):  # cycles or bugs: say so, never hang
            self._record(NodeResult(self.graph.nodes[node_id].name,
                                    self.graph.nodes[node_id].kind, "skipped",
                                    message="never became ready"), node_id)
        return list(self.outcomes.values())

    @property
    def not_started(self) -> list[str]:
        """Selected node ids that never started (after a cancel), in dependency order."""
        return self.graph.order(self.waiting)

    # -- deciding ----------------------------------------------------------------------------
    def _dispatch(self) -> None:
        """Start every node whose inputs are settled; gather ready dbt nodes into one build."""
        progress = not self.cancel.cancelled
        while progress:
            progress = False
            batch: list[str] = []
            for node_id in self.graph.order(self.waiting):
                node = self.graph.nodes[node_id]
                if node.kind == "source":
                    continue
                inputs = self.graph.parents[node_id] & self.plan.selected
                # A dbt node may join the batch its dbt inputs are in (dbt orders them);
                # anything else waits until its inputs have finished.
                in_reach = self.unfinished - set(batch) if node.is_dbt else self.unfinished
                if inputs & in_reach:
                    continue
                blocked = sorted(self.failed[p] for p in inputs if p in self.failed)
                if blocked:
                    self._skip(node_id, f"skipped: {blocked[0]}")
                    progress = True
                elif not self._is_dirty(node_id, inputs, batch):
                    self.waiting.discard(node_id)       # up to date: nothing to do
                    self.unfinished.discard(node_id)
                    self.emit(NodeUpToDate(node_id))
                    progress = True
                elif self._passes_through(node_id) and not inputs & set(batch):
                    self.dirty.add(node_id)             # new data reaches its children
                    self.waiting.discard(node_id)
                    self.emit(WorkStarted(Work("dbt", (node_id,), (node.name,))))  # no task
                    self._record(NodeResult(node.name, node.kind, "success", message=(
                        "not rebuilt: a view whose definition is unchanged reads the new "
                        "data as it is")), node_id)
                    progress = True
                elif node.is_dbt:
                    if not self.dbt_busy:
                        batch.append(node_id)
                else:
                    self.dirty.add(node_id)
                    self._start(node.kind, [node_id])
            if batch:
                self.dirty.update(batch)
                self.dbt_busy = True
                self._start("dbt", batch)

    def _is_dirty(self, node_id: str, inputs: set[str], batch: list[str]) -> bool:
        if self.plan.forced or node_id in self.plan.changed:
            return True
        return bool(inputs & (self.dirty | set(batch)))

    def _passes_through(self, node_id: str) -> bool:
        """Dirty only by its inputs' data, and a node that needs no rebuild for that (when
        an input is in the batch being formed, the node joins it instead: were the input
        to fail, the node would not have passed)."""
        return (node_id in self.plan.passthrough and not self.plan.forced
                and node_id not in self.plan.changed)

    # -- doing -------------------------------------------------------------------------------
    def _start(self, kind: str, ids: list[str]) -> None:
        work = Work(kind, tuple(ids), tuple(self.graph.nodes[i].name for i in ids),
                    retries=self.retries(kind))
        self.waiting.difference_update(ids)
        started = utc_now()
        context = contextvars.copy_context()
        future = self.pool.submit(context.run, self._execute, work, started)
        self.running[future] = work

    def _execute(self, work: Work, started: datetime) -> list[NodeResult]:
        self.emit(WorkStarted(work))
        results = self.execute(work)
        finished = utc_now()
        return [replace(r, started_at=r.started_at or started, finished_at=finished)
                for r in results]

    def _finished(self, work: Work, future: Future) -> None:
        if work.kind == "dbt":
            self.dbt_busy = False
        try:
            results = future.result()
        except Exception as error:  # execute() should not raise; if it does, fail its nodes
            results = [NodeResult(name, self.graph.nodes[i].kind, "error",
                                  message=f"{type(error).__name__}: {error}")
                       for i, name in zip(work.ids, work.names)]
        by_name = {self.graph.nodes[i].name: i for i in work.ids}
        reported = set()
        for result in results:
            node_id = by_name.get(result.name)
            if node_id is None:
                continue
            reported.add(node_id)
            self._record(result, node_id)
        for node_id in set(work.ids) - reported:
            node = self.graph.nodes[node_id]
            self._record(NodeResult(node.name, node.kind, "error",
                                    message="dbt did not report this node"), node_id)

    def _record(self, result: NodeResult, node_id: str) -> None:
        self.waiting.discard(node_id)
        self.unfinished.discard(node_id)
        node = self.graph.nodes[node_id]
        if result.failed or (result.status == "skipped" and node.is_dbt):
            reason = f"{node.kind} {node.name} {result.status}"
            self.failed[node_id] = reason
            self.dirty.discard(node_id)
            if node.kind == "test":        # a failed test is a gate on what it tested
                for parent in self.graph.parents[node_id]:
                    self.failed.setdefault(parent, f"test {node.name} failed")
        elif node.kind == "source":
            changed = result.status == "success" or node.name in self.plan.stale_sources \
                or self.plan.forced
            (self.dirty.add if changed else self.dirty.discard)(node_id)
        self.outcomes[node_id] = result
        self.emit(NodeFinished(node_id, result))

    def _skip(self, node_id: str, why: str) -> None:
        node = self.graph.nodes[node_id]
        self._record(NodeResult(node.name, node.kind, "skipped", message=why), node_id)
        self.failed[node_id] = why.removeprefix("skipped: ")


def explain(graph: Graph, plan: Plan, new_data: Mapping[str, str]) -> dict[str, str | None]:
    """What a run of ``plan`` would do, by the scheduler's rules, if every unit succeeded:
    selected node id -> why it would run, or None when it is up to date. ``new_data`` maps
    a source's name to what its scan found (sources missing from it have nothing new)."""
    reasons: dict[str, str | None] = {}
    for node_id in graph.order(plan.selected):
        node = graph.nodes[node_id]
        if plan.forced:
            reasons[node_id] = "selected"
        elif node.kind == "source":
            reasons[node_id] = new_data.get(node.name) or (
                "loaded earlier, not yet built downstream"
                if node.name in plan.stale_sources else None)
        elif node_id in plan.changed:
            reasons[node_id] = plan.changed[node_id]
        else:
            moved = sorted(graph.nodes[p].name for p in graph.parents[node_id]
                           if reasons.get(p))
            passes = " (a view: not rebuilt, reads it as it is)" \
                if node_id in plan.passthrough else ""
            reasons[node_id] = f"upstream changed: {', '.join(moved)}{passes}" \
                if moved else None
    return reasons
