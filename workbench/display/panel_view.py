"""What the control panel (``display/panel.py``) draws: its widgets, status lines and node
table, as pure functions of the values they show. The panel's run logic lives in panel.py;
keeping the HTML here lets either change without the other. Colours come from ``theme``."""

from __future__ import annotations

from dataclasses import dataclass, replace
from html import escape
from typing import TYPE_CHECKING

import ipywidgets as widgets

from . import theme

if TYPE_CHECKING:
    from ..results import NodeResult

_BUTTON = "150px"        # every button
_STATES = ("queued", "running", "done", "failed", "skipped", "cancelled")   # a row's states
_LINE = f"{theme.MONO};line-height:1.5"


@dataclass
class _Row:
    """One line of the node table."""

    id: str
    name: str
    kind: str
    state: str = "queued"       # queued | running | done | failed | skipped | cancelled
    rows: int | None = None
    seconds: float | None = None
    note: str = ""


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


def _static_html(line: str) -> str:
    """What exports and viewers without widget state show instead of the panel."""
    return (f"<div class='workbench-panel-static'><b>Workbench panel</b> "
            f"&middot; {escape(line)}</div>")


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
        return "done", message or "nothing new"     # a source with no new files
    return "done", "warn: " + message if node.status == "warn" else message


def _short(text: str, limit: int = 60) -> str:
    """``text`` cut to ``limit`` characters; a cut one ends with an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


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
    return theme.badge(state, css="workbench-state")


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
                 else "skipped" if states["skipped"] == len(tests) else "done")
        note = ", ".join(f"{count} {s}" for s, count in states.items() if count)
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


def _tr(node_id: str, name: str, kind: str, state: str, rows: int | None,
        seconds: float | None, note: str) -> str:
    cell, num = theme.CELL, theme.NUM
    cells = (f"<td style='{cell}'>{escape(name)}</td><td style='{cell}'>{escape(kind)}</td>"
             f"<td style='{cell}'>{_badge(state)}</td>"
             f"<td style='{num}'>{'' if rows is None else f'{rows:,}'}</td>"
             f"<td style='{num}'>{'' if seconds is None else f'{seconds:.2f}'}</td>"
             f"<td style='{cell};{theme.NOTE}' title='{escape(note)}'>"
             f"{escape(_short(note))}</td>")
    return (f"<tr class='workbench-node-row workbench-node-{escape(state)}' "
            f"data-node='{escape(node_id)}' data-state='{escape(state)}'>{cells}</tr>")
