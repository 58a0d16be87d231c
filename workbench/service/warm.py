"""The serve process's warm project: triggered runs without a process start or a dbt parse.

A flow-run process pays about 20 s before any work on a busy machine (importing Prefect, the
workbench and dbt, parsing the dbt project); the work of one landed file is 2-3 s. So unless
the deployments run on a work pool (``serve --pool``), ``serve`` handles each batch of
arrivals itself: ``WarmProject`` keeps one ``Workbench`` (its pipeline keeps dbt's manifest
and the graph), parsed once when serving starts, and runs the ``workbench-arrival`` flow
(``flows.load_and_build``) for each batch, from that source's thread (``batches.py``). The
flow run is a real one, with its tasks, states and logs in the Prefect UI.

Runs of one process share one ``Warehouse`` and its file lock, which is re-entrant across
threads, so this module takes turns itself (``run_lock``): a source's files are staged
(read, the slow part) outside it, and only the load and build wait for it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence

from ..api import Workbench
from ..config import WorkbenchConfig
from ..watch import Arrival

log = logging.getLogger(__name__)
_projects: dict[str, WarmProject] = {}
_projects_lock = threading.Lock()


class WarmProject:
    """One project's ``Workbench``, kept for the life of the serve process."""

    def __init__(self, config: WorkbenchConfig, api_url: str) -> None:
        self.workbench = Workbench(config.root)
        self.api_url = api_url
        self.run_lock = threading.Lock()     # one load-and-build of this process at a time

    @property
    def root(self) -> str:
        return str(self.workbench.config.root)

    def warm_up(self) -> float:
        """Import dbt and parse the project now, so the first arrival does not pay it;
        returns the seconds it took."""
        started = time.perf_counter()
        self.workbench.graph()
        import workbench.service.flows  # noqa: F401  (Prefect and the flow, imported once)

        return time.perf_counter() - started

    def handle(self, source: str, arrivals: Sequence[Arrival]) -> None:
        """One batch of a source's arrivals: the ``workbench-arrival`` flow run, here.

        Called in the source's thread, which does not see the serve thread's Prefect
        settings: they are set again for the flow run."""
        from prefect.settings import (PREFECT_API_URL, PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
                                      temporary_settings)

        from .flows import load_and_build

        files = [a.relative for a in arrivals]
        log.info("%d file(s) of %s arrived: %s", len(files), source, ", ".join(files))
        with temporary_settings(updates={PREFECT_API_URL: self.api_url,
                                         PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
            state = load_and_build(self.root, source, files, return_state=True)
        if state.is_failed() or state.is_crashed():
            log.error("load and build of %s: %s", source, state.message)


def register(project: WarmProject) -> WarmProject:
    """Make ``project`` the one the flows of this process use for its root."""
    with _projects_lock:
        _projects[project.root] = project
    return project


def unregister(project: WarmProject) -> None:
    with _projects_lock:
        if _projects.get(project.root) is project:
            del _projects[project.root]


def project(root: str) -> WarmProject:
    """The warm project of ``root`` in this process (``register``)."""
    with _projects_lock:
        found = _projects.get(root)
    if found is None:
        from ..errors import ServiceError

        raise ServiceError(f"no warm project for {root} in this process: the "
                           f"workbench-arrival flow runs inside `workbench serve` only",
                           root=root)
    return found
