"""Prefect flows and tasks: thin wrappers over ``pipeline.Pipeline``.

A run is one flow (``workbench-run``); each source load and each dbt invocation is a task
with a name a person can read in the Prefect UI. Without ``PREFECT_API_URL`` Prefect starts
a temporary local server on first use (seconds): ``warm_up()`` starts it in the background
so that it overlaps with dbt's parsing.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

from .environment import has_prefect_server
from .errors import SourceError
from .pipeline import DbtPlan, Pipeline, _now, new_run_id
from .results import NodeResult, RunResult

_warm_up_thread: threading.Thread | None = None


def _retry_unless_bad_input(task, task_run, state) -> bool:
    """Retry loads on I/O hiccups, never on a bad file: it will be just as bad next time."""
    try:
        state.result()
    except SourceError:
        return False
    except Exception:
        return True
    return False


@task(task_run_name="load {scan.source.name}", retries=2, retry_delay_seconds=1,
      retry_condition_fn=_retry_unless_bad_input, cache_policy=NO_CACHE)
def load_source(pipeline: Pipeline, scan, run_id: str, loaded_at, full_refresh: bool
                ) -> NodeResult:
    return pipeline.load(scan, run_id=run_id, loaded_at=loaded_at, full_refresh=full_refresh)


@task(task_run_name="dbt build ({plan.reason})", cache_policy=NO_CACHE)
def dbt_build(pipeline: Pipeline, plan: DbtPlan) -> list[NodeResult]:
    return pipeline.build(plan)


@flow(name="workbench-run", validate_parameters=False, log_prints=False)
def run_flow(pipeline: Pipeline, sources: Sequence[str] | None = None,
             select: str | None = None, full_refresh: bool = False,
             trigger: str = "manual") -> RunResult:
    """Load what changed, build what is stale, record the run and publish the snapshot."""
    run_id, started_at = new_run_id(), _now()
    names = list(sources) if sources is not None else [s.name for s in
                                                       pipeline.config.sources]
    selection = select or (f"sources: {', '.join(names)}" if sources is not None else "all")
    nodes: list[NodeResult] = []
    notes: list[str] = []
    with pipeline.warehouse.writing():
        scans = pipeline.scan(names, full_refresh=full_refresh)
        for name, scan in scans.items():
            if not (scan.changed or scan.touched):
                node = NodeResult(name, "source", "skipped", message="no new or changed files")
            else:
                state = load_source(pipeline, scan, run_id, started_at, full_refresh,
                                    return_state=True)
                node = _node_from_state(state, name)
            nodes.append(node)
            pipeline.emit(node)
        plan = pipeline.plan_dbt(sources, select, full_refresh)
        if plan.selectors is None:
            notes.append(plan.reason)
            nodes.append(NodeResult("dbt build", "dbt", "skipped", message=plan.reason))
        else:
            for node in dbt_build(pipeline, plan):
                nodes.append(node)
                pipeline.emit(node)
        return pipeline.finish(run_id=run_id, started_at=started_at, nodes=nodes, plan=plan,
                               trigger=trigger, selection=selection, notes=notes)


def run(pipeline: Pipeline, **kwargs) -> RunResult:
    """Run the flow; with no Prefect server, skip the exit heartbeat that costs ~1 s a run."""
    if _warm_up_thread is not None:
        _warm_up_thread.join()   # the server singleton is not usable until started
    if has_prefect_server():
        return run_flow(pipeline, **kwargs)
    with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        return run_flow(pipeline, **kwargs)


def warm_up() -> None:
    """Start Prefect's temporary server in the background (once per process)."""
    global _warm_up_thread
    if has_prefect_server() or _warm_up_thread is not None:
        return

    def start() -> None:
        from prefect.server.api.server import SubprocessASGIServer

        SubprocessASGIServer().start()

    _warm_up_thread = threading.Thread(target=start, name="workbench-prefect-warm-up",
                                       daemon=True)
    _warm_up_thread.start()


def _node_from_state(state, name: str) -> NodeResult:
    try:
        return state.result()
    except SourceError as error:
        return NodeResult(name, "source", "error", message=str(error))
    except Exception as error:  # an I/O failure that outlived its retries
        return NodeResult(name, "source", "error", message=f"{type(error).__name__}: {error}")
