"""How each unit of work is done: scan and load a source, a dbt build, a step or an action.

``Pipeline.run`` decides what runs and when; an executor decides where (inline, or as a
Prefect task); the methods here do the work itself. Each returns NodeResults, or raises for
a failure that an executor may retry (a load's I/O error) or report (a bad file).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import logging
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime


from . import loaders
from .config import WorkbenchConfig
from .graph import Graph
from .results import NodeResult
from .steps import STEPS_SCHEMA, StepConfig, StepContext, StepReport, resolve_function
from .transform import DbtProject
from .warehouse import Warehouse, quote

if TYPE_CHECKING:
    import duckdb


class Units:
    """One project's units of work, against its warehouse and dbt project."""

    def __init__(self, config: WorkbenchConfig, warehouse: Warehouse,
                 dbt: Callable[[], DbtProject], graph: Callable[[], Graph]) -> None:
        self.config, self.warehouse = config, warehouse
        self._dbt, self._graph = dbt, graph

    def scan(self, names: Sequence[str], *, full_refresh: bool = False
             ) -> dict[str, loaders.SourceScan]:
        """What is new or changed in each source's landing folder."""
        with self.warehouse.connect() as con:
            return {name: loaders.scan(con, self.config, self.config.source(name),
                                       full_refresh=full_refresh) for name in names}

    def load(self, scan: loaders.SourceScan, *, run_id: str, loaded_at: datetime,
             full_refresh: bool = False) -> NodeResult:
        if not scan.pending:
            return loaders.unchanged(self.config, scan)     # no connection needed
        with self.warehouse.connect() as con:
            return loaders.load_source(con, self.config, scan, run_id=run_id,
                                       loaded_at=loaded_at, full_refresh=full_refresh)

    def build(self, names: Sequence[str], *, full_refresh: bool = False) -> list[NodeResult]:
        """``dbt build`` of exactly these nodes (tests included only when named)."""
        nodes = self._dbt().build(names, exact=True, full_refresh=full_refresh)
        with self.warehouse.connect() as con:
            return _with_rows(con, nodes)

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

    def step(self, kind: str, name: str) -> StepConfig:
        return next(s for s in (*self.config.steps, *self.config.actions)
                    if s.kind == kind and s.name == name)

    def _inputs(self, step: StepConfig) -> dict[str, str]:
        """Input name -> quoted relation, as the step declared its inputs."""
        graph = self._graph()
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


def _step_result(step: StepConfig, report: StepReport | None, seconds: float) -> NodeResult:
    report = report or StepReport()
    failed = bool(report.metrics.get("failed"))
    return NodeResult(step.name, step.kind, "warn" if failed else "success", seconds,
                      rows=report.rows, message=report.message,
                      metrics=dict(report.metrics) or None,
                      relation=f"{STEPS_SCHEMA}.{step.output}" if step.output else None)


def _with_rows(con, nodes: list[NodeResult]) -> list[NodeResult]:
    """The built tables' row counts (views have none), in two statements however many."""
    def counted(n: NodeResult) -> bool:
        return n.kind in ("model", "seed", "snapshot") and not n.failed and bool(n.relation)

    wanted = {n.relation for n in nodes if counted(n)}
    if not wanted:
        return nodes
    tables = sorted(wanted & {f"{schema}.{name}" for schema, name in con.execute(
        "select table_schema, table_name from information_schema.tables "
        "where table_type = 'BASE TABLE'").fetchall()})
    if not tables:
        return nodes
    counts = dict(con.execute(" union all ".join(
        f"select ?, count(*) from {quote(t.split('.', 1)[0])}.{quote(t.split('.', 1)[1])}"
        for t in tables), tables).fetchall())
    return [replace(n, rows=counts[n.relation]) if counted(n) and n.relation in counts
            else n for n in nodes]
