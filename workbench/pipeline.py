"""The run core: what a run does, in order, free of Prefect.

``Pipeline.run(request, executor)`` owns the sequence: take the write lock, plan (what the
request selects, what is already stale), scan the landing folders, schedule the units of
work (``Scheduler``), hand each to the executor (``units.Units`` does the work itself), then
finish (record what is built, record the run, publish). The executor decides only *how* the
run and each unit are carried out: inline, or as a Prefect flow and its tasks
(``workbench.flows.PrefectExecutor``)::

    pipeline.run(RunRequest(sources=("events",)), InlineExecutor())
"""

from __future__ import annotations

import contextlib
import logging
import re
import secrets
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from . import ledger
from .config import WorkbenchConfig
from .errors import RunCancelled, SourceError
from .executors import Executor, InlineExecutor
from .failing_rows import with_failing_rows
from .freshness import FreshnessReport, assess
from .graph import Graph
from .progress import Broadcast, CancelToken, Listener, RunPhase, RunPlanned, Work
from .results import NodeResult, RunResult, utc_now
from .run_plan import PlannedNode, RunPlan
from .scheduler import Plan, Scheduler, explain
from .steps import STEPS_SCHEMA
from .transform import DbtProject
from .units import Units
from .warehouse import Warehouse, quote

log = logging.getLogger(__name__)
LOAD_RETRIES = 2          # a load may meet an I/O hiccup; nothing else is worth retrying
_LOADS_ONLY = re.compile(r"^(loader:[^+@,\s]+|loaders)$")    # a selection term of loaders only


@dataclass(frozen=True)
class RunRequest:
    """What a run is asked to do (``wb.run(...)``, ``workbench run``, a panel button)."""

    sources: tuple[str, ...] | None = None   # these sources and what is downstream of them
    select: str | None = None                # or a selection (``graph.Graph.select``)
    full_refresh: bool = False               # reload every file, rebuild every table
    trigger: str = "manual"                  # who asked: manual, panel, service, cli...
    vars: dict[str, Any] | None = field(default=None, hash=False)  # dbt --vars over [dbt] vars
    exclude: str | None = None               # minus this selection (dbt's --exclude)

    @property
    def label(self) -> str:
        """The selection as a person reads it (recorded in history, names the flow run)."""
        if self.select or self.exclude:
            return " ".join(filter(None, [self.select, self.exclude and
                                          f"--exclude {self.exclude}"]))
        return "all" if self.sources is None else f"sources: {', '.join(self.sources)}"


