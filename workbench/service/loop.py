"""The serve loop: a Prefect server, the deployments served (or put on a work pool), the
landing watcher, arrivals merged per source, and the service record, until stopped.

Each batch of a source's arrivals (``batches.py``) is announced as one
``workbench.file.arrived`` event; then either this process loads it and builds downstream
in the warm project (``warm.py``), or, with a work pool, the event's automation starts the
load deployment on a worker. Runs still take the warehouse's write lock, so they never
interleave; staging keeps a slow source's share of it to the quick insert of files it has
already read.

Events are not the only trigger: ``catchup.CatchUp`` reads the ledger at start, at each
anchored check and soon after a failed batch, and queues every source with work left, so a
lost event or a killed run is made good within one check (``[service] freshness_every``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from .. import environment
from ..config import WorkbenchConfig, load_config
from ..errors import ConfigError, ServiceError
from ..watch import Arrival, LandingWatcher
from . import record, shared
from .batches import ArrivalBatches
from .catchup import CatchUp
from .events import FILE_ARRIVED, emit
from .logs import quiet_prefect
from .warm import WarmProject, register, unregister

log = logging.getLogger(__name__)
RETRY_AFTER = 30.0      # seconds from a failed batch to the next look at the ledger
STOP_GRACE = 20.0       # seconds a batch under way gets to finish when serve is stopped


def serve(root: Path | str | None = None, *, api_url: str | None = None,
          pool: str | None = None, stop: threading.Event | None = None,
          poll_seconds: float = 1.0, watch_interval: float = 0.5,
          ready: threading.Event | None = None, debounce: float | None = None,
          events: bool = True) -> None:
    """Serve the project's deployments and watch its landing folder until ``stop`` is set,
    Ctrl-C or SIGTERM.

    Args:
        root: the project (found from the working directory if None).
        api_url: a Prefect server; default ``PREFECT_API_URL``, else the project's shared
            local server (``shared.ensure()``), which keeps running after ``serve`` stops.
        pool: a process work pool: register the deployments there for ``prefect worker``
            processes (on this machine or others) to run, instead of running them here.
        stop: set it (from another thread) to shut down cleanly.
        poll_seconds: how often the runner asks the server for runs to start.
        watch_interval: how often the landing folder is listed while a file is being
            written, or always when there are no file-system events.
        ready: set once deployments are registered, dbt is parsed and the watcher runs.
        debounce: seconds a source's arrivals are merged over (default
            ``[service] debounce``).
        events: notice files through file-system events (False: poll only, e.g. on a
            network mount whose events are unreliable).

    Raises:
        ConfigError: ``workbench serve`` already runs for this project.
        ServiceError: the project's local Prefect server did not start.
    """
    config = load_config(root)
    environment.prepare(config.state_dir)
    quiet_prefect()
    running = record.read(config)
    if running is not None and running.pid != os.getpid():
        # A second watcher would announce every file twice, and every load would run twice.
        raise ConfigError(f"workbench serve is already running for {config.root} (pid "
                          f"{running.pid}, Prefect {running.api_url}); stop it first.",
                          pid=running.pid)
    stop = stop or threading.Event()
    api_url = api_url or os.environ.get("PREFECT_API_URL")
    local = not api_url
    if local:   # the project's shared server: found, or started; it outlives this serve
        log.info("using the local Prefect server of %s", shared.home())
        api_url = shared.ensure().url
    elif not shared.answers(api_url.rstrip("/")):
        raise ServiceError(f"workbench serve cannot start: the Prefect server at {api_url} "
                           f"(PREFECT_API_URL) does not answer", api_url=api_url)
    try:
        with _prefect_api(api_url):
            from .deploy import deployments

            print(f"workbench serve: {config.root} on Prefect {api_url}"
                  + (f" (UI {api_url.removesuffix('/api')})" if local else ""), flush=True)
            # sync: to_deployment is async in a loop
            declared = deployments(config, triggered=bool(pool))
            watching = {"interval": watch_interval, "events": events,
                        "debounce": config.service.debounce.total_seconds()
                        if debounce is None else debounce}
            abandoned = asyncio.run(_serve(config, declared, api_url, pool, stop,
                                           poll_seconds, watching, ready))
    except KeyboardInterrupt:
        abandoned = []
    finally:
        record.remove(config)
    if abandoned and threading.current_thread() is threading.main_thread():
        # Told to stop, and a batch still runs after the grace: stop now rather than hang
        # (its run published nothing; the catch-up of the next start does it again).
        log.warning("stopping with the run of %s under way; the next start catches up",
                    ", ".join(abandoned))
        logging.shutdown()
        os._exit(0)


@contextmanager
def _prefect_api(api_url: str) -> Iterator[None]:
    """Point Prefect at ``api_url``: the environment for flow-run subprocesses and new
    threads, the settings context for this thread, and the process's one events worker;
    all restored after.

    The events worker is a process-wide singleton whose thread reads the settings Prefect
    had at import, not this context: in a process that imported Prefect without
    ``PREFECT_API_URL`` (a notebook's ``wb.serve()``, pytest) every event of the in-process
    flow runs, ``workbench.source.stale`` included, was dropped ("EventsWorker failed").
    """
    previous = os.environ.get("PREFECT_API_URL")
    os.environ["PREFECT_API_URL"] = api_url
    from prefect.events.clients import PrefectEventsClient
    from prefect.events.worker import EventsWorker

    EventsWorker.set_client_override(PrefectEventsClient, api_url=api_url)
    try:
        from prefect.settings import PREFECT_API_URL, temporary_settings

        with temporary_settings(updates={PREFECT_API_URL: api_url}):
            yield
    finally:
        EventsWorker.set_client_override(None)
        if previous is None:
            os.environ.pop("PREFECT_API_URL", None)
        else:
            os.environ["PREFECT_API_URL"] = previous


async def _serve(config: WorkbenchConfig, declared: list, api_url: str, pool: str | None,
                 stop: threading.Event, poll_seconds: float, watching: dict,
                 ready: threading.Event | None) -> list[str]:
    """Serve until stopped; the sources whose batch was still under way at the end."""
    from prefect.runner import Runner

    runner, warm = None, None
    if not pool:    # dbt parses while the deployments register
        warm = register(WarmProject(config, api_url))
        warming = asyncio.create_task(asyncio.to_thread(warm.warm_up))
    if pool:
        await _register_on_pool(declared, pool)
    else:
        runner = Runner(name=f"workbench-{config.root.name}"[:60].replace("/", "-"),
                        query_seconds=poll_seconds, pause_on_shutdown=False, limit=None)
        for deployment in declared:
            await runner.aadd_deployment(deployment)

    if warm is not None:
        print(f"workbench serve: dbt parsed in {await warming:.1f}s; arrivals load and "
              f"build here", flush=True)
    announce = _announcer(config, api_url)
    catch_up: CatchUp | None = None

    def handle(source: str, arrivals: list[Arrival]) -> None:
        if warm is None:        # the event is the trigger; a lost one, the catch-up's
            try:
                if arrivals:
                    announce(source, arrivals)
            except Exception as error:
                log.warning("%s; the catch-up starts the load instead", error)
                catch_up.soon(RETRY_AFTER)
            return
        try:                    # the event is for the UI only: the load runs regardless
            if arrivals:
                announce(source, arrivals)
        except Exception as error:
            log.warning("%s", error)
        if not warm.handle(source, arrivals):
            catch_up.soon(RETRY_AFTER)     # after any failure: look at the ledger again

    batches = ArrivalBatches(handle, debounce=watching["debounce"])
    if warm is not None:
        catch_up = CatchUp(config, lambda work: batches.request(work.source),
                           every=config.service.freshness_every.total_seconds(),
                           on_start=warm.check_freshness)
    else:
        from .pooled import check_freshness, requester

        catch_up = CatchUp(config, requester(config, api_url),
                           every=config.service.freshness_every.total_seconds(),
                           on_start=lambda: check_freshness(config, api_url))
    watcher = LandingWatcher(config, batches.add, interval=watching["interval"],
                             events=watching["events"], known=loaded_files(config))
    loop = asyncio.get_running_loop()
    signals = []
    if threading.current_thread() is threading.main_thread():
        # The Runner handles SIGTERM itself; SIGINT the same way, and both without one.
        signals = [signal.SIGINT] if runner else [signal.SIGINT, signal.SIGTERM]
        for number in signals:
            loop.add_signal_handler(number, stop.set)
    runner_task = asyncio.create_task(runner.start()) if runner else None
    watcher.start()
    catch_up.start()
    record.write(config, api_url, pool)
    if ready is not None:
        ready.set()
    print(f"workbench serve: {len(declared)} deployments "
          + (f"on work pool {pool!r} (start workers with `prefect worker start --pool "
             f"{pool}`)" if pool else "served here") + f", watching {config.landing} "
          + ("(file-system events)" if watcher.using_events
             else f"(polling every {watcher.interval:g}s)"), flush=True)
    try:
        while not stop.is_set() and not (runner_task and runner_task.done()):
            await asyncio.sleep(0.2)
    finally:
        watcher.stop()
        catch_up.stop()
        # A batch under way may finish its flow run, within the grace.
        abandoned = await asyncio.to_thread(batches.stop, STOP_GRACE)
        if warm is not None:
            unregister(warm)
        if runner_task is not None:
            await _stop_runner(runner, runner_task)
        for number in signals:
            loop.remove_signal_handler(number)
    return abandoned


async def _stop_runner(runner, task: asyncio.Task) -> None:
    if not task.done():
        if runner.started:
            await runner.astop()
        else:
            task.cancel()
    try:
        await asyncio.wait_for(task, timeout=30)
    except (asyncio.CancelledError, asyncio.TimeoutError):
        pass


async def _register_on_pool(declared: list, pool: str) -> None:
    """Create the process work pool if it is missing and register every deployment on it."""
    from prefect import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound
    from prefect.workers.process import ProcessWorker

    async with get_client() as client:
        try:
            await client.read_work_pool(pool)
        except ObjectNotFound:
            try:
                await client.create_work_pool(WorkPoolCreate(
                    name=pool, type="process",
                    base_job_template=ProcessWorker.get_default_base_job_template()))
            except ObjectAlreadyExists:     # a worker created it meanwhile
                pass
    from . import pooled

    for deployment in declared:     # a run whose worker was killed is found by its silence
        deployment.job_variables = {"env": {"PREFECT_FLOWS_HEARTBEAT_FREQUENCY":
                                            str(pooled.HEARTBEAT)}}
        await deployment.apply(work_pool_name=pool)


def _announcer(config: WorkbenchConfig, api_url: str
               ) -> Callable[[str, list[Arrival]], None]:
    """Emit one ``workbench.file.arrived`` to this server for a batch of a source's files
    (with a work pool, its automation starts the load). It runs in the source's thread,
    which does not see the serve thread's settings context."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    def announce(source: str, arrivals: list[Arrival]) -> None:
        files = [{"path": a.relative, "size": a.size} for a in arrivals]
        with temporary_settings(updates={PREFECT_API_URL: api_url}):
            accepted = emit(FILE_ARRIVED, config, source, {
                "path": files[0]["path"], "size": files[0]["size"], "files": files})
        if not accepted:
            raise ServiceError(f"Prefect at {api_url} did not accept event {FILE_ARRIVED} "
                               f"for {', '.join(f['path'] for f in files)}",
                               event=FILE_ARRIVED)
        log.info("file(s) arrived: %s", ", ".join(f"{f['path']} ({f['size']} bytes)"
                                                  for f in files))

    return announce


def loaded_files(config: WorkbenchConfig) -> dict[tuple[str, str], tuple[int, int]]:
    """What the published warehouse has seen (``ledger.files_seen``): files the watcher need
    not announce again."""
    if not config.published.exists():
        return {}
    from ..ledger import files_seen
    from ..warehouse import Warehouse

    try:
        with Warehouse(config.warehouse, config.published).reading() as con:
            return files_seen(con)
    except Exception:       # an old or empty warehouse: every file counts as new
        log.exception("could not read loaded files; treating every file as new")
        return {}
