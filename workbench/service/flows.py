"""The four flows ``workbench serve`` deploys. Thin: each opens the project and calls the
facade; what runs when is decided by the triggers in ``deploy.py``.

Deployments name these flows by module path (``workbench.service.flows.load_source``): a
flow-run process imports this module, after ``environment.prepare`` gave Prefect its home
(the serve process sets ``PREFECT_HOME`` in the environment its flow runs inherit). This is
the only module of the service that imports Prefect at its top.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from filelock import FileLock
from prefect import flow, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE

from ..api import Workbench
from ..config import RUN_ANSWER
from ..errors import ServiceError
from ..flows import PrefectExecutor
from ..freshness import human, newly_stale, notify_failed, notify_stale, remember
from ..loaders import stage_source
from . import warm
from .events import SOURCE_LOADED, SOURCE_STALE, emit, source_of
from .logs import route_to_prefect

log = logging.getLogger(__name__)
route_to_prefect()      # the workbench's lines in each flow run's logs, in the UI

ARRIVAL_FLOW = "workbench-arrival"
LOAD_FLOW = "workbench-load"
BUILD_FLOW = "workbench-build-downstream"
FRESHNESS_FLOW = "workbench-freshness"
ANSWER_FLOW = "workbench-answer-stale"
ALL_STALE = "all stale sources"     # the default `source` of a run started from the UI


class _InThisFlow(PrefectExecutor):
    """The run's units as tasks of the flow run already under way (no flow of its own)."""

    def warm_up(self) -> None:
        pass

    def run(self, label, body):
        return body()


@task(name="workbench-stage", task_run_name="stage {source}", cache_policy=NO_CACHE)
def _stage(root: str, source: str) -> dict:
    staged = stage_source(warm.project(root).workbench.config, source)
    return {"staged": list(staged.files), "left_to_the_load": list(staged.failed),
            "seconds": round(staged.seconds, 3)}


@flow(name=ARRIVAL_FLOW, flow_run_name="load and build {source}", log_prints=False)
def load_and_build(root: str, source: str, files: list[str]) -> dict:
    """A batch of ``files`` landed for ``source``: load it and build what is downstream, in
    the warm ``workbench serve`` process (``warm.py``), as one flow run.

    The files are staged first, outside the write lock; then one run loads and builds
    (``Workbench.run(sources=[source])``: one lock, one publish), its units tasks of this
    flow run. ``workbench.source.loaded`` is emitted when the load brought rows."""
    project = warm.project(root)
    with project.prefect_turns.working():
        staged = _stage(root, source)
        log.info("%s: %d file(s) staged in %.2fs", source, len(staged["staged"]),
                 staged["seconds"])
        with project.run_lock:
            result = project.workbench.run(sources=[source], trigger="service",
                                           executor=_InThisFlow())
        node = result.node(source)
        log.info("%s: %s (run %s)", source, result.summary(), result.run_id)
        if node.status == "success":
            emit(SOURCE_LOADED, project.workbench.config, source,
                 {"rows": node.rows, "files": (node.metrics or {}).get("files"),
                  "run_id": result.run_id})
        result.raise_for_failures()
    return {"source": source, "files": files, "run_id": result.run_id,
            "rows": node.rows, "summary": result.summary(), **staged}


@flow(name=LOAD_FLOW, flow_run_name="load {source}", log_prints=False)
def load_source(root: str, source: str) -> dict:
    """Load one source's new files (nothing else); announce it if it brought data.

    The files are read first, without the write lock (``loaders.stage``), so a slow source
    holds the lock only for the quick insert of what it already read. A failure is alerted
    through ``[service] notify``."""
    workbench = Workbench(root)
    with _alerting(workbench, source, "load"):
        staged = stage_source(workbench.config, source)
        result = workbench.run(select=f"loader:{source}", trigger="service")
        node = result.node(source)
        log.info("load %s: %s (run %s)", source, result.summary(), result.run_id)
        loaded = node.status == "success"
        if loaded:
            emit(SOURCE_LOADED, workbench.config, source,
                 {"rows": node.rows, "files": (node.metrics or {}).get("files"),
                  "run_id": result.run_id})
        result.raise_for_failures()
    return {"source": source, "loaded": loaded, "rows": node.rows, "run_id": result.run_id,
            "status": node.status, "staged_seconds": round(staged.seconds, 3)}


