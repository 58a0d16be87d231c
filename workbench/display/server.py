"""``wb.server()`` and ``workbench status`` shown: one line, a terminal table, Jupyter HTML.

Reads a ``workbench.service.status.ServerStatus`` and nothing else; every table is drawn by
``html.html_table`` (HTML) or ``text.table`` (terminal), every state coloured by the theme.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from html import escape
from typing import TYPE_CHECKING

from ..freshness import human
from . import theme
from .html import badge, html_table

if TYPE_CHECKING:
    from ..service.record import ServiceRecord
    from ..service.status import ServerStatus

# (title, headers, rows, the header of the coloured column)
Section = tuple[str, Sequence[str], list[tuple], str]


def summary(status: ServerStatus) -> str:
    """One line: deployments, running and queued work, the last run, late sources."""
    parts = [f"Prefect {status.api_url}"]
    if not status.reachable:
        parts.append("unreachable")
    else:
        ready = sum(d.status == "ready" for d in status.deployments)
        parts.append(f"{len(status.deployments)} deployments ({ready} ready)")
        parts.append(f"{len(status.running)} running, {len(status.waiting)} queued")
        if status.recent_runs:
            last = status.recent_runs[0]
            when = last.end_time or last.start_time or last.expected_start_time
            parts.append(f"last run {last.deployment or last.name}: {last.state}"
                         + (f" {_ago(when, status.checked_at)}" if when else ""))
    parts.append("stale: " + ", ".join(f"{s.source} ({s.state})" for s in status.stale)
                 if status.stale else "no stale sources")
    return " · ".join(parts)


def text(status: ServerStatus) -> str:
    """For a terminal: the header lines, then each section as an aligned table."""
    from .text import table

    lines = _header(status)
    for title, headers, rows, _ in _sections(status):
        lines += ["", title]
        lines += ["  " + line for line in table(headers, rows).splitlines()] if rows \
            else ["  none"]
    return "\n".join(lines)


def html(status: ServerStatus) -> str:
    """For Jupyter: the same sections as ``text``, escaped, states in the theme's colours."""
    head = "".join(f"<div>{escape(line)}</div>" for line in _header(status)[1:])
    version = f" · Prefect {status.version}" if status.version else ""
    parts = [f"<div><b>Prefect server</b> <code>{escape(status.api_url)}</code> "
             f"{badge('served' if status.reachable else 'unreachable')}{escape(version)}"
             f"</div>{head}"]
    for title, headers, rows, coloured in _sections(status):
        parts.append(f"<div style='margin-top:8px'><b>{escape(title)}</b></div>")
        parts.append(html_table(headers, rows, status_column=coloured) if rows
                     else f"<div>{theme.note('none')}</div>")
    return f"<div class='workbench-server'>{''.join(parts)}</div>"


def _header(status: ServerStatus) -> list[str]:
    title = f"Prefect server {status.api_url}"
    if status.version:
        title += f" (Prefect {status.version})"
    title += f" · found by {status.found_by} · project {status.project}"
    lines = [title]
    if status.service:
        lines.append(_served_by(status.service))
    if not status.reachable:
        lines.append(f"unreachable at {status.api_url}: {status.error}")
    elif status.error:
        lines.append(f"partly read: {status.error}")
    elif status.ui_url:
        lines.append(f"UI {status.ui_url}")
    return lines


def _sections(status: ServerStatus) -> list[Section]:
    """The sections shown: the server's work when it answered, late sources always."""
    now = status.checked_at
    sections: list[Section] = []
    if status.reachable:
        sections += [
            (f"Deployments ({len(status.deployments)})",
             ("deployment", "status", "paused", "pool", "last polled"),
             [(d.full_name, d.status, "yes" if d.paused else "", d.work_pool or "",
               _ago(d.last_polled, now)) for d in status.deployments], "status"),
            (f"Recent runs ({len(status.recent_runs)})",
             ("run", "deployment", "state", "started", "seconds"),
             [(r.name, r.deployment or "", r.state, _ago(r.start_time, now),
               f"{r.seconds:.1f}") for r in status.recent_runs], "state"),
            (f"Queued/running ({len(status.running)} running, {len(status.waiting)} queued)",
             ("run", "deployment", "state", "expected", "started"),
             [(r.name, r.deployment or "", r.state, _ago(r.expected_start_time, now),
               _ago(r.start_time, now)) for r in status.queued], "state")]
    sections.append((f"Stale sources ({len(status.stale)})",
                     ("source", "state", "age", "warn_after", "error_after"),
                     [(s.source, s.state, _human(s.age), _human(s.warn_after),
                       _human(s.error_after)) for s in status.stale], "state"))
    if status.pools or status.workers:
        pools = ", ".join(f"{p.name}: {p.status}" for p in status.pools)
        sections.append((f"Workers ({pools})" if pools else "Workers",
                         ("pool", "worker", "status", "last heartbeat"),
                         [(w.pool, w.name, w.status, _ago(w.last_heartbeat, now))
                          for w in status.workers], "status"))
    return sections


def _served_by(service: ServiceRecord) -> str:
    since = f", since {service.started_at:%Y-%m-%d %H:%M:%S} UTC" if service.started_at else ""
    pool = f", work pool {service.pool}" if service.pool else ", runs in process"
    return f"served by workbench serve (pid {service.pid}{since}{pool})"


def _human(delta: timedelta | None) -> str:
    return human(delta) or ""


def _ago(when: datetime | None, now: datetime) -> str:
    if when is None:
        return ""
    delta = now - when
    return f"{_human(delta)} ago" if delta.total_seconds() >= 0 else f"in {_human(-delta)}"
