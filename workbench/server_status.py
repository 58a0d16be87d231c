"""What the Prefect server behind ``workbench serve`` is doing: the workbench's deployments,
their recent and queued flow runs, the work pool's workers, and the project's late sources.
``wb.server()`` in a notebook, the last section of ``workbench status`` in a terminal.

The server, first match wins:

1. ``PREFECT_API_URL`` in the environment;
2. ``.workbench/service.json``, written by ``workbench serve`` while it runs, if the process
   it names is alive;
3. none: ``read()`` returns None.

The server is asked over its REST API with httpx and a short timeout: no Prefect import (the
CLI stays fast) and no event loop (a notebook's running loop is no trouble). A server that
does not answer is a fact in the report (``reachable=False`` and ``error``), never an
exception.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from html import escape
from typing import TYPE_CHECKING, Any

from .errors import ConfigError
from .freshness import human
from .service import SERVICE_FILE, project_tag   # service.json: while serve runs

if TYPE_CHECKING:
    from .config import WorkbenchConfig
    from .freshness import FreshnessReport, SourceFreshness

__all__ = ["DeploymentInfo", "FlowRunInfo", "PoolInfo", "ServerStatus", "ServiceFile",
           "WorkerInfo", "read", "service_file"]

TIMEOUT = 3.0                   # seconds per request: a status must not hang
TAG = "workbench"               # every deployment the service registers carries it
ACTIVE = ("PENDING", "RUNNING", "CANCELLING")   # state types of work under way
MAX_QUEUED = 200                # Prefect's default page limit

_COLOURS = {"COMPLETED": "#1a7f37", "FAILED": "#cf222e", "CRASHED": "#cf222e",
            "RUNNING": "#0969da", "CANCELLING": "#9a6700", "Late": "#9a6700",
            "ready": "#1a7f37", "ONLINE": "#1a7f37", "READY": "#1a7f37", "warn": "#9a6700",
            "stale": "#cf222e", "served": "#1a7f37", "unreachable": "#cf222e"}
_STYLE = ("border-collapse:collapse;font-family:ui-monospace,SFMono-Regular,Menlo,monospace;"
          "font-size:12px")
_CELL = "padding:2px 10px;border-bottom:1px solid #d0d7de;text-align:left;vertical-align:top"


# -- what the report holds ----------------------------------------------------------------------
@dataclass(frozen=True)
class ServiceFile:
    """``.workbench/service.json``: what a running ``workbench serve`` says about itself."""

    api_url: str
    pid: int
    started_at: datetime | None     # UTC
    pool: str | None                # the work pool its deployments run on; None: in process


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
    found_by: str                   # "PREFECT_API_URL", "service.json" or "argument"
    reachable: bool
    checked_at: datetime            # UTC; ages in the rendering are relative to it
    project: str                    # this project's name; only its deployments are shown
    error: str | None = None        # why the server could not be read (all of it or a part)
    version: str | None = None      # the server's Prefect version
    service: ServiceFile | None = None       # a live ``workbench serve`` of this project
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

    # -- rendering ------------------------------------------------------------------------------
    def summary(self) -> str:
        """One line: deployments, running and queued work, the last run, late sources."""
        parts = [f"Prefect {self.api_url}"]
        if not self.reachable:
            parts.append("unreachable")
        else:
            ready = sum(d.status == "ready" for d in self.deployments)
            parts.append(f"{len(self.deployments)} deployments ({ready} ready)")
            parts.append(f"{len(self.running)} running, {len(self.waiting)} queued")
            if self.recent_runs:
                last = self.recent_runs[0]
                when = last.end_time or last.start_time or last.expected_start_time
                parts.append(f"last run {last.deployment or last.name}: {last.state}"
                             + (f" {_ago(when, self.checked_at)}" if when else ""))
        parts.append("stale: " + ", ".join(f"{s.source} ({s.state})" for s in self.stale)
                     if self.stale else "no stale sources")
        return " · ".join(parts)

    def _header(self) -> list[str]:
        title = f"Prefect server {self.api_url}"
        if self.version:
            title += f" (Prefect {self.version})"
        title += f" · found by {self.found_by} · project {self.project}"
        lines = [title]
        if self.service:
            lines.append(_served_by(self.service))
        if not self.reachable:
            lines.append(f"unreachable at {self.api_url}: {self.error}")
        elif self.error:
            lines.append(f"partly read: {self.error}")
        elif self.ui_url:
            lines.append(f"UI {self.ui_url}")
        return lines

    def _sections(self) -> list[tuple[str, Sequence[str], list[tuple], int | None]]:
        """(title, headers, rows, index of the coloured column) for each section shown."""
        now = self.checked_at
        sections = []
        if self.reachable:
            sections += [
                (f"Deployments ({len(self.deployments)})",
                 ("deployment", "status", "paused", "pool", "last polled"),
                 [(d.full_name, d.status, "yes" if d.paused else "", d.work_pool or "",
                   _ago(d.last_polled, now)) for d in self.deployments], 1),
                (f"Recent runs ({len(self.recent_runs)})",
                 ("run", "deployment", "state", "started", "seconds"),
                 [(r.name, r.deployment or "", r.state, _ago(r.start_time, now),
                   f"{r.seconds:.1f}") for r in self.recent_runs], 2),
                (f"Queued/running ({len(self.running)} running, {len(self.waiting)} queued)",
                 ("run", "deployment", "state", "expected", "started"),
                 [(r.name, r.deployment or "", r.state, _ago(r.expected_start_time, now),
                   _ago(r.start_time, now)) for r in self.queued], 2)]
        sections.append((f"Stale sources ({len(self.stale)})",
                         ("source", "state", "age", "warn_after", "error_after"),
                         [(s.source, s.state, _human(s.age), _human(s.warn_after),
                           _human(s.error_after)) for s in self.stale], 1))
        if self.pools or self.workers:
            pools = ", ".join(f"{p.name}: {p.status}" for p in self.pools)
            sections.append((f"Workers ({pools})" if pools else "Workers",
                             ("pool", "worker", "status", "last heartbeat"),
                             [(w.pool, w.name, w.status, _ago(w.last_heartbeat, now))
                              for w in self.workers], 2))
        return sections

    def text(self) -> str:
        from .display.text import table

        lines = self._header()
        for title, headers, rows, _ in self._sections():
            lines += ["", title]
            lines += ["  " + line for line in table(headers, rows).splitlines()] if rows \
                else ["  none"]
        return "\n".join(lines)

    __str__ = text
    __repr__ = text

    def _repr_html_(self) -> str:
        head = "".join(f"<div>{escape(line)}</div>" for line in self._header()[1:])
        state = "served" if self.reachable else "unreachable"
        parts = [f"<div><b>Prefect server</b> <code>{escape(self.api_url)}</code> "
                 f"{_badge(state)}{escape(f' · Prefect {self.version}' if self.version else '')}"
                 f"</div>{head}"]
        for title, headers, rows, coloured in self._sections():
            parts.append(f"<div style='margin-top:8px'><b>{escape(title)}</b></div>")
            parts.append(_html_table(headers, rows, coloured) if rows
                         else "<div style='color:#57606a'>none</div>")
        return f"<div class='workbench-server'>{''.join(parts)}</div>"


# -- finding the server -------------------------------------------------------------------------
def service_file(config: WorkbenchConfig) -> ServiceFile | None:
    """The running ``workbench serve``'s file, or None: no file, unreadable, or its process
    has gone (a service killed hard leaves its file behind)."""
    try:
        data = json.loads((config.state_dir / SERVICE_FILE).read_text())
        info = ServiceFile(api_url=str(data["api_url"]), pid=int(data["pid"]),
                           started_at=_time(data.get("started_at")),
                           pool=data.get("pool") or None)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return info if _alive(info.pid) else None


def _alive(pid: int) -> bool:
    if pid <= 0:            # 0 and negatives name process groups, not a process
        return False
    try:
        os.kill(pid, 0)
    except PermissionError:
        return True         # someone else's process, alive
    except OSError:
        return False
    return True


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
        freshness: returns the project's FreshnessReport (default: ``Workbench.freshness``).

    Example::

        status = server_status.read(load_config())
        if status is not None and not status.reachable:
            print(status.error)
    """
    service = service_file(config)
    if api_url:
        found_by = "argument"
    elif os.environ.get("PREFECT_API_URL"):
        api_url, found_by = os.environ["PREFECT_API_URL"], "PREFECT_API_URL"
    elif service is not None:
        api_url, found_by = service.api_url, "service.json"
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
                        project=config.project, service=service, stale=_late(config, freshness),
                        **facts)