@flow(name=BUILD_FLOW, flow_run_name="build downstream of {source}", log_prints=False)
def build_downstream(root: str, source: str = ALL_STALE) -> dict:
    """Build exactly what one source's new data made stale (it loads nothing new); by
    default (a run started from the UI) what every source with unbuilt data made stale."""
    workbench = Workbench(root)
    sources = _stale(workbench) if source == ALL_STALE else [source_of(source)]
    if not sources:
        log.info("every source's data is built; nothing to do")
        return {"source": source, "run_id": None, "summary": "nothing to build"}
    with _alerting(workbench, ", ".join(sources), "build"):
        result = workbench.run(sources=sources, trigger="service")
        log.info("build downstream of %s: %s (run %s)", ", ".join(sources),
                 result.summary(), result.run_id)
        result.raise_for_failures()
    return {"source": source, "run_id": result.run_id, "summary": result.summary()}


def _stale(workbench: Workbench) -> list[str]:
    from .catchup import pending

    return [work.source for work in pending(workbench.config).values() if work.unbuilt]


@contextmanager
def _alerting(workbench: Workbench, source: str, what: str) -> Iterator[None]:
    """A failure of the block is alerted (``freshness.notify_failed``), then raised."""
    try:
        yield
    except Exception as error:
        try:
            notify_failed(workbench.config, source, what, f"{type(error).__name__}: {error}")
        except Exception:
            log.exception("could not send the alert for the failed %s of %s", what, source)
        raise


@flow(name=FRESHNESS_FLOW, flow_run_name="check freshness", log_prints=False)
def check_freshness(root: str) -> dict:
    """Compare every source with its SLA; announce each source that has just gone stale.

    Announced once per episode (the last states are kept in ``.workbench/``), so a late
    source gets one answer, and another only after it was fresh again."""
    workbench = Workbench(root)
    report = workbench.freshness()
    memory = workbench.config.state_dir / "freshness.json"
    create_table_artifact(
        key="workbench-freshness", description="Each source against its SLA",
        table=report.to_pandas().astype(object).where(lambda f: f.notna(), None)
        .to_dict(orient="records"))
    with FileLock(str(memory.with_suffix(".lock")), timeout=120):  # one check at a time
        announced = newly_stale(report, memory)
        for item in announced:
            log.info("%s is stale: last load %s, %s ago", item.source,
                     item.last_loaded_at.isoformat(), human(item.age))
            emit(SOURCE_STALE, workbench.config, item.source, {
                "state": item.state, "age_seconds": item.age.total_seconds(),
                "error_after_seconds": item.error_after.total_seconds(),
                "last_loaded_at": item.last_loaded_at.isoformat()})
        remember(report, memory)
    return {"stale": [i.source for i in announced], "late": report.late()}


@flow(name=ANSWER_FLOW, flow_run_name="answer stale {source}", log_prints=False)
def answer_stale(root: str, source: str = ALL_STALE) -> dict:
    """Do what the project configured for a stale source: reload, notify, run. Every answer
    is tried; the run fails at the end if any of them did. An alert goes out only if the
    source is still stale after the answers before it (a reload may have fixed it). By
    default (a run started from the UI) every source past its SLA is answered."""
    workbench = Workbench(root)
    if source == ALL_STALE:
        late = [i.source for i in workbench.freshness() if i.state == "stale"]
        return {"source": source, "answers": {name: answer_stale(root, name)["answers"]
                                              for name in late}}
    source = source_of(source)
    done, failed = {}, {}
    for answer in workbench.config.stale_answers(source):
        try:
            if answer == "reload":
                done[answer] = load_source(root, source)["status"]
            elif answer == "notify":
                item = workbench.freshness()[source]
                done[answer] = (notify_stale(workbench.config, item)
                                if item.state == "stale" else f"not sent: {item.state}")
            else:
                result = workbench.run(select=answer.removeprefix(RUN_ANSWER).strip(),
                                       trigger="service")
                result.raise_for_failures()
                done[answer] = result.summary()
        except Exception as error:      # the other answers still run
            log.exception("answer %r to stale source %s failed", answer, source)
            failed[answer] = f"{type(error).__name__}: {error}"
    if failed:
        raise ServiceError(f"stale source {source}: answers failed: {failed}",
                           source=source, failed=failed)
    return {"source": source, "answers": done}