class Pipeline:
    """One project's parts, kept warm for the life of the process (dbt's manifest, the
    graph). Runs share nothing else: each has its own listeners and cancel token."""

    def __init__(self, config: WorkbenchConfig, warehouse: Warehouse) -> None:
        self.config = config
        self.warehouse = warehouse
        self.units = Units(config, warehouse, lambda: self.dbt, self.graph)
        self._dbt: DbtProject | None = None
        self._graph: tuple[object, Graph] | None = None

    @property
    def dbt(self) -> DbtProject:
        if self._dbt is None:
            self._dbt = DbtProject(self.config.dbt_project, self.config.warehouse,
                                   target=self.config.dbt_target,
                                   log_dir=self.config.state_dir / "dbt-logs",
                                   state_dir=self.config.state_dir, vars=self.config.dbt_vars)
        return self._dbt

    def graph(self) -> Graph:
        manifest = self.dbt.manifest()
        if self._graph is None or self._graph[0] is not manifest:
            self._graph = (manifest, Graph.build(self.config, manifest, dbt_ls=self.dbt.ls))
        return self._graph[1]

    def graph_for(self, request: RunRequest) -> Graph:
        """The graph a run of ``request`` needs: the sources alone when it selects loaders
        only (``select="loader:events"``), so that a load never imports or parses dbt."""
        terms = (request.select or "").split()
        if request.exclude or not terms or not all(_LOADS_ONLY.match(term) for term in terms):
            return self.graph()
        return Graph.of_sources(self.config)

    def use_vars(self, request: RunRequest) -> None:
        """dbt's vars for this request: ``[dbt] vars`` with the request's laid over them (a
        change re-parses the project and rebuilds every dbt node, as vars reach any node)."""
        self.dbt.vars = {**self.config.dbt_vars, **(request.vars or {})}

    # -- the run -------------------------------------------------------------------------------
    def run(self, request: RunRequest, executor: Executor | None = None, *,
            listeners: Iterable[Listener] = (), cancel: CancelToken | None = None
            ) -> RunResult:
        """Load what changed, build what is stale, run steps and actions, publish.

        Failures are data in the RunResult. Raises RunCancelled when ``cancel`` stopped the
        run before all its work started (nothing is then recorded or published).
        """
        executor = executor or InlineExecutor()
        cancel = cancel or CancelToken()
        emit = Broadcast(listeners)
        self.use_vars(request)
        executor.warm_up()      # a Prefect server may start meanwhile...
        emit(RunPhase("reading the dbt project"))
        parsed = _in_background(self.graph_for, request)    # ...and the run's flow start,
                                                            # while dbt imports and parses

        def body() -> RunResult:
            parsed.result()     # raises what the parse raised
            return self._run(request, executor, emit, cancel)

        return executor.run(request.label, body)

    def _run(self, request: RunRequest, executor: Executor, emit: Broadcast,
             cancel: CancelToken) -> RunResult:
        run_id, started_at = new_run_id(), utc_now()
        emit(RunPhase("waiting for the warehouse's write lock"))
        dbt = self._dbt             # None: this process has not needed dbt (a load alone)
        with self.warehouse.writing(), contextlib.ExitStack() as pins:
            held = pins.enter_context(self.warehouse.held_open(
                dbt is None or dbt.shares_warehouse()))
            if dbt is not None:
                pins.enter_context(dbt.pinned())
            emit(RunPhase("planning: what changed"))
            plan, notes = self.plan(request)
            graph = self.graph_for(request)
            emit(RunPlanned(graph, plan.selected))
            names = [graph.nodes[n].name for n in graph.order(plan.selected)
                     if graph.nodes[n].kind == "source"]
            scans = self.units.scan(names, full_refresh=request.full_refresh)

            def execute(work: Work) -> list[NodeResult]:
                function = self._unit(work, scans, run_id, started_at, request.full_refresh)
                if work.kind == "source" and not scans[work.names[0]].pending:
                    return function()       # nothing to load: not worth a task
                try:
                    return executor.execute(work, function)
                except Exception as error:  # a failure that outlived its retries
                    return _failed(graph, work, error)

            scheduler = Scheduler(graph, plan, execute, emit=emit, cancel=cancel,
                                  retries=lambda kind: LOAD_RETRIES if kind == "source" else 0)
            nodes = scheduler.run()
            outcomes = scheduler.outcomes
            if cancel.cancelled and scheduler.not_started:
                held.close()        # publishing wants the file checkpointed: closed
                self.record_cancelled(run_id, started_at, outcomes, request, cancel.reason)
                raise RunCancelled(
                    f"run cancelled ({cancel.reason}): {len(nodes)} node(s) finished, "
                    f"{len(scheduler.not_started)} never started; recorded in history as "
                    f"cancelled, and the next run builds what this one loaded",
                    results=nodes)
            return self.finish(run_id=run_id, started_at=started_at, outcomes=outcomes,
                               plan=plan, request=request, notes=notes, held=held)

    def _unit(self, work: Work, scans: dict, run_id: str, loaded_at: datetime,
              full_refresh: bool) -> Callable[[], list[NodeResult]]:
        """The call that does ``work`` (``units.Units``), for the executor to carry out."""
        if work.kind == "source":
            scan = scans[work.names[0]]
            return lambda: [self.units.load(scan, run_id=run_id, loaded_at=loaded_at,
                                            full_refresh=full_refresh)]
        if work.kind == "dbt":
            return lambda: self.units.build(work.names, full_refresh=full_refresh)
        step = self.units.step(work.kind, work.names[0])
        return lambda: [self.units.run_step(step, run_id=run_id)]

    # -- planning ------------------------------------------------------------------------------
    def plan(self, request: RunRequest) -> tuple[Plan, list[str]]:
        """The nodes this run may touch, what is already stale, and which dbt nodes' own
        definitions changed since they were last built. Call inside ``writing()``."""
        graph = self.graph_for(request)
        with self.warehouse.connect() as con:
            for schema in (self.config.raw_schema, STEPS_SCHEMA):
                con.execute(f"create schema if not exists {quote(schema)}")
            built = ledger.built_keys(con)
            stale = ledger.stale_sources(con)
        selected = graph.selection(request.sources, request.select, dbt_ls=self.dbt.ls,
                                   exclude=request.exclude)
        dbt_nodes = [i for i in graph.order(selected) if graph.nodes[i].is_dbt]
        keys = self.dbt.definition_keys() if dbt_nodes else {}
        if request.full_refresh:
            changed = {i: "full refresh" for i in dbt_nodes}
        else:
            changed = {i: "its definition changed" if i in built else "not built yet"
                       for i in dbt_nodes if built.get(i) != keys.get(i)}
        notes = []
        if changed and not request.select:
            notes.append(_rebuild_note(graph, changed, first=not built,
                                       full_refresh=request.full_refresh))
        return Plan(frozenset(selected), frozenset(stale), changed=changed,
                    forced=bool(request.select),
                    passthrough=self.dbt.views() if dbt_nodes else frozenset()), notes

    def plan_run(self, request: RunRequest) -> RunPlan:
        """What ``run(request)`` would do and why, without doing it (``wb.plan()``)."""
        self.use_vars(request)
        with self.warehouse.writing():
            plan, notes = self.plan(request)
            graph = self.graph_for(request)
            scans = self.units.scan([graph.nodes[i].name for i in graph.order(plan.selected)
                                     if graph.nodes[i].kind == "source"],
                                    full_refresh=request.full_refresh)
        new_data = {name: f"new data: {len(scan.changed)} new or changed, "
                          f"{len(scan.removed)} removed file(s)"
                    for name, scan in scans.items() if scan.changed or scan.removed}
        reasons = explain(graph, plan, new_data)
        return RunPlan(request.label, tuple(
            PlannedNode(graph.nodes[i].name, graph.nodes[i].kind, why is not None,
                        why or "up to date") for i, why in reasons.items()), tuple(notes))

    # -- after the work ------------------------------------------------------------------------
    def record_cancelled(self, run_id: str, started_at: datetime,
                         outcomes: dict[str, NodeResult], request: RunRequest,
                         reason: str) -> None:
        """A cancelled run that did some work goes to history (``wb.history()``) with what
        it did, and what it finished is published; nothing is marked built, so the next
        run builds what this one loaded."""
        nodes = tuple(outcomes.values())
        if all(n.kind == "source" and n.status == "skipped" for n in nodes):
            return
        result = RunResult(run_id, started_at, utc_now(), nodes, request.trigger,
                           request.label, (f"cancelled: {reason}",), cancelled=True)
        with self.warehouse.connect() as con:
            ledger.record_run(con, result)
        self.warehouse.publish()

    def finish(self, *, run_id: str, started_at: datetime, outcomes: dict[str, NodeResult],
               plan: Plan, request: RunRequest, notes: Sequence[str] = (),
               held: contextlib.ExitStack | None = None) -> RunResult:
        """Record what is now built, mark what came from late sources, record, publish.

        ``outcomes``: node id -> result, in the order the nodes finished. ``held``: the
        run's open instance of the warehouse (``Warehouse.held_open``): the records are
        written through it, and it is closed (checkpointed) just before publishing, rather
        than opening the file once more after it (~60 ms)."""
        notes = list(notes)
        graph = self.graph_for(request)
        nodes = list(outcomes.values())
        worked = [n for n in nodes if n.status != "skipped" or n.kind != "source"]
        with self.warehouse.connect() as con:
            self._mark_built(con, graph, plan, outcomes)
            freshness = assess(self.config, ledger.last_loads(con), utc_now())
            nodes = with_failing_rows(con, _mark_stale(graph, nodes, freshness))
            if not worked:
                last = ledger.last_run_id(con)
                notes.append("dbt skipped: no new data and no change to the dbt project"
                             + (f" since run {last}" if last else ""))
            result = RunResult(run_id, started_at, utc_now(), tuple(nodes), request.trigger,
                               request.label, tuple(notes), _up_to_date(graph, plan, outcomes))
            if worked:
                ledger.record_run(con, result)
        if held is not None:
            held.close()            # publishing wants the file checkpointed: closed
        if worked:
            seconds = self.warehouse.publish()
            log.info("published %s in %.2fs", self.warehouse.published, seconds)
        return result

    def _mark_built(self, con, graph: Graph, plan: Plan,
                    outcomes: dict[str, NodeResult]) -> None:
        """Per source, the data dbt has now built downstream; per dbt node, the definition
        it was built with (a node that failed or did not run is built again next time)."""
        failed = {graph.nodes[i].name for i, r in outcomes.items()
                  if r.failed or (r.status == "skipped" and graph.nodes[i].kind != "source")}
        for node_id in plan.selected:
            node = graph.nodes[node_id]
            if node.kind != "source" or plan.forced:
                continue
            downstream = {graph.nodes[d].name for d in graph.downstream(node_id)
                          if d in plan.selected}
            if not downstream & failed:
                ledger.mark_built(con, node.name)
        dbt = [i for i in outcomes if graph.nodes[i].is_dbt]
        keys = self.dbt.definition_keys() if dbt else {}
        built = {i: keys[i] for i in dbt if i in keys
                 and outcomes[i].status in ("success", "warn")}
        ledger.record_built(con, built, utc_now())
        ledger.forget_built(con, [i for i in dbt if i not in built])


