"""Catch-up with a work pool (``serve --pool``): work left becomes deployment runs.

Without a pool the serve process loads and builds itself (``warm.py``). With one, the
workers run the deployments, so a source's work left (``catchup.Work``) becomes a run of its
load deployment (files not loaded) or of build-downstream (data not built), created with the
work's idempotency key: a second request for the same work returns the run already created
and starts nothing. Only when that run ended without success is another created, with the
key and an attempt number, up to ``ATTEMPTS`` (the deployment's errors of bad input fail
every attempt the same way; after that the next new file makes new work).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from ..config import WorkbenchConfig
from .catchup import Work
from .deploy import BUILD_DEPLOYMENT, FRESHNESS_DEPLOYMENT, deployment_name

log = logging.getLogger(__name__)
ATTEMPTS = 3


def requester(config: WorkbenchConfig, api_url: str) -> Callable[[Work], None]:
    """``request(work)``: create (or find) the deployment run that does ``work``."""
    from prefect.deployments import run_deployment
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from .flows import BUILD_FLOW, LOAD_FLOW

    def request(work: Work) -> None:
        if work.files:
            name = f"{LOAD_FLOW}/{deployment_name(config, f'load-{work.source}')}"
        else:
            name = f"{BUILD_FLOW}/{deployment_name(config, BUILD_DEPLOYMENT)}"
        parameters = {"root": str(config.root), "source": work.source}
        with temporary_settings(updates={PREFECT_API_URL: api_url}):
            for attempt in range(ATTEMPTS):
                key = work.key if attempt == 0 else f"{work.key}#{attempt + 1}"
                run = run_deployment(name, parameters=parameters, idempotency_key=key,
                                     timeout=0, as_subflow=False)
                state = run.state
                if state is None or not state.is_final() or state.is_completed():
                    log.info("catch-up: %s is run %s (%s)", work.describe(), run.name,
                             state.type.value if state else "new")
                    return
            log.warning("catch-up: %s failed %d times; waiting for new data", work.describe(),
                        ATTEMPTS)

    return request


def check_freshness(config: WorkbenchConfig, api_url: str) -> None:
    """Start a run of the freshness check now (serve's check at start)."""
    from prefect.deployments import run_deployment
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from .flows import FRESHNESS_FLOW

    with temporary_settings(updates={PREFECT_API_URL: api_url}):
        run_deployment(f"{FRESHNESS_FLOW}/{deployment_name(config, FRESHNESS_DEPLOYMENT)}",
                       parameters={"root": str(config.root)}, timeout=0, as_subflow=False)
