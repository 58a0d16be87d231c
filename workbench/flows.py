"""Prefect flows and tasks: thin wrappers over ``pipeline.Pipeline`` and the scheduler.

A run is one flow (``workbench-run``). Each unit of work is a task with a name a person can
read in the Prefect UI: ``load events``, ``dbt build stg_events +3``, ``step classify_messages``,
``action personalized_messages``. The scheduler decides what starts when; these tasks only
call the pipeline. Without ``PREFECT_API_URL`` Prefect starts a temporary local server on
first use (seconds): ``warm_up()`` starts it in the background, overlapping dbt's parsing.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

from .environment import has_prefect_server
from .errors import SourceError
from .pipeline import Pipeline, new_run_id
from .results import NodeResult, RunResult, utc_now
from .scheduler import Scheduler, Work

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


@task(task_run_name="load {source}", retries=2, retry_delay_seconds=1,
      retry_condition_fn=_retry_unless_bad_input, cache_policy=NO_CACHE)
def load_source(pipeline: Pipeline, source: str, scan, run_id: str, loaded_at,
                full_refresh: bool) -> NodeResult:
    return pipeline.load(scan, run_id=run_id, loaded_at=loaded_at, full_refresh=full_refresh)


@task(task_run_name="dbt build {label}", cache_policy=NO_CACHE)
def dbt_build(pipeline: Pipeline, names: Sequence[str], label: str, full_refresh: bool
              ) -> list[NodeResult]:
    return pipeline.build(names, full_refresh=full_refresh)


@task(task_run_name="{kind} {name}", cache_policy=NO_CACHE)
def run_step(pipeline: Pipeline, kind: str, name: str, run_id: str) -> NodeResult:
    steps = {s.name: s for s in (*pipeline.config.steps, *pipeline.config.actions)
             if s.kind == kind}
    return pipeline.run_step(steps[name], run_id=run_id)


def _run_name() -> str:
    """The run's name in the Prefect UI: what it was asked to do."""
    from prefect.runtime import flow_run

    parameters = flow_run.parameters
    select, sources = parameters.get("select"), parameters.get("sources")
    return "workbench run " + (select or (f"sources: {', '.join(sources)}"
                                          if sources is not None else "all"))


@flow(name="workbench-run", flow_run_name=_run_name, validate_parameters=False,
      log_prints=False)
def run_flow(pipeline: Pipeline, sources: Sequence[str] | None = None,
             select: str | None = None, full_refresh: bool = False,
             trigger: str = "manual") -> RunResult:
    """Load what changed, build what is stale, run steps and actions, publish."""
    run_id, started_at = new_run_id(), utc_now()
    selection = select or (f"sources: {', '.join(sources)}" if sources is not None else "all")
    with pipeline.warehouse.writing():
        plan, notes = pipeline.plan(sources, select, full_refresh)
        graph = pipeline.graph()
        names = [graph.nodes[n].name for n in graph.order(plan.selected)
                 if graph.nodes[n].kind == "source"]
        scans = pipeline.scan(names, full_refresh=full_refresh)

        def execute(work: Work) -> list[NodeResult]:
            if work.kind == "source":
                name = work.names[0]
                if not (scans[name].changed or scans[name].touched):
                    return [pipeline.load(scans[name], run_id=run_id, loaded_at=started_at)]
                state = load_source(pipeline, name, scans[name], run_id, started_at,
                                    full_refresh, return_state=True)
            elif work.kind == "dbt":
                label = work.names[0] + (f" +{len(work.names) - 1}" if len(work.names) > 1
                                         else "")
                state = dbt_build(pipeline, work.names, label, full_refresh,
                                  return_state=True)
            else:
                state = run_step(pipeline, work.kind, work.names[0], run_id,
                                 return_state=True)
            return _results_from_state(state, work)

        nodes = Scheduler(graph, plan, execute, on_node=pipeline.emit).run()
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


def _results_from_state(state, work: Work) -> list[NodeResult]:
    try:
        result = state.result()
    except SourceError as error:
        return [NodeResult(work.names[0], "source", "error", message=str(error))]
    except Exception as error:  # a failure that outlived its retries
        return [NodeResult(name, work.kind if work.kind != "dbt" else "model", "error",
                           message=f"{type(error).__name__}: {error}") for name in work.names]
    return result if isinstance(result, list) else [result]
