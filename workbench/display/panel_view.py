"""What the control panel (``display/panel.py``) draws: its widgets, status lines, node table
(a run's rows, kept by ``_Run`` as the run's events arrive) and plan table, as functions of
the values they show. The panel's buttons and threads live in panel.py; keeping the drawing
here lets either change without the other. Colours come from ``theme``."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from html import escape, unescape
from typing import TYPE_CHECKING

import ipywidgets as widgets

from ..progress import (CancelToken, NodeFinished, NodeUpToDate, RunEvent, RunPhase, RunPlanned,
                        WorkStarted)
from . import theme
from .html import shorten

if TYPE_CHECKING:
    from ..results import NodeResult, RunResult
    from ..run_plan import RunPlan

_BUTTON = "150px"        # every button
_STATES = ("queued", "running", "done", "up-to-date", "failed", "skipped", "cancelled")
_SETTLED = ("done", "up-to-date", "failed", "skipped")
_UP_TO_DATE = "nothing it reads changed"
_LINE = f"{theme.MONO};line-height:1.5"
_STATIC_NOTE = "the buttons work in JupyterLab with a running kernel"


@dataclass
class _Row:
    """One line of the node table."""

    id: str
    name: str
    kind: str
    state: str = "queued"       # one of _STATES
    rows: int | None = None
    seconds: float | None = None
    note: str = ""


class _Run:
    """One run started from the panel: what it planned and how far it got."""

    def __init__(self, label: str, sources: Sequence[str] | None, select: str | None,
                 full_refresh: bool) -> None:
        self.label, self.sources, self.select = label, sources, select
        self.full_refresh = full_refresh
        self.cancel = CancelToken()
        self.done = threading.Event()
        self.lock = threading.RLock()       # rows change in the run's thread, show in others
        self.started = time.monotonic()
        self.rows: dict[str, _Row] = {}     # node id -> row, in dependency order
        self.phase: tuple[str, float] | None = None     # what it prepares, since when

    def apply(self, event: RunEvent) -> None:
        with self.lock:
            if isinstance(event, RunPhase):
                self.phase = (event.what, time.monotonic())
            elif isinstance(event, RunPlanned):
                graph, selected = event.graph, event.selected
                for node_id in graph.order(selected):
                    node = graph.nodes[node_id]
                    self.rows[node_id] = _Row(node_id, node.name, _kind(node.kind))
            elif isinstance(event, WorkStarted):
                for node_id in event.work.ids:
                    if node_id in self.rows:
                        self.rows[node_id].state = "running"
            elif isinstance(event, NodeFinished) and event.node_id in self.rows:
                row = self.rows[event.node_id]
                row.state, row.note = _state(event.result)
                row.rows, row.seconds = event.result.rows, event.result.seconds
            elif isinstance(event, NodeUpToDate) and event.node_id in self.rows:
                self.rows[event.node_id].state = "up-to-date"
                self.rows[event.node_id].note = _UP_TO_DATE

    def settle(self, result: RunResult) -> None:
        """The final word: any node still open did not need to run."""
        with self.lock:
            for row in self.rows.values():
                if row.state in ("queued", "running"):
                    row.state, row.note = "up-to-date", _UP_TO_DATE

    def stop(self) -> None:
        """A cancelled run: what did not finish never started."""
        with self.lock:
            for row in self.rows.values():
                if row.state in ("queued", "running"):
                    row.state, row.note = "cancelled", "not started: the run was cancelled"

    def finished(self) -> int:
        with self.lock:
            return sum(r.state in _SETTLED for r in self.rows.values())

    def line(self) -> str:
        """How far it got and the time since it started; until a node has settled, what
        it waits for (the server's start, the dbt project, a node running) and since when."""
        with self.lock:
            failed = sum(r.state == "failed" for r in self.rows.values())
            running = [r.name for r in self.rows.values() if r.state == "running"]
        elapsed = f"{time.monotonic() - self.started:.0f}s"
        if not self.finished():
            return f"{self.label} · {self._waiting(running)} · {elapsed} in all"
        text = f"{self.label} · {self.finished()} of {len(self.rows)} nodes settled"
        if failed:
            text += f", {failed} failed"
        return f"{text} · {elapsed}"

    def _waiting(self, running: list[str]) -> str:
        from ..service.shared import current_phase

        server = current_phase()
        if server is not None:
            return f"{server.what} {server.elapsed:.0f}s"
        if running:
            return f"running {running[0]}" + (f" +{len(running) - 1}" if len(running) > 1
                                               else "")
        if self.phase is not None:
            return f"{self.phase[0]} {time.monotonic() - self.phase[1]:.0f}s"
        return "starting"


def _button(text: str, icon: str, style: str, css: str, tooltip: str) -> widgets.Button:
    button = widgets.Button(description=text, icon=icon, button_style=style,
                            tooltip=tooltip, layout=widgets.Layout(width=_BUTTON))
    button.add_class(css)
    return button


def _html(css: str, value: str) -> widgets.HTML:
    """An HTML widget that takes no room while it is empty."""
    html = widgets.HTML(value, layout=widgets.Layout(width="100%",
                                                     display=None if value else "none"))
    html.add_class(css)
    html.observe(lambda change: setattr(html.layout, "display",
                                        None if change["new"] else "none"), "value")
    return html


def _border() -> str:
    """The panel's outline: the theme's rule colour."""
    return f"1px solid {theme.RULE}"


def _title(name: str, path: str) -> str:
    return (f"<div style='line-height:1.4'><span style='font-size:14px'><b>Workbench</b> "
            f"&middot; {escape(name)}</span> <span style='{theme.NOTE};font-size:11px'>"
            f"{escape(path)}</span></div>")


def _label_line(label: str, width: str, text: str) -> str:
    """Laid out like the Source and Select rows: a label, then what the button does."""
    return (f"<div style='display:flex;line-height:1.4'><span style='width:{width};flex:none;"
            f"text-align:right;padding-right:8px'>{escape(label)}</span>"
            f"{theme.note(text)}</div>")


def _static_html(parts: Sequence[str]) -> str:
    """What exports and viewers without widget state show instead of the panel: ``parts``
    (the HTML of its title, status, service line, node table and result, as shown), without
    the controls, which need a kernel."""
    body = "".join(f"<div>{part}</div>" for part in parts if part)
    return (f"<div class='workbench-panel-static' style='padding:8px 12px;border:{_border()};"
            f"line-height:1.5'>{body}<div>{theme.note(_STATIC_NOTE)}</div></div>")


def _static_text(parts: Sequence[str]) -> str:
    """The panel as plain text for a terminal or a text-only viewer: ``parts`` (HTML or
    text), their tags removed, one line each, then the note about the controls."""
    lines = [" ".join(unescape(re.sub(r"<[^>]+>", " ", part)).split()) for part in parts]
    return "\n".join([*(line for line in lines if line), f"({_STATIC_NOTE})"])


def _kind(kind: object) -> str:
    """dbt's kinds are enums; show and compare their plain names."""
    return str(getattr(kind, "value", kind))


def _state(node: NodeResult) -> tuple[str, str]:
    """The row state for a finished node, and a short note."""
    message = (node.message or "").strip().splitlines()[0] if node.message else ""
    if node.failed:
        return "failed", message or node.status
    if node.status == "skipped":
        if message.startswith("skipped:") or _kind(node.kind) != "source":
            return "skipped", message.removeprefix("skipped: ") or "skipped"
        return "up-to-date", message or "no new files"     # a source with nothing new
    return "done", "warn: " + message if node.status == "warn" else message


def _short(text: str, limit: int = 80) -> str:
    """``text`` cut to ``limit`` characters at a word; a cut one ends with an ellipsis (the
    cells that show it carry the whole text in ``title=``, shown on hover)."""
    return shorten(text, limit)


def _status(state: str, text: str) -> str:
    """The panel's status line: what the panel is doing, coloured by its state."""
    return (f"<div class='workbench-status-line' data-state='{escape(state)}' "
            f"style='{_LINE};padding:6px 0 2px'>{theme.badge(state, f'● {state}')} "
            f"&middot; {escape(text)}</div>")


def _service(state: str, text: str) -> str:
    """The line about the Prefect server that serves the project."""
    return (f"<div class='workbench-service-line' data-state='{escape(state)}' "
            f"style='{_LINE};{theme.NOTE}'>{theme.badge(state, f'● {state}')} "
            f"&middot; {escape(text)}</div>")


def _badge(state: str) -> str:
    return theme.badge(state, state.replace("-", " "), css="workbench-state")


def _table(run) -> str:
    """The node table of a panel run (``run.rows``, read under ``run.lock``); dbt tests are
    folded into one line (there are many, and they are quick)."""
    with run.lock:
        every = [replace(r) for r in run.rows.values()]
    rows = [r for r in every if r.kind != "test"]
    tests = [r for r in every if r.kind == "test"]
    body = [_tr(r.id, r.name, r.kind, r.state, r.rows, r.seconds, r.note) for r in rows]
    if tests:
        states = {s: sum(t.state == s for t in tests) for s in _STATES}
        state = ("failed" if states["failed"] else "running" if states["running"]
                 else "queued" if states["queued"] else "cancelled" if states["cancelled"]
                 else "skipped" if states["skipped"] == len(tests)
                 else "up-to-date" if states["up-to-date"] == len(tests) else "done")
        note = ", ".join(f"{count} {s.replace('-', ' ')}" for s, count in states.items()
                         if count)
        failed = [t.name for t in tests if t.state == "failed"][:3]
        if failed:
            note += ": " + ", ".join(failed)
        seconds = sum(t.seconds or 0 for t in tests)
        body.append(_tr("dbt-tests", f"{len(tests)} dbt tests", "test", state, None,
                        seconds if seconds else None, note))
    head = "".join(f"<th style='{theme.HEAD}'>{h}</th>"
                   for h in ("node", "kind", "state", "rows", "seconds", "note"))
    return (f"<table class='workbench-nodes' style='{theme.TABLE};line-height:1.5;"
            f"width:100%'><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody>"
            f"</table>")


# One line a row: the note column takes the width left and is cut to it, whole on hover; its
# text is also cut in Python (``_short``), for viewers that drop styles (GitHub).
_CELL = f"{theme.CELL};white-space:nowrap"
_NUM = f"{theme.NUM};white-space:nowrap"
_NOTE = f"{theme.CELL};{theme.NOTE};{theme.FILL}"


def _tr(node_id: str, name: str, kind: str, state: str, rows: int | None,
        seconds: float | None, note: str) -> str:
    cell, num = _CELL, _NUM
    cells = (f"<td style='{cell}'>{escape(name)}</td><td style='{cell}'>{escape(kind)}</td>"
             f"<td style='{cell}'>{_badge(state)}</td>"
             f"<td style='{num}'>{'' if rows is None else f'{rows:,}'}</td>"
             f"<td style='{num}'>{'' if seconds is None else f'{seconds:.2f}'}</td>"
             f"<td style='{_NOTE}' title='{escape(note)}'>{escape(_short(note))}</td>")
    return (f"<tr class='workbench-node-row workbench-node-{escape(state)}' "
            f"data-node='{escape(node_id)}' data-state='{escape(state)}'>{cells}</tr>")


def _plan_table(plan: RunPlan) -> str:
    """What the panel's Plan shows in the node table's place: each node with "would run"
    and why, or "up to date"; dbt tests folded into one line, as in a run's table."""
    nodes = [n for n in plan.nodes if n.kind != "test"]
    tests = [n for n in plan.nodes if n.kind == "test"]
    body = [_plan_tr(n.name, n.kind, n.runs, "" if not n.runs else n.reason) for n in nodes]
    if tests:
        running = [t for t in tests if t.runs]
        why = sorted({t.reason for t in running})
        note = (f"{len(running)} would run, {len(tests) - len(running)} up to date"
                + (f": {_short('; '.join(why), 40)}" if why else ""))
        body.append(_plan_tr(f"{len(tests)} dbt tests", "test", bool(running), note))
    head = "".join(f"<th style='{theme.HEAD}'>{h}</th>" for h in ("node", "kind", "plan", "why"))
    notes = "".join(f"<div style='{_LINE};{theme.NOTE}'>{escape(n)}</div>" for n in plan.notes)
    return (f"{notes}<table class='workbench-nodes workbench-plan' style='{theme.TABLE};"
            f"line-height:1.5;width:100%'><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(body)}</tbody></table>")


def _plan_tr(name: str, kind: str, runs: bool, note: str) -> str:
    state, text = ("running", "would run") if runs else ("skipped", "up to date")
    cell = _CELL
    return (f"<tr class='workbench-plan-row' data-node='{escape(name)}' "
            f"data-plan='{'run' if runs else 'up-to-date'}'>"
            f"<td style='{cell}'>{escape(name)}</td><td style='{cell}'>{escape(kind)}</td>"
            f"<td style='{cell}'>{theme.badge(state, text, css='workbench-state')}</td>"
            f"<td style='{_NOTE}' title='{escape(note)}'>{escape(_short(note))}</td></tr>")
