"""What the Prefect server behind ``workbench serve`` is doing: the project's deployments,
their recent and queued flow runs, the work pool's workers, and the project's late sources.
``wb.server()`` in a notebook, the last section of ``workbench status`` in a terminal.

The server, first match wins:

1. ``api_url`` given, or ``PREFECT_API_URL`` in the environment;
2. the service record (``.workbench/service.json``), if the process it names is alive;
3. the project's shared local server (``.workbench/prefect/workbench-server.json``), while
   its supervisor or its server process lives: found even when orphaned (the supervisor
   killed, the server still running on the project's database);
4. none: ``read()`` returns None.

The server is asked over its REST API with httpx and a short timeout: no Prefect import (the
CLI stays fast) and no event loop (a notebook's running loop is no trouble). A server that
does not answer is a fact in the report (``reachable=False`` and ``error``), never an
exception. Shown by ``workbench.display.server``.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from . import record
from .deploy import TAG, project_tag
from .record import ServiceRecord

if TYPE_CHECKING:
    from ..config import WorkbenchConfig
    from ..freshness import FreshnessReport, SourceFreshness

__all__ = ["DeploymentInfo", "FlowRunInfo", "PoolInfo", "ServerStatus", "WorkerInfo", "read"]

TIMEOUT = 3.0                   # seconds per request: a status must not hang
ACTIVE = ("PENDING", "RUNNING", "CANCELLING")   # state types of work under way
MAX_QUEUED = 200                # Prefect's default page limit


# -- what the report holds ----------------------------------------------------------------------
@dataclass(frozen=True)
class DeploymentInfo:
    """One deployment of this project (tagged ``workbench-project:<name>``)."""

    flow: str                       # e.g. "workbench-load"
    name: str                       # e.g. "load-events@sales"
    status: str                     # "ready": a runner or worker polled for it lately
    paused: bool
    work_pool: str | None           # None: served by the ``workbench serve`` process itself
    last_polled: datetime | None    # UTC

    @property
    def full_name(self) -> str:
        return f"{self.flow}/{self.name}"


@dataclass(frozen=True)
class FlowRunInfo:
    """One flow run of a workbench deployment."""

    name: str                       # Prefect's run name ("load events" once it starts)
    deployment: str | None          # the deployment's name, e.g. "load-events@sales"
    state: str                      # Prefect's state name: "Completed", "Late", "Running"...
    state_type: str                 # COMPLETED, FAILED, CRASHED, RUNNING, SCHEDULED, ...
    expected_start_time: datetime | None    # UTC, like every time here
    start_time: datetime | None
    end_time: datetime | None
    seconds: float                  # Prefect's total_run_time

    @property
    def running(self) -> bool:
        return self.state_type in ("RUNNING", "CANCELLING")


@dataclass(frozen=True)
class PoolInfo:
    """A work pool the deployments or the service use."""

    name: str
    type: str | None
    status: str                     # READY, NOT_READY, PAUSED, or "missing"


@dataclass(frozen=True)
class WorkerInfo:
    """A worker of one of those pools."""

    pool: str
    name: str
    status: str                     # ONLINE or OFFLINE, from its heartbeats
    last_heartbeat: datetime | None


@dataclass(frozen=True)
class ServerStatus:
    """``wb.server()``: what the Prefect server serving this project is doing.

    Failures are data: ``reachable`` is False and ``error`` says why when the server did not
    answer. Render with ``str()`` (a terminal), ``_repr_html_()`` (Jupyter) or
    ``summary()`` (one line).
    """

    api_url: str
    found_by: str       # "PREFECT_API_URL", "service.json", "workbench-server.json" or "argument"
    reachable: bool
    checked_at: datetime            # UTC; ages in the rendering are relative to it
    project: str                    # this project's name; only its deployments are shown
    error: str | None = None        # why the server could not be read (all of it or a part)
    version: str | None = None      # the server's Prefect version
    service: ServiceRecord | None = None     # a live ``workbench serve`` of this project
    deployments: tuple[DeploymentInfo, ...] = ()
    recent_runs: tuple[FlowRunInfo, ...] = ()   # newest first; started or finished
    queued: tuple[FlowRunInfo, ...] = ()        # running, pending, and scheduled runs now due
    stale: tuple[SourceFreshness, ...] = ()     # sources in warn or stale state
    pools: tuple[PoolInfo, ...] = ()
    workers: tuple[WorkerInfo, ...] = ()

    @property
    def running(self) -> list[FlowRunInfo]:
        return [r for r in self.queued if r.running]

    @property
    def waiting(self) -> list[FlowRunInfo]:
        """Queued runs not yet running: pending, or scheduled and due (or late)."""
        return [r for r in self.queued if not r.running]

    @property
    def ui_url(self) -> str | None:
        local = any(h in self.api_url for h in ("//127.0.0.1", "//localhost", "//[::1]"))
        return self.api_url.removesuffix("/api") if local and self.api_url.endswith("/api") \
            else None

    def summary(self) -> str:
        """One line: deployments, running and queued work, the last run, late sources."""
        from ..display import server

        return server.summary(self)

    def text(self) -> str:
        from ..display import server

        return server.text(self)

    __str__ = text
    __repr__ = text

    def _repr_html_(self) -> str:
        from ..display import server

        return server.html(self)


# -- reading it ---------------------------------------------------------------------------------
def read(config: WorkbenchConfig, *, api_url: str | None = None, limit: int = 10,
         timeout: float = TIMEOUT,
         freshness: Callable[[], FreshnessReport] | None = None) -> ServerStatus | None:
    """What the server serving this project is doing, or None when no server is known.

    Args:
        config: the project.
        api_url: ask this server (default: ``PREFECT_API_URL``, else ``service.json``).
        limit: how many recent runs.
        timeout: seconds per request.
        freshness: returns the project's FreshnessReport (default: judged from the published
            warehouse's last loads, as ``wb.freshness()`` does).

    Example::

        status = read(load_config())
        if status is not None and not status.reachable:
            print(status.error)
    """
    service = record.read(config)
    if api_url:
        found_by = "argument"
    elif os.environ.get("PREFECT_API_URL"):
        api_url, found_by = os.environ["PREFECT_API_URL"], "PREFECT_API_URL"
    elif service is not None:
        api_url, found_by = service.api_url, record.FILE_NAME
    elif (server := _shared_server(config)) is not None:
        api_url, found_by = server
    else:
        return None
    api_url = api_url.rstrip("/")
    facts: dict[str, Any] = {"reachable": False}
    try:
        facts.update(_ask(api_url, limit, timeout, service,
                          {"tags": {"all_": [TAG, project_tag(config)]}}))
    except Exception as error:  # noqa: BLE001 - an unreadable server is reported, not raised
        facts["error"] = _describe(error)
    return ServerStatus(api_url=api_url, found_by=found_by, checked_at=_now(),
                        project=config.project, service=service,
                        stale=_late(config, freshness), **facts)


def _shared_server(config: WorkbenchConfig) -> tuple[str, str] | None:
    """The shared server of the project's own Prefect home (``.workbench/prefect``; a home
    set by ``PREFECT_HOME`` may be shared by other projects), (API URL, how it was found),
    if a process of it lives."""
    from . import shared

    found = shared.read(config.state_dir / "prefect")
    if found is None:
        return None
    if record.alive(found.pid):
        return found.url, shared.RECORD
    if found.server_pid and record.alive(found.server_pid):
        return found.url, (f"{shared.RECORD} (orphaned: supervisor {found.pid} gone, "
                           f"server pid {found.server_pid} still runs)")
    return None


def _ask(api_url: str, limit: int, timeout: float, service: ServiceRecord | None,
         ours: dict) -> dict[str, Any]:
    """Every fact the server gives; ``reachable`` as soon as it answered once."""
    import httpx

    facts: dict[str, Any] = {}
    with httpx.Client(base_url=api_url + "/", timeout=timeout, headers=_auth()) as http:

        def call(method: str, path: str, body: dict | None = None) -> Any:
            response = http.request(method, path, json=body)
            response.raise_for_status()
            return response.json()

        facts["version"] = str(call("GET", "admin/version"))
        facts["reachable"] = True
        try:
            facts.update(_work(call, limit, service, ours))
        except Exception as error:  # noqa: BLE001 - keep what the server gave
            facts["error"] = _describe(error)
    return facts


def _work(call: Callable[..., Any], limit: int, service: ServiceRecord | None, ours: dict
          ) -> dict[str, Any]:
    """This project's deployments (``ours``: a filter on its tags), their runs, the pools."""
    raw = call("POST", "deployments/filter", {"deployments": ours, "limit": MAX_QUEUED})
    flow_ids = sorted({d["flow_id"] for d in raw})
    flows = {f["id"]: f["name"] for f in call(
        "POST", "flows/filter", {"flows": {"id": {"any_": flow_ids}}})} if flow_ids else {}
    deployments = tuple(sorted(
        (DeploymentInfo(flow=flows.get(d["flow_id"], "?"), name=d["name"],
                        status=(d.get("status") or "NOT_READY").lower().replace("_", " "),
                        paused=bool(d.get("paused")), work_pool=d.get("work_pool_name"),
                        last_polled=_time(d.get("last_polled")))
         for d in raw), key=lambda d: (d.flow, d.name)))
    names = {d["id"]: d["name"] for d in raw}

    now = _now().isoformat()
    recent = call("POST", "flow_runs/filter", {
        "sort": "START_TIME_DESC", "limit": limit, "deployments": ours,
        # not waiting, and not a cancelled run that was due only later
        "flow_runs": {"state": {"type": {"not_any_": ["SCHEDULED", "PENDING"]}},
                      "expected_start_time": {"before_": now}}})
    active = call("POST", "flow_runs/filter", {
        "sort": "EXPECTED_START_TIME_ASC", "limit": MAX_QUEUED, "deployments": ours,
        "flow_runs": {"state": {"type": {"any_": list(ACTIVE)}}}})
    # a scheduled run counts once it is due or late; a check scheduled for later is not work
    due = call("POST", "flow_runs/filter", {
        "sort": "EXPECTED_START_TIME_ASC", "limit": MAX_QUEUED, "deployments": ours,
        "flow_runs": {"state": {"type": {"any_": ["SCHEDULED"]}},
                      "expected_start_time": {"before_": now}}})
    pools, workers = _pools(call, sorted({d.work_pool for d in deployments if d.work_pool}
                                         | ({service.pool} if service and service.pool
                                            else set())))

    def runs(items: list[dict]) -> tuple[FlowRunInfo, ...]:
        return tuple(FlowRunInfo(
            name=r["name"], deployment=names.get(r.get("deployment_id")),
            state=r.get("state_name") or r.get("state_type") or "?",
            state_type=r.get("state_type") or "?",
            expected_start_time=_time(r.get("expected_start_time")),
            start_time=_time(r.get("start_time")), end_time=_time(r.get("end_time")),
            seconds=float(r.get("total_run_time") or 0.0)) for r in items)

    return {"deployments": deployments, "recent_runs": runs(recent),
            "queued": runs(active) + runs(due), "pools": pools, "workers": workers}


