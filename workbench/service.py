"""``workbench serve``: files arrive, sources load, downstream builds; late sources answered.

One long-lived process that

* uses the Prefect server at ``PREFECT_API_URL``, or starts one of its own on 127.0.0.1
  (database and home under ``.workbench/prefect-server/``) and stops it on exit;
* registers deployments declared here, in code:

  - ``workbench-load/load-<source>@<project>``, one per source, triggered by the event
    ``workbench.file.arrived`` about resource ``workbench.source.<source>`` of this project
    (label ``workbench.project``: projects can share a server). It stages the new
    files outside the write lock (``loaders.stage``), then runs
    ``Workbench(root).run(select="source:<source>")`` (the load only) and, when that loaded
    something, emits ``workbench.source.loaded`` (same resource; payload rows, files, run_id);
  - ``workbench-build-downstream/build-downstream``, triggered by any
    ``workbench.source.loaded``, with the source taken from the event's resource. It runs
    ``Workbench(root).run(sources=[source])``: nothing new to load, so it builds exactly what
    that source's new data made stale;
  - ``workbench-freshness/check-freshness``, on an interval schedule: emits
    ``workbench.source.stale`` for each source that has just gone past its SLA;
  - ``workbench-answer-stale/answer-stale``, triggered by ``workbench.source.stale``: reload,
    notify or run, as ``on_stale`` says for that source;

* serves them (a Prefect ``Runner`` in this process; each flow run is a subprocess), or, with
  ``pool``, registers them on a process work pool for ``prefect worker`` processes to run;
* watches ``data/landing/`` (``watch.LandingWatcher``) and emits ``workbench.file.arrived``
  once per complete new or changed file;
* writes ``.workbench/service.json`` (server URL, pid, pool) for ``workbench status``.

Runs still take the warehouse's write lock, so they never interleave; staging keeps a slow
source's share of it to the quick insert of files it has already read.

Prefect is imported lazily (the flows are made on first use) so that ``environment.prepare``
can give Prefect its home inside the project before Prefect reads its settings.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from functools import cache
from pathlib import Path
from typing import Any

from . import environment
from .config import RUN_ANSWER, WorkbenchConfig, load_config
from .errors import ConfigError

log = logging.getLogger(__name__)

FILE_ARRIVED = "workbench.file.arrived"
SOURCE_LOADED = "workbench.source.loaded"
SOURCE_STALE = "workbench.source.stale"
RESOURCE_PREFIX = "workbench.source."
LOAD_FLOW = "workbench-load"
BUILD_FLOW = "workbench-build-downstream"
BUILD_DEPLOYMENT = "build-downstream"
FRESHNESS_FLOW = "workbench-freshness"
FRESHNESS_DEPLOYMENT = "check-freshness"
ANSWER_FLOW = "workbench-answer-stale"
ANSWER_DEPLOYMENT = "answer-stale"
SERVICE_FILE = "service.json"       # under .workbench/ while `workbench serve` runs
SERVER_START_TIMEOUT = 120.0


def resource(config: WorkbenchConfig, source: str) -> dict[str, str]:
    """The Prefect event resource of a source: ``workbench.source.<name>``, labelled with
    its project so that triggers answer only their own project's events."""
    return {"prefect.resource.id": f"{RESOURCE_PREFIX}{source}",
            "prefect.resource.name": source, "workbench.source": source,
            "workbench.project": config.project}


def deployment_name(config: WorkbenchConfig, name: str) -> str:
    """``load-events@sales``: projects sharing a server keep their deployments apart."""
    return f"{name}@{config.project}"


def project_tag(config: WorkbenchConfig) -> str:
    """The tag on every deployment of this project (``wb.server()`` filters on it)."""
    return f"workbench-project:{config.project}"


