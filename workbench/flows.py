"""The Prefect executor: a run is the ``workbench-run`` flow, each unit of work a task in it.

``Pipeline.run`` decides what runs (see ``workbench.pipeline``); this module only wraps it:
the flow is named by what it was asked to do (``workbench run sources: events``), and each
unit of work is a task with a name a person can read in the Prefect UI (``load events``,
``dbt build stg_events +3``, ``step classify_messages``, ``action personalized_messages``).
Loads are retried on I/O errors, never on a bad file.

States are read with ``result(_sync=True)``: in a notebook the kernel's thread has a running
event loop, where Prefect's ``State.result()`` would hand back a coroutine instead.

Without ``PREFECT_API_URL`` runs report to the Prefect home's shared local server
(``service/shared.py``): ``warm_up()`` finds it, or starts it, in the background while dbt
parses, and ``run()`` points Prefect at it for the flow (Prefect reads ``PREFECT_API_URL``
at import; a settings context overrides it for this thread and the tasks' threads,
``on_server``, which ``workbench serve``'s warm flow runs use too).
"""

from __future__ import annotations

import contextlib
import functools
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.settings import PREFECT_API_URL, PREFECT_FLOWS_HEARTBEAT_FREQUENCY
from prefect.states import Cancelled

from .environment import has_prefect_server
from .errors import RunCancelled
from .executors import RETRY_DELAY_SECONDS, retryable
from .prefect_http import run_client
from .prefect_logs import quiet_known_failures
from .progress import Work
from .results import NodeResult

quiet_known_failures()      # our errors are reported once, by us (prefect_logs.py)
T = TypeVar("T")
FRESH_SECONDS = 60.0    # a server found this recently needs no second look before a run
_warm_up_lock = threading.Lock()
_warm_up_thread: _ServerWarmUp | None = None      # the latest look for the shared server


class _ServerWarmUp(threading.Thread):
    """Finds the Prefect home's shared server, or starts it, in the background."""

    def __init__(self) -> None:
        super().__init__(name="workbench-prefect-warm-up", daemon=True)
        self.server = None
        self.error: Exception | None = None
        self.finished_at: float | None = None

    def run(self) -> None:
        from .service import shared

        try:
            self.server = shared.ensure()
        except Exception as error:      # raised in the run's own thread by api_url()
            self.error = error
        finally:
            self.finished_at = time.monotonic()

    @property
    def fresh(self) -> bool:
        return self.finished_at is None or time.monotonic() - self.finished_at < FRESH_SECONDS

    def api_url(self) -> str:
        self.join()
        if self.error is not None:
            raise self.error
        return self.server.url


def _shared_server_url() -> str:
    """The shared server's API URL, from this run's warm-up if it is recent enough."""
    global _warm_up_thread
    with _warm_up_lock:
        if _warm_up_thread is None or not _warm_up_thread.fresh:
            _warm_up_thread = _ServerWarmUp()
            _warm_up_thread.start()
        thread = _warm_up_thread
    return thread.api_url()


_settings_lock = threading.Lock()
_run_settings: tuple[object, str, object] | None = None   # (base, URL, settings for runs)


@contextlib.contextmanager
def on_server(url: str) -> Iterator[None]:
    """Point this thread's Prefect at the server ``url`` for one flow run, cheaply.

    The run's settings skip the exit heartbeat (~1 s a run). They are made once per base
    settings and URL: ``temporary_settings`` would validate a whole new Settings object at
    every run (0.1-0.2 s, and under the GIL: two sources' runs starting together pay it
    twice). The run's client (``prefect_http.run_client``) is made once per run, with a
    TLS context made once and quick retries for a plain-HTTP server. The flow's tasks, in
    the run's worker threads, share that client through the copied context, as they shared
    the flow's own before.
    """
    from prefect.context import SettingsContext, get_settings_context

    global _run_settings
    base = get_settings_context()
    with _settings_lock:
        if _run_settings is None or _run_settings[0] is not base.settings \
                or _run_settings[1] != url:
            _run_settings = (base.settings, url, base.settings.copy_with_update(
                updates={PREFECT_API_URL: url, PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}))
        settings = _run_settings[2]
    with SettingsContext(profile=base.profile, settings=settings), run_client(url):
        yield


def _retry_unless_bad_input(task, task_run, state) -> bool:
    try:
        state.result(_sync=True)
    except Exception as error:
        return retryable(error)
    return False


@task(name="workbench-unit", task_run_name="{label}", cache_policy=NO_CACHE,
      retry_delay_seconds=RETRY_DELAY_SECONDS, retry_condition_fn=_retry_unless_bad_input)
def unit(label: str, function: Callable[[], list[NodeResult]]) -> list[NodeResult]:
    """One unit of work of a run; ``label`` names the task run."""
    return function()


@flow(name="workbench-run", flow_run_name="workbench run {label}", validate_parameters=False,
      log_prints=False)
def run_flow(label: str, body: Callable[[], T]) -> T:
    """Load what changed, build what is stale, run steps and actions, publish."""
    return body()


def _run_flow_on_own_server():
    """``run_flow`` with its result storage named: the Prefect home's local storage, which
    is what Prefect picks on the project's own server (it has no default storage block), but
    without asking the server so at the flow and at each task (~40 ms a time, a tenth of a
    small run). Results are still not persisted."""
    from prefect.settings import get_current_settings

    return _flow_storing_in(Path(get_current_settings().results.local_storage_path))


@functools.cache
def _flow_storing_in(path: Path):
    return run_flow.with_options(result_storage=path, persist_result=False)


class PrefectExecutor:
    """Runs as Prefect flows, units as Prefect tasks, reported to the project's server."""

    def warm_up(self) -> None:
        """Find or start the shared Prefect server in the background (unless
        ``PREFECT_API_URL`` names one, or a look is under way)."""
        global _warm_up_thread
        with _warm_up_lock:
            if has_prefect_server() or (_warm_up_thread is not None
                                        and _warm_up_thread.is_alive()):
                return
            _warm_up_thread = _ServerWarmUp()
            _warm_up_thread.start()

    def run(self, label: str, body: Callable[[], T]) -> T:
        cancelled: list[RunCancelled] = []

        def guarded():
            try:
                return body()
            except RunCancelled as error:   # a cancel is a state, not a crash to log
                cancelled.append(error)
                return Cancelled(message=str(error))

        if has_prefect_server():            # PREFECT_API_URL always wins
            state = run_flow(label, guarded, return_state=True)
        else:
            with on_server(_shared_server_url()):
                state = _run_flow_on_own_server()(label, guarded, return_state=True)
        if cancelled:
            raise cancelled[0]
        return state.result(_sync=True)

    def execute(self, work: Work, function: Callable[[], list[NodeResult]]
                ) -> list[NodeResult]:
        state = unit.with_options(retries=work.retries)(work.label, function,
                                                        return_state=True)
        return state.result(_sync=True)     # raises what the unit raised last

    def __repr__(self) -> str:
        return "PrefectExecutor()"