def _pools(call: Callable[..., Any], names: list[str]
           ) -> tuple[tuple[PoolInfo, ...], tuple[WorkerInfo, ...]]:
    """The named work pools (``missing`` if the server has none of that name), their workers."""
    pools, workers = [], []
    for pool in names:
        try:
            found = call("GET", f"work_pools/{pool}")
        except Exception as error:  # noqa: BLE001
            if getattr(getattr(error, "response", None), "status_code", None) != 404:
                raise
            pools.append(PoolInfo(pool, None, "missing"))
            continue
        pools.append(PoolInfo(pool, found.get("type"), found.get("status") or "?"))
        workers += [WorkerInfo(pool, w["name"], w.get("status") or "?",
                               _time(w.get("last_heartbeat_time")))
                    for w in call("POST", f"work_pools/{pool}/workers/filter", {"limit": 50})]
    return tuple(pools), tuple(workers)


def _late(config: WorkbenchConfig, freshness: Callable[[], FreshnessReport] | None
          ) -> tuple[SourceFreshness, ...]:
    """Sources in warn or stale state; none known before anything is published."""
    try:
        return tuple(item for item in (freshness or (lambda: _judged(config)))() if item.late)
    except ConfigError:
        return ()


def _judged(config: WorkbenchConfig) -> FreshnessReport:
    """Each source against its SLA, from the published warehouse's last loads."""
    from ..freshness import assess
    from ..ledger import last_loads
    from ..results import utc_now
    from ..warehouse import Warehouse

    last = {}
    if config.published.exists():
        with Warehouse(config.warehouse, config.published).reading() as con:
            last = last_loads(con)
    return assess(config, last, utc_now())


def _auth() -> dict[str, str]:
    """The same credentials a Prefect client would send (Prefect Cloud, or a server with
    basic auth)."""
    if key := os.environ.get("PREFECT_API_KEY"):
        return {"Authorization": f"Bearer {key}"}
    if auth := os.environ.get("PREFECT_API_AUTH_STRING"):
        return {"Authorization": "Basic " + base64.b64encode(auth.encode()).decode()}
    return {}


def _describe(error: Exception) -> str:
    response = getattr(error, "response", None)
    if response is not None:
        return f"HTTP {response.status_code} from {response.request.url}"
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _time(value: object) -> datetime | None:
    if not value:
        return None
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
