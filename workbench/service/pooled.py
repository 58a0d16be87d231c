"""Catch-up with a work pool (``serve --pool``): work left becomes deployment runs.

Without a pool the serve process loads and builds itself (``warm.py``). With one, the
workers run the deployments, so a source's work left (``catchup.Work``) becomes a run of its
load deployment (files not loaded) or of build-downstream (data not built), created with the
work's idempotency key: a second request for the same work returns the run already created
and starts nothing. Only when that run ended without success is another created, with the
key and an attempt number, up to ``ATTEMPTS`` (the deployment's errors of bad input fail
every attempt the same way; after that the next new file makes new work).

A run can also be left "running" for good: its worker and flow-run process were killed (a
SIGKILL, a reboot), and Prefect has nobody to say it ended; it holds its deployment's one
concurrency slot, so every later run of that deployment would wait behind it. Flow runs on
the pool send a heartbeat every ``HEARTBEAT`` seconds (the deployments' job variables,
``deploy.py``); before it creates a run, the catch-up marks each run of that deployment
under way but silent for ``SILENT`` seconds as Crashed (its slot is freed), and asks to look
again once a run under way that may still be alive would have gone silent.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

from ..config import WorkbenchConfig
from .catchup import Work
from .deploy import BUILD_DEPLOYMENT, FRESHNESS_DEPLOYMENT, deployment_name

log = logging.getLogger(__name__)
ATTEMPTS = 3
HEARTBEAT = 30          # seconds between a pool flow run's heartbeats (Prefect's minimum)
SILENT = 3 * HEARTBEAT  # seconds without a heartbeat after which a run under way is dead
UNDER_WAY = ("RUNNING", "PENDING")


def requester(config: WorkbenchConfig, api_url: str) -> Callable[[Work], float | None]:
    """``request(work)``: create (or find) the deployment run that does ``work``; the
    seconds after which to look again when a run of that deployment is under way and may
    yet turn out dead."""
    from prefect.deployments import run_deployment
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from .flows import BUILD_FLOW, LOAD_FLOW

    def request(work: Work) -> float | None:
        if work.files:
            name = f"{LOAD_FLOW}/{deployment_name(config, f'load-{work.source}')}"
        else:
            name = f"{BUILD_FLOW}/{deployment_name(config, BUILD_DEPLOYMENT)}"
        parameters = {"root": str(config.root), "source": work.source}
        with temporary_settings(updates={PREFECT_API_URL: api_url}):
            # Runs left "running" by a killed worker hold the deployment's one slot: the
            # run created below would wait behind them for good.
            again = _reap(name)
            for attempt in range(ATTEMPTS):
                key = work.key if attempt == 0 else f"{work.key}#{attempt + 1}"
                run = run_deployment(name, parameters=parameters, idempotency_key=key,
                                     timeout=0, as_subflow=False)
                state = run.state
                if state is None or not state.is_final() or state.is_completed():
                    log.info("catch-up: %s is run %s (%s)", work.describe(), run.name,
                             state.type.value if state else "new")
                    return again
            log.warning("catch-up: %s failed %d times; waiting for new data", work.describe(),
                        ATTEMPTS)
        return again

    return request


def _reap(name: str) -> float | None:
    """Mark the runs of deployment ``name`` (flow/deployment) that are under way but have
    been silent for ``SILENT`` seconds as Crashed (their concurrency slot is freed); the
    seconds until the next one still heard from would go silent, or None."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (DeploymentFilter, DeploymentFilterName,
                                                FlowRunFilter, FlowRunFilterState,
                                                FlowRunFilterStateType)
    from prefect.client.schemas.objects import StateType

    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            deployment_filter=DeploymentFilter(name=DeploymentFilterName(
                any_=[name.split("/", 1)[1]])),
            flow_run_filter=FlowRunFilter(state=FlowRunFilterState(
                type=FlowRunFilterStateType(any_=[StateType(s) for s in UNDER_WAY]))))
        again = None
        for run in runs:
            silent = _silence(client, run)
            if silent >= SILENT:
                _crash(client, run, silent)
            else:
                again = min(again or SILENT, SILENT - silent + 1.0)
                log.info("catch-up: run %s is %s, heard from %.0fs ago", run.name,
                         run.state.type.value, silent)
    return again


def _silence(client, run) -> float:
    """Seconds since ``run`` last gave a sign of life: its last heartbeat event, else when it
    entered its state."""
    from prefect.events.filters import (EventFilter, EventNameFilter, EventOccurredFilter,
                                        EventResourceFilter)

    now = datetime.now(timezone.utc)
    latest = run.state.timestamp
    page = client.read_events(filter=EventFilter(
        occurred=EventOccurredFilter(since=now - timedelta(seconds=4 * SILENT)),
        event=EventNameFilter(name=["prefect.flow-run.heartbeat"]),
        resource=EventResourceFilter(id=[f"prefect.flow-run.{run.id}"])), limit=50)
    for event in page.events:
        latest = max(latest, event.occurred)
    return (now - latest).total_seconds()


def _crash(client, run, silent: float) -> None:
    """Mark a run whose process is gone as Crashed."""
    from prefect.states import Crashed

    message = (f"no heartbeat for {silent:.0f}s: its process is gone (a worker killed?); "
               f"workbench serve's catch-up runs the work again")
    log.warning("catch-up: run %s %s", run.name, message)
    client.set_flow_run_state(run.id, Crashed(message=message), force=True)


def check_freshness(config: WorkbenchConfig, api_url: str) -> None:
    """Start a run of the freshness check now (serve's check at start)."""
    from prefect.deployments import run_deployment
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from .flows import FRESHNESS_FLOW

    with temporary_settings(updates={PREFECT_API_URL: api_url}):
        run_deployment(f"{FRESHNESS_FLOW}/{deployment_name(config, FRESHNESS_DEPLOYMENT)}",
                       parameters={"root": str(config.root)}, timeout=0, as_subflow=False)