# -- the flows the deployments run --------------------------------------------------------------
@cache
def _flows() -> dict[str, Any]:
    from prefect import flow

    @flow(name=LOAD_FLOW, flow_run_name="load {source}", log_prints=False)
    def load_source(root: str, source: str) -> dict:
        """Load one source's new files (nothing else); announce it if it brought data.

        The files are read first, without the write lock (``loaders.stage``), so a slow
        source holds the lock only for the quick insert of what it already read."""
        from prefect.events import emit_event

        from .api import Workbench
        from .loaders import stage_source

        workbench = Workbench(root)
        staged = stage_source(workbench.config, source)
        result = workbench.run(select=f"source:{source}", trigger="service")
        node = result.node(source)
        loaded = node.status == "success"
        if loaded:
            emit_event(SOURCE_LOADED, resource=resource(workbench.config, source),
                       payload={"rows": node.rows, "files": (node.metrics or {}).get("files"),
                                "run_id": result.run_id})
        result.raise_for_failures()
        return {"source": source, "loaded": loaded, "rows": node.rows,
                "run_id": result.run_id, "status": node.status,
                "staged_seconds": round(staged.seconds, 3)}

    @flow(name=BUILD_FLOW, flow_run_name="build downstream of {source}", log_prints=False)
    def build_downstream(root: str, source: str) -> dict:
        """Build exactly what one source's new data made stale (it loads nothing new)."""
        from .api import Workbench

        source = source.removeprefix(RESOURCE_PREFIX)
        result = Workbench(root).run(sources=[source], trigger="service")
        result.raise_for_failures()
        return {"source": source, "run_id": result.run_id, "summary": result.summary()}

    @flow(name=FRESHNESS_FLOW, flow_run_name="check freshness", log_prints=False)
    def check_freshness(root: str) -> dict:
        """Compare every source with its SLA; announce each source that has just gone stale.

        Announced once per episode (the last states are kept in ``.workbench/``), so a late
        source gets one answer, and another only after it was fresh again."""
        from prefect.artifacts import create_table_artifact
        from prefect.events import emit_event

        from .api import Workbench
        from .freshness import newly_stale, remember

        workbench = Workbench(root)
        report = workbench.freshness()
        memory = workbench.config.state_dir / "freshness.json"
        create_table_artifact(
            key="workbench-freshness", description="Each source against its SLA",
            table=report.to_pandas().astype(object).where(lambda f: f.notna(), None)
            .to_dict(orient="records"))
        announced = newly_stale(report, memory)
        for item in announced:
            emit_event(SOURCE_STALE, resource=resource(workbench.config, item.source), payload={
                "state": item.state, "age_seconds": item.age.total_seconds(),
                "error_after_seconds": item.error_after.total_seconds(),
                "last_loaded_at": item.last_loaded_at.isoformat()})
        remember(report, memory)
        return {"stale": [i.source for i in announced], "late": report.late()}

    @flow(name=ANSWER_FLOW, flow_run_name="answer stale {source}", log_prints=False)
    def answer_stale(root: str, source: str) -> dict:
        """Do what the project configured for a stale source: reload, notify, run. Every
        answer is tried; the run fails at the end if any of them did. An alert goes out only
        if the source is still stale after the answers before it (a reload may have fixed it).
        """
        from .api import Workbench
        from .freshness import notify_stale

        source = source.removeprefix(RESOURCE_PREFIX)
        workbench = Workbench(root)
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
            raise RuntimeError(f"stale source {source}: answers failed: {failed}")
        return {"source": source, "answers": done}

    return {"load_source": load_source, "build_downstream": build_downstream,
            "check_freshness": check_freshness, "answer_stale": answer_stale}


def __getattr__(name: str) -> Any:
    # Deployments name their flows by module path (workbench.service.load_source); the flow
    # run subprocess imports this module and resolves the flow here.
    if name in ("load_source", "build_downstream", "check_freshness", "answer_stale"):
        return _flows()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def deployments(config: WorkbenchConfig) -> list:
    """The deployments the service registers, with their event triggers."""
    from prefect.client.schemas.objects import ConcurrencyLimitConfig
    from prefect.events import DeploymentEventTrigger
    from prefect.types.entrypoint import EntrypointType

    flows = _flows()
    root = str(config.root)
    ours = {"workbench.project": config.project}
    common = {"tags": ["workbench", project_tag(config)],
              "entrypoint_type": EntrypointType.MODULE_PATH}
    from_event = {"root": root, "source": "{{ event.resource['workbench.source'] }}"}
    declared = []
    for source in config.sources:
        declared.append(flows["load_source"].to_deployment(
            name=deployment_name(config, f"load-{source.name}"),
            parameters={"root": root, "source": source.name},
            triggers=[DeploymentEventTrigger(
                name=f"workbench: {source.name} file arrived",
                expect={FILE_ARRIVED},
                match={"prefect.resource.id": f"{RESOURCE_PREFIX}{source.name}", **ours},
                parameters={"root": root, "source": source.name})],
            description=f"Load new files of source {source.name} into the warehouse.",
            **common))
    declared.append(flows["build_downstream"].to_deployment(
        name=deployment_name(config, BUILD_DEPLOYMENT),
        parameters={"root": root},
        triggers=[DeploymentEventTrigger(
            name="workbench: source loaded", expect={SOURCE_LOADED},
            match={"prefect.resource.id": f"{RESOURCE_PREFIX}*", **ours},
            parameters=from_event)],
        description="Build what is downstream of a source that just loaded new data.",
        **common))
    declared.append(flows["check_freshness"].to_deployment(
        name=deployment_name(config, FRESHNESS_DEPLOYMENT), parameters={"root": root},
        interval=config.service.freshness_every,
        # One at a time; checks that fell due while nobody served them are dropped, not run
        # all at once when serving starts again.
        concurrency_limit=ConcurrencyLimitConfig(limit=1, collision_strategy="CANCEL_NEW"),
        description="Compare every source with its SLA; emit workbench.source.stale.",
        **common))
    answered = [s.name for s in config.sources if config.stale_answers(s.name)]
    declared.append(flows["answer_stale"].to_deployment(
        name=deployment_name(config, ANSWER_DEPLOYMENT), parameters={"root": root},
        triggers=[DeploymentEventTrigger(
            name="workbench: source stale", expect={SOURCE_STALE},
            match={"prefect.resource.id": [f"{RESOURCE_PREFIX}{name}" for name in answered],
                   **ours},
            parameters=from_event)] if answered else [],
        description="Answer a stale source as [service] on_stale says: reload, notify, run.",
        **common))
    return declared