def new_run_id() -> str:
    return utc_now().strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(2)


def _rebuild_note(graph: Graph, changed: dict[str, str], *, first: bool,
                  full_refresh: bool) -> str:
    if full_refresh or first:
        return "dbt rebuilds everything selected: " + ("full refresh" if full_refresh
                                                        else "first build")
    names = [graph.nodes[i].name for i in changed if graph.nodes[i].kind != "test"]
    shown = ", ".join(names[:5]) + (f" (+{len(names) - 5} more)" if len(names) > 5 else "")
    tests = len(changed) - len(names)
    return (f"dbt rebuilds {len(names)} node(s) whose definition changed or that did not "
            f"build last time{': ' + shown if names else ''}"
            + (f"; {tests} test(s) run again" if tests else ""))


def _failed(graph: Graph, work: Work, error: Exception) -> list[NodeResult]:
    """The NodeResults of a unit whose work raised (a bad file says all in its message)."""
    message = str(error) if isinstance(error, SourceError) else \
        f"{type(error).__name__}: {error}"
    return [NodeResult(graph.nodes[node_id].name, graph.nodes[node_id].kind, "error",
                       message=message) for node_id in work.ids]


def _up_to_date(graph: Graph, plan: Plan, outcomes: dict[str, NodeResult]
                ) -> tuple[NodeResult, ...]:
    """The selected nodes that did not run because nothing they read changed."""
    return tuple(NodeResult(graph.nodes[i].name, graph.nodes[i].kind, "skipped",
                            message="up to date: nothing it reads changed")
                 for i in graph.order(plan.selected) if i not in outcomes)


