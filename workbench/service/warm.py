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
(read, the slow part) outside it, and only the load and build wait for it. Flow runs also
take turns talking to Prefect as they start and end (``PrefectTurns``).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator, Sequence

from ..api import Workbench
from ..config import WorkbenchConfig
from ..watch import Arrival

log = logging.getLogger(__name__)
ATTEMPTS = 3            # runs of one batch when the error is transient (catchup.transient)
RETRY_SECONDS = 3.0     # the wait before the second attempt; doubled before the third
_projects: dict[str, WarmProject] = {}
_projects_lock = threading.Lock()


class PrefectTurns:
    """The flow runs of this process start and end one at a time.

    Two flow runs created at the same moment (two sources' files landing together) meet
    in the local server's SQLite, and one is refused with a 503 (``prefect_http``): one
    run started 2-3 s late beside a slow source (``benchmarks/service.py``). A run holds
    the turn while Prefect creates and starts it (about 0.1 s) and again while it ends; its
    body, which may take minutes, runs outside it (``working``). Sync flow runs execute in
    the caller's thread, so the turn is the thread's."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._mine = threading.local()

    @contextlib.contextmanager
    def turn(self) -> Iterator[None]:
        """Around a whole flow run: its start and end in turn with the others'."""
        self._take()
        try:
            yield
        finally:
            self._give()

    @contextlib.contextmanager
    def working(self) -> Iterator[None]:
        """Around the flow's body, inside ``turn``: other runs may start and end meanwhile."""
        self._give()
        try:
            yield
        finally:
            self._take()

    def _take(self) -> None:
        self._lock.acquire()
        self._mine.held = True

    def _give(self) -> None:
        if getattr(self._mine, "held", False):
            self._mine.held = False
            self._lock.release()


class WarmProject:
    """One project's ``Workbench``, kept for the life of the serve process."""

    def __init__(self, config: WorkbenchConfig, api_url: str) -> None:
        self.workbench = Workbench(config.root)
        self.api_url = api_url
        self.run_lock = threading.Lock()     # one load-and-build of this process at a time
        self.prefect_turns = PrefectTurns()
        self._alerted: dict[str, str] = {}   # source -> the failure last alerted

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

    def handle(self, source: str, arrivals: Sequence[Arrival]) -> bool:
        """One batch of a source (its arrivals, or a catch-up with none): the
        ``workbench-arrival`` flow run, here, if the warehouse says there is work left.

        Nothing left (the files of a duplicated or retried trigger are loaded, the data
        built): no run. A run that fails on a transient error is tried again, up to
        ``ATTEMPTS`` times; bad input (its files rejected by the load, or an error of the
        input, ``catchup.transient``) is not. A failure left sends an alert
        (``freshness.notify_failed``, once per source and error). False: a transient failure
        outlasted the attempts, so the caller should look again soon.
        Called in the source's thread, which does not see the serve thread's Prefect
        settings: they are set again for each flow run."""
        from .catchup import pending, rejected, transient

        config = self.workbench.config
        work = pending(config, [source]).get(source)
        if work is None:
            log.info("%s: nothing left to load or build%s", source,
                     f" ({len(arrivals)} arrival(s) already loaded)" if arrivals else "")
            return True
        files = [path for path, _size, _mtime in work.files]
        log.info("%s (key %s)", work.describe(), work.key)
        for attempt in range(1, ATTEMPTS + 1):
            error = self._run(source, files)
            if error is None:
                self._alerted.pop(source, None)     # a later failure is news again
                return True
            # Bad input: an error that trying again would meet the same way, or files the
            # load rejected (they fail every run of the source until fixed or removed).
            # Alerted, never retried.
            bad_input = (not transient(error) or bool(rejected(config, error))
                         or pending(config, [source]).get(source) is None)
            if bad_input or attempt == ATTEMPTS:
                break
            log.warning("load and build of %s failed (attempt %d of %d), trying again: %s",
                        source, attempt, ATTEMPTS, error)
            time.sleep(RETRY_SECONDS * attempt)
        self._alert(source, error)
        return bad_input        # bad input waits for new data; a transient error, not long

    def _run(self, source: str, files: list[str]) -> BaseException | None:
        """The flow run; the error it failed with, or None."""
        from ..flows import on_server
        from .flows import load_and_build

        with on_server(self.api_url), self.prefect_turns.turn():
            state = load_and_build(self.root, source, files, return_state=True)
        if not (state.is_failed() or state.is_crashed()):
            return None
        log.error("load and build of %s: %s", source, state.message)
        error = state.result(raise_on_failure=False)
        return error if isinstance(error, BaseException) else RuntimeError(state.message)

    def _alert(self, source: str, error: BaseException) -> None:
        """Tell the operator, through the staleness alerts' channel, once per error."""
        from ..freshness import notify_failed
        from .catchup import reason

        said = reason(error)
        if self._alerted.get(source) == said:
            return
        try:
            notify_failed(self.workbench.config, source, "load and build", said)
            self._alerted[source] = said
        except Exception:
            log.exception("could not send the alert for the failed run of %s", source)

    def check_freshness(self) -> dict:
        """The freshness check, as a flow run of this process (at serve's start)."""
        from prefect.settings import PREFECT_API_URL, temporary_settings

        from .flows import check_freshness

        with temporary_settings(updates={PREFECT_API_URL: self.api_url}):
            return check_freshness(self.root)


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
