"""What a run does, free of Prefect: scan, load, decide what dbt must build, record, publish.

``flows.py`` wraps these steps in Prefect tasks; tests and benchmarks can call them directly.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone

from . import loaders
from .config import WorkbenchConfig
from .graph import Graph
from .results import NodeResult, RunResult
from .transform import DbtProject
from .warehouse import META, Warehouse

log = logging.getLogger(__name__)
FINGERPRINT_KEY = "dbt_fingerprint"


@dataclass(frozen=True)
class DbtPlan:
    """What dbt will build in this run, or why it builds nothing."""

    selectors: tuple[str, ...] | None     # None: skip dbt; (): build everything
    reason: str
    covers: tuple[str, ...] = ()          # sources whose downstream this build refreshes
    full_project: bool = False            # a whole-project build (records the fingerprint)
    full_refresh: bool = False


@dataclass
class Pipeline:
    """One project's parts, kept warm for the life of the process."""

    config: WorkbenchConfig
    warehouse: Warehouse
    listeners: list[Callable[[NodeResult], None]] = field(default_factory=list)
    _dbt: DbtProject | None = None

    @property
    def dbt(self) -> DbtProject:
        if self._dbt is None:
            self._dbt = DbtProject(self.config.dbt_project, self.config.warehouse,
                                   target=self.config.dbt_target,
                                   log_dir=self.config.state_dir / "dbt-logs")
        return self._dbt

    def graph(self) -> Graph:
        return Graph.build(self.config, self.dbt.manifest())

    def emit(self, node: NodeResult) -> None:
        for listener in list(self.listeners):
            listener(node)

    # -- the steps of a run ------------------------------------------------------------------
    def scan(self, names: Sequence[str], *, full_refresh: bool = False
             ) -> dict[str, loaders.SourceScan]:
        with self.warehouse.connect() as con:
            return {name: loaders.scan(con, self.config, self.config.source(name),
                                       full_refresh=full_refresh) for name in names}

    def load(self, scan: loaders.SourceScan, *, run_id: str, loaded_at: datetime,
             full_refresh: bool = False) -> NodeResult:
        with self.warehouse.connect() as con:
            return loaders.load_source(con, self.config, scan, run_id=run_id,
                                       loaded_at=loaded_at, full_refresh=full_refresh)

    def plan_dbt(self, sources: Sequence[str] | None, select: str | None,
                 full_refresh: bool) -> DbtPlan:
        """Decide the dbt selection: only what is stale, and nothing when nothing changed."""
        fingerprint = self.dbt.fingerprint()
        with self.warehouse.connect() as con:
            built = _state(con, FINGERPRINT_KEY)
            stale = {s for s, in con.execute(
                f"select source from {META}.sources where data_version > built_version"
            ).fetchall()}
            last_run = con.execute(f"select max(run_id) from {META}.runs").fetchone()[0]
        graph = self.graph()
        requested = list(sources) if sources is not None else [s.name for s in
                                                               self.config.sources]
        if select:
            return DbtPlan(tuple(select.split()), f"selection {select!r}",
                           full_refresh=full_refresh)
        if sources is None and (full_refresh or built != fingerprint):
            why = ("full refresh" if full_refresh else "first build" if built is None
                   else "the dbt project changed")
            return DbtPlan((), why, covers=tuple(requested), full_project=True,
                           full_refresh=full_refresh)
        todo = [s for s in requested if s in stale or full_refresh or built != fingerprint]
        if not todo:
            since = f" since run {last_run}" if last_run else ""
            return DbtPlan(None, f"dbt skipped: no new data and no change to the dbt "
                                 f"project{since}")
        selectors = tuple(sel for s in todo for sel in graph.source_selectors(s))
        if not selectors:
            return DbtPlan(None, f"dbt skipped: no dbt model reads {', '.join(todo)}",
                           covers=tuple(todo))
        return DbtPlan(selectors, f"downstream of {', '.join(todo)}", covers=tuple(todo),
                       full_refresh=full_refresh)

    def build(self, plan: DbtPlan) -> list[NodeResult]:
        nodes = self.dbt.build(plan.selectors or (), full_refresh=plan.full_refresh)
        with self.warehouse.connect() as con:
            nodes = [_with_rows(con, n) for n in nodes]
        return nodes

    def finish(self, *, run_id: str, started_at: datetime, nodes: list[NodeResult],
               plan: DbtPlan | None, trigger: str, selection: str,
               notes: Iterable[str] = ()) -> RunResult:
        """Record what the build refreshed and the run itself, then publish the snapshot."""
        notes = list(notes)
        changed = any(n.status != "skipped" for n in nodes)
        with self.warehouse.connect() as con:
            if plan is not None and (plan.selectors is not None or plan.covers):
                self._mark_built(con, plan, nodes)
            finished_at = _now()
            result = RunResult(run_id, started_at, finished_at, tuple(nodes), trigger,
                               selection, tuple(notes))
            if changed:
                _record_run(con, result)
        if changed:
            seconds = self.warehouse.publish()
            log.info("published %s in %.2fs", self.warehouse.published, seconds)
        return result

    def _mark_built(self, con, plan: DbtPlan, nodes: list[NodeResult]) -> None:
        failed = {n.name for n in nodes if n.failed or n.status == "skipped"}
        graph = self.graph()
        for source in plan.covers:
            if not (graph.downstream_names(source) & failed):
                con.execute(f"update {META}.sources set built_version = data_version "
                            f"where source = ?", [source])
        if plan.full_project and not any(n.failed for n in nodes):
            con.execute(f"insert or replace into {META}.state values (?, ?)",
                        [FINGERPRINT_KEY, self.dbt.fingerprint()])


def new_run_id() -> str:
    return _now().strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(2)


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def _state(con, key: str) -> str | None:
    row = con.execute(f"select value from {META}.state where key = ?", [key]).fetchone()
    return row[0] if row else None


def _with_rows(con, node: NodeResult) -> NodeResult:
    if node.kind not in ("model", "seed", "snapshot") or node.failed or not node.relation:
        return node
    schema, name = node.relation.split(".", 1)
    kind = con.execute("select table_type from information_schema.tables "
                       "where table_schema = ? and table_name = ?", [schema, name]).fetchone()
    if not kind or kind[0] != "BASE TABLE":
        return node
    rows = con.execute(f'select count(*) from "{schema}"."{name}"').fetchone()[0]
    return replace(node, rows=rows)


def _record_run(con, result: RunResult) -> None:
    con.execute(f"insert into {META}.runs values (?, ?, ?, ?, ?, ?, ?)",
                [result.run_id, result.trigger, result.selection, result.started_at,
                 result.finished_at, result.status, result.summary()])
    con.executemany(f"insert into {META}.node_results values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [[result.run_id, n.name, n.kind, n.status, n.seconds, n.rows, n.failures,
                      n.message, n.started_at] for n in result.nodes])
