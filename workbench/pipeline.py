"""What a run does, free of Prefect: plan, load, build, run steps, record, publish.

``flows.py`` wraps each unit of work in a Prefect task and hands them to the scheduler;
tests and benchmarks can call these methods directly.
"""

from __future__ import annotations

import logging
import secrets
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from datetime import datetime

import duckdb

from . import loaders
from .config import WorkbenchConfig
from .freshness import FreshnessReport, assess
from .graph import Graph
from .results import NodeResult, RunResult, utc_now
from .scheduler import Plan
from .steps import STEPS_SCHEMA, StepConfig, StepContext, StepReport, resolve_function
from .transform import DbtProject
from .warehouse import META, Warehouse, quote

log = logging.getLogger(__name__)
FINGERPRINT_KEY = "dbt_fingerprint"


class Pipeline:
    """One project's parts, kept warm for the life of the process.

    A plain class on purpose: Prefect walks dataclass parameters of flows and tasks looking
    for futures, and this one holds dbt's whole manifest.
    """

    def __init__(self, config: WorkbenchConfig, warehouse: Warehouse) -> None:
        self.config = config
        self.warehouse = warehouse
        self.listeners: list[Callable[[NodeResult], None]] = []
        self._dbt: DbtProject | None = None
        self._graph: tuple[object, Graph] | None = None

    @property
    def dbt(self) -> DbtProject:
        if self._dbt is None:
            self._dbt = DbtProject(self.config.dbt_project, self.config.warehouse,
                                   target=self.config.dbt_target,
                                   log_dir=self.config.state_dir / "dbt-logs")
        return self._dbt

    def graph(self) -> Graph:
        manifest = self.dbt.manifest()
        if self._graph is None or self._graph[0] is not manifest:
            self._graph = (manifest, Graph.build(self.config, manifest))
        return self._graph[1]

    def emit(self, node: NodeResult) -> None:
        for listener in list(self.listeners):
            listener(node)

    # -- planning ------------------------------------------------------------------------------
    def plan(self, sources: Sequence[str] | None, select: str | None,
             full_refresh: bool) -> tuple[Plan, list[str]]:
        """The nodes this run may touch, and what is already known to be stale."""
        graph = self.graph()
        fingerprint = self.dbt.fingerprint()
        with self.warehouse.connect() as con:
            for schema in (self.config.raw_schema, STEPS_SCHEMA):
                con.execute(f"create schema if not exists {quote(schema)}")
            built = _state(con, FINGERPRINT_KEY)
            stale = {s for s, in con.execute(
                f"select source from {META}.sources where data_version > built_version"
            ).fetchall()}
        notes = []
        if select:
            selected = graph.select(select, dbt_ls=self.dbt.ls)
        elif sources is not None:
            selected = {f"source:{name}" for name in sources}
            for name in sources:
                selected |= graph.downstream(f"source:{name}")
            selected |= graph.tests_of(selected)
        else:
            selected = set(graph.nodes)
        rebuild = full_refresh or built != fingerprint
        if rebuild and not select:
            notes.append("dbt rebuilds everything selected: " + (
                "full refresh" if full_refresh else "first build" if built is None
                else "the dbt project changed"))
        return Plan(frozenset(selected), frozenset(stale), rebuild_dbt=rebuild,
                    forced=bool(select)), notes

    # -- the units of work ---------------------------------------------------------------------
    def scan(self, names: Sequence[str], *, full_refresh: bool = False
             ) -> dict[str, loaders.SourceScan]:
        with self.warehouse.connect() as con:
            return {name: loaders.scan(con, self.config, self.config.source(name),
                                       full_refresh=full_refresh) for name in names}

    def load(self, scan: loaders.SourceScan, *, run_id: str, loaded_at: datetime,
             full_refresh: bool = False) -> NodeResult:
        if not (scan.changed or scan.touched):
            return loaders.unchanged(self.config, scan)     # no connection needed
        with self.warehouse.connect() as con:
            return loaders.load_source(con, self.config, scan, run_id=run_id,
                                       loaded_at=loaded_at, full_refresh=full_refresh)

    def build(self, names: Sequence[str], *, full_refresh: bool = False) -> list[NodeResult]:
        """``dbt build`` of exactly these nodes (tests included only when named)."""
        nodes = self.dbt.build(names, exact=True, full_refresh=full_refresh)
        with self.warehouse.connect() as con:
            return [_with_rows(con, n) for n in nodes]

    def run_step(self, step: StepConfig, *, run_id: str) -> NodeResult:
        """Run a step (in one transaction) or an action (committing as it goes)."""
        started = time.perf_counter()
        function = resolve_function(step, self.config.root)
        inputs = self._inputs(step)
        with self.warehouse.connect() as con:
            transactional = step.kind == "step"
            if transactional:
                con.begin()
            try:
                report = function(self._context(step, con, run_id, inputs))
                if transactional:
                    con.commit()
            except Exception as error:
                if transactional:
                    con.rollback()
                return NodeResult(step.name, step.kind, "error", time.perf_counter() - started,
                                  message=f"{type(error).__name__}: {error}\n"
                                          + "".join(traceback.format_exc(limit=-3)))
        return _step_result(step, report, time.perf_counter() - started)

    def preview(self, step: StepConfig) -> StepReport:
        """A dry run on the published snapshot: what the step or action would do."""
        function = resolve_function(step, self.config.root)
        with self.warehouse.reading() as con:
            return function(self._context(step, con, "dry-run", self._inputs(step),
                                          dry_run=True)) or StepReport()

    def _inputs(self, step: StepConfig) -> dict[str, str]:
        """Input name -> quoted relation, as the step declared its inputs."""
        graph = self.graph()
        inputs = {}
        for parent in graph.parents[f"{step.kind}:{step.name}"]:
            node = graph.nodes[parent]
            name = node.name if node.kind != "step" else (node.relation or "").split(".")[-1]
            inputs[name] = ".".join(quote(p) for p in (node.relation or "").split("."))
        return inputs

    def _context(self, step: StepConfig, con: duckdb.DuckDBPyConnection, run_id: str,
                 inputs: dict[str, str], dry_run: bool = False) -> StepContext:
        output = f"{quote(STEPS_SCHEMA)}.{quote(step.output)}" if step.output else None
        return StepContext(name=step.name, run_id=run_id, con=con, options=step.options,
                           inputs=inputs, output=output, root=self.config.root,
                           version=step.version, dry_run=dry_run,
                           log=logging.getLogger(f"workbench.{step.kind}.{step.name}"))

    # -- after the work ------------------------------------------------------------------------
    def finish(self, *, run_id: str, started_at: datetime, nodes: list[NodeResult],
               plan: Plan, trigger: str, selection: str, notes: Iterable[str] = ()
               ) -> RunResult:
        """Record what is now built, mark what came from late sources, record, publish."""
        notes = list(notes)
        graph = self.graph()
        worked = [n for n in nodes if n.status != "skipped" or n.kind != "source"]
        with self.warehouse.connect() as con:
            self._mark_built(con, graph, plan, nodes)
            freshness = self._freshness(con)
            nodes = _mark_stale(graph, nodes, freshness)
            if not worked:
                last = con.execute(f"select max(run_id) from {META}.runs").fetchone()[0]
                notes.append("dbt skipped: no new data and no change to the dbt project"
                             + (f" since run {last}" if last else ""))
            result = RunResult(run_id, started_at, utc_now(), tuple(nodes), trigger, selection,
                               tuple(notes))
            if worked:
                _record_run(con, result)
        if worked:
            seconds = self.warehouse.publish()
            log.info("published %s in %.2fs", self.warehouse.published, seconds)
        return result

    def _mark_built(self, con, graph: Graph, plan: Plan, nodes: list[NodeResult]) -> None:
        failed = {n.name for n in nodes if n.failed or (n.status == "skipped"
                                                         and n.kind != "source")}
        for node_id in plan.selected:
            node = graph.nodes[node_id]
            if node.kind != "source" or plan.forced:
                continue
            downstream = {graph.nodes[d].name for d in graph.downstream(node_id)
                          if d in plan.selected}
            if not downstream & failed:
                con.execute(f"update {META}.sources set built_version = data_version "
                            f"where source = ?", [node.name])
        every_dbt_node = {n for n, node in graph.nodes.items() if node.is_dbt}
        if plan.rebuild_dbt and every_dbt_node <= plan.selected and not failed:
            con.execute(f"insert or replace into {META}.state values (?, ?)",
                        [FINGERPRINT_KEY, self.dbt.fingerprint()])

    def _freshness(self, con) -> FreshnessReport:
        last = dict(con.execute(f"select source, last_loaded_at from {META}.sources"
                                ).fetchall())
        return assess(self.config, last, utc_now())