def _ask(api_url: str, limit: int, timeout: float, service: ServiceFile | None,
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


def _work(call: Callable[..., Any], limit: int, service: ServiceFile | None, ours: dict
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

    pool_names = sorted({d.work_pool for d in deployments if d.work_pool}
                        | ({service.pool} if service and service.pool else set()))
    pools, workers = [], []
    for pool in pool_names:
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

    def runs(items: list[dict]) -> tuple[FlowRunInfo, ...]:
        return tuple(FlowRunInfo(
            name=r["name"], deployment=names.get(r.get("deployment_id")),
            state=r.get("state_name") or r.get("state_type") or "?",
            state_type=r.get("state_type") or "?",
            expected_start_time=_time(r.get("expected_start_time")),
            start_time=_time(r.get("start_time")), end_time=_time(r.get("end_time")),
            seconds=float(r.get("total_run_time") or 0.0)) for r in items)

    return {"deployments": deployments, "recent_runs": runs(recent),
            "queued": runs(active) + runs(due), "pools": tuple(pools),
            "workers": tuple(workers)}


def _late(config: WorkbenchConfig, freshness: Callable[[], FreshnessReport] | None
          ) -> tuple[SourceFreshness, ...]:
    """Sources in warn or stale state; none known before anything is published."""
    if freshness is None:
        from .api import Workbench

        freshness = Workbench(config.root).freshness
    try:
        return tuple(item for item in freshness() if item.late)
    except ConfigError:
        return ()


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


# -- small helpers ------------------------------------------------------------------------------
def _now() -> datetime:
    return datetime.now(timezone.utc)


def _time(value: object) -> datetime | None:
    if not value:
        return None
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _human(delta) -> str:
    return human(delta) or ""


def _ago(when: datetime | None, now: datetime) -> str:
    if when is None:
        return ""
    delta = now - when
    return f"{_human(delta)} ago" if delta.total_seconds() >= 0 else f"in {_human(-delta)}"


def _served_by(service: ServiceFile) -> str:
    since = f", since {service.started_at:%Y-%m-%d %H:%M:%S} UTC" if service.started_at else ""
    pool = f", work pool {service.pool}" if service.pool else ", runs in process"
    return f"served by workbench serve (pid {service.pid}{since}{pool})"


def _badge(text: str) -> str:
    colour = _COLOURS.get(text, _COLOURS.get(text.upper(), "#57606a"))
    return f'<span style="color:{colour};font-weight:600">{escape(text)}</span>'


def _html_table(headers: Sequence[str], rows: list[tuple], coloured: int | None) -> str:
    head = "".join(f'<th style="{_CELL}">{escape(h)}</th>' for h in headers)
    body = "".join(
        "<tr>" + "".join(f'<td style="{_CELL}">'
                         f"{_badge(str(v)) if i == coloured else escape(str(v))}</td>"
                         for i, v in enumerate(row)) + "</tr>"
        for row in rows)
    return f'<table style="{_STYLE}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