# -- a Prefect server of our own ----------------------------------------------------------------
class LocalPrefectServer:
    """``prefect server start`` on 127.0.0.1 and a free port, home under the project."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.process: subprocess.Popen | None = None
        self.url: str | None = None

    def start(self, timeout: float = SERVER_START_TIMEOUT) -> str:
        import httpx

        self.home.mkdir(parents=True, exist_ok=True)
        port = free_port()
        env = {**os.environ, "PREFECT_HOME": str(self.home)}
        env.pop("PREFECT_API_URL", None)
        env.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
        prefect = Path(sys.executable).parent / "prefect"
        command = [str(prefect)] if prefect.exists() else [sys.executable, "-m", "prefect"]
        log_file = open(self.home / "server.log", "ab")   # noqa: SIM115 (kept while it runs)
        self.process = subprocess.Popen(
            [*command, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
            env=env, stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log_file.close()
        self.url = f"http://127.0.0.1:{port}/api"
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"prefect server exited at start-up (code "
                                   f"{self.process.returncode}); see {self.home / 'server.log'}")
            try:
                if httpx.get(f"{self.url}/ready", timeout=2).status_code == 200:  # DB too
                    return self.url
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"prefect server did not answer in {timeout:.0f}s; see "
                                   f"{self.home / 'server.log'}")
            time.sleep(0.3)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- serve --------------------------------------------------------------------------------------
def serve(root: Path | str | None = None, *, api_url: str | None = None,
          pool: str | None = None, stop: threading.Event | None = None,
          poll_seconds: float = 1.0, watch_interval: float = 0.5,
          ready: threading.Event | None = None) -> None:
    """Serve the project's deployments and watch its landing folder until ``stop`` is set,
    Ctrl-C or SIGTERM.

    Args:
        root: the project (found from the working directory if None).
        api_url: a Prefect server; default ``PREFECT_API_URL``, else a server of our own.
        pool: a process work pool: register the deployments there for ``prefect worker``
            processes (on this machine or others) to run, instead of running them here.
        stop: set it (from another thread) to shut down cleanly.
        poll_seconds: how often the runner asks the server for runs to start.
        watch_interval: how often the landing folder is listed.
        ready: set once deployments are registered and the watcher is running.
    """
    from .server_status import service_file

    config = load_config(root)
    environment.prepare(config.state_dir)
    running = service_file(config)
    if running is not None and running.pid != os.getpid():
        # A second watcher would announce every file twice, and every load would run twice.
        raise ConfigError(f"workbench serve is already running for {config.root} (pid "
                          f"{running.pid}, Prefect {running.api_url}); stop it first.",
                          pid=running.pid)
    stop = stop or threading.Event()
    server = None
    api_url = api_url or os.environ.get("PREFECT_API_URL")
    if not api_url:
        server = LocalPrefectServer(config.state_dir / "prefect-server")
        log.info("starting a Prefect server for %s", config.root)
        api_url = server.start()
    previous = os.environ.get("PREFECT_API_URL")
    # Flow-run subprocesses and new threads read the environment; this thread reads the
    # settings context.
    os.environ["PREFECT_API_URL"] = api_url
    record = config.state_dir / SERVICE_FILE
    try:
        from prefect.settings import PREFECT_API_URL, temporary_settings

        with temporary_settings(updates={PREFECT_API_URL: api_url}):
            print(f"workbench serve: {config.root} on Prefect {api_url}"
                  + (f" (UI {api_url.removesuffix('/api')})" if server else ""), flush=True)
            declared = deployments(config)     # sync: to_deployment is async in a loop
            asyncio.run(_serve(config, declared, api_url, pool, stop, poll_seconds,
                               watch_interval, ready))
    except KeyboardInterrupt:
        pass
    finally:
        if (own := service_file(config)) is not None and own.pid == os.getpid():
            record.unlink(missing_ok=True)
        if previous is None:
            os.environ.pop("PREFECT_API_URL", None)
        else:
            os.environ["PREFECT_API_URL"] = previous
        if server is not None:
            server.stop()


async def _serve(config: WorkbenchConfig, declared: list, api_url: str, pool: str | None,
                 stop: threading.Event, poll_seconds: float, watch_interval: float,
                 ready: threading.Event | None) -> None:
    from prefect.runner import Runner

    from .watch import LandingWatcher

    runner = None
    if pool:
        await _register_on_pool(declared, pool)
    else:
        runner = Runner(name=f"workbench-{config.root.name}"[:60].replace("/", "-"),
                        query_seconds=poll_seconds, pause_on_shutdown=False, limit=None)
        for deployment in declared:
            await runner.aadd_deployment(deployment)

    watcher = LandingWatcher(config, _emitter(config, api_url), interval=watch_interval,
                             known=_loaded_files(config))
    loop = asyncio.get_running_loop()
    signals = []
    if threading.current_thread() is threading.main_thread():
        # The Runner handles SIGTERM itself; SIGINT the same way, and both without one.
        signals = [signal.SIGINT] if runner else [signal.SIGINT, signal.SIGTERM]
        for number in signals:
            loop.add_signal_handler(number, stop.set)
    runner_task = asyncio.create_task(runner.start()) if runner else None
    watcher.start()
    _write_record(config, api_url, pool)
    if ready is not None:
        ready.set()
    print(f"workbench serve: {len(declared)} deployments "
          + (f"on work pool {pool!r} (start workers with `prefect worker start --pool "
             f"{pool}`)" if pool else "served here") + f", watching {config.landing}",
          flush=True)
    try:
        while not stop.is_set() and not (runner_task and runner_task.done()):
            await asyncio.sleep(0.2)
    finally:
        watcher.stop()
        if runner_task is not None:
            await _stop_runner(runner, runner_task)
        for number in signals:
            loop.remove_signal_handler(number)


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
    for deployment in declared:
        await deployment.apply(work_pool_name=pool)


def _write_record(config: WorkbenchConfig, api_url: str, pool: str | None) -> None:
    """``.workbench/service.json``: how ``workbench status`` finds the server we use."""
    from .results import utc_now

    record = config.state_dir / SERVICE_FILE
    partial = record.with_suffix(".part")
    partial.write_text(json.dumps({"api_url": api_url, "pid": os.getpid(), "pool": pool,
                                   "started_at": utc_now().isoformat()}))
    partial.replace(record)


def _emitter(config: WorkbenchConfig, api_url: str):
    """``on_arrival`` for the watcher: emit ``workbench.file.arrived`` to this server."""
    from prefect.events import emit_event
    from prefect.settings import PREFECT_API_URL, temporary_settings

    def emit(arrival) -> None:
        with temporary_settings(updates={PREFECT_API_URL: api_url}):
            event = emit_event(FILE_ARRIVED, resource=resource(config, arrival.source),
                               payload={"path": arrival.relative, "size": arrival.size})
        if event is None:
            raise RuntimeError(f"Prefect did not accept event {FILE_ARRIVED}")
        log.info("file arrived: %s (%s bytes)", arrival.relative, arrival.size)

    return emit


def _loaded_files(config: WorkbenchConfig) -> dict[tuple[str, str], tuple[int, int]]:
    """(source, path) -> (size, mtime_ns) of every file the published warehouse has seen
    (loaded or rejected: either way, the same file needs no new load)."""
    if not config.published.exists():
        return {}
    from .warehouse import META, Warehouse

    try:
        frame = Warehouse(config.warehouse, config.published).query(
            f"""select source, path, arg_max(size, loaded_at) as size,
                       arg_max(mtime_ns, loaded_at) as mtime_ns
                from {META}.files group by source, path""")
    except Exception:       # an old or empty warehouse: every file counts as new
        log.exception("could not read loaded files; treating every file as new")
        return {}
    return {(r.source, r.path): (int(r.size), int(r.mtime_ns))
            for r in frame.itertuples(index=False)}