def new_run_id() -> str:
    return utc_now().strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(2)



def _state(con, key: str) -> str | None:
    row = con.execute(f"select value from {META}.state where key = ?", [key]).fetchone()
    return row[0] if row else None


def _step_result(step: StepConfig, report: StepReport | None, seconds: float) -> NodeResult:
    report = report or StepReport()
    failed = bool(report.metrics.get("failed"))
    return NodeResult(step.name, step.kind, "warn" if failed else "success", seconds,
                      rows=report.rows, message=report.message,
                      metrics=dict(report.metrics) or None,
                      relation=f"{STEPS_SCHEMA}.{step.output}" if step.output else None)


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


def _with_rows(con, node: NodeResult) -> NodeResult:
    if node.kind not in ("model", "seed", "snapshot") or node.failed or not node.relation:
        return node
    schema, name = node.relation.split(".", 1)
    kind = con.execute("select table_type from information_schema.tables "
                       "where table_schema = ? and table_name = ?", [schema, name]).fetchone()
    if not kind or kind[0] != "BASE TABLE":
        return node
    rows = con.execute(f"select count(*) from {quote(schema)}.{quote(name)}").fetchone()[0]
    return replace(node, rows=rows)


def _record_run(con, result: RunResult) -> None:
    con.execute(f"insert into {META}.runs values (?, ?, ?, ?, ?, ?, ?)",
                [result.run_id, result.trigger, result.selection, result.started_at,
                 result.finished_at, result.status, result.summary()])
    con.executemany(f"insert into {META}.node_results values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [[result.run_id, n.name, n.kind, n.status, n.seconds, n.rows, n.failures,
                      n.message, n.started_at, n.finished_at] for n in result.nodes])