def _mark_stale(graph: Graph, nodes: list[NodeResult], freshness: FreshnessReport
                ) -> list[NodeResult]:
    late = set(freshness.late())
    if not late:
        return nodes
    by_name = {n.name: n.id for n in graph.nodes.values() if n.kind != "source"}
    marked = []
    for node in nodes:
        node_id = by_name.get(node.name)
        if node_id and node.kind in ("model", "step", "action", "snapshot"):
            upstream = {graph.nodes[u].name for u in graph.upstream(node_id)
                        if graph.nodes[u].kind == "source"}
            if upstream & late:
                node = replace(node, stale_sources=tuple(sorted(upstream & late)))
        marked.append(node)
    return marked


def _in_background(function: Callable[..., Any], *args: Any) -> Future:
    """``function(*args)`` in a thread of its own; its outcome in the Future.

    A run reads the dbt project this way: a Prefect flow run is created, named and set
    running on the server (about 0.1 s of round trips) while dbt re-reads the project,
    instead of after it. The thread is a daemon: an interrupted run leaves it to finish
    alone (``DbtProject.manifest`` lets one parse run at a time)."""
    future: Future = Future()

    def work() -> None:
        try:
            future.set_result(function(*args))
        except BaseException as error:      # handed to the run's own thread
            future.set_exception(error)

    threading.Thread(target=work, name="workbench-dbt-parse", daemon=True).start()
    return future
