"""HTML for Jupyter: escaped, bounded, and readable without any JavaScript.

Everything here is static HTML, so it survives nbconvert exports and headless reports.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape

MAX_ROWS = 60          # nodes shown before the rest are counted
MAX_EXPANDED = 5       # failures shown with their full message

_COLOURS = {"success": "#1a7f37", "pass": "#1a7f37", "error": "#cf222e", "fail": "#cf222e",
            "failed": "#cf222e", "warn": "#9a6700", "skipped": "#6e7781", "fresh": "#1a7f37",
            "stale": "#cf222e"}
_STYLE = ("border-collapse:collapse;font-family:ui-monospace,SFMono-Regular,Menlo,monospace;"
          "font-size:12px")
_CELL = "padding:2px 10px;border-bottom:1px solid #d0d7de;text-align:left;vertical-align:top"


def badge(status: str) -> str:
    colour = _COLOURS.get(status, "#57606a")
    return f'<span style="color:{colour};font-weight:600">{escape(status)}</span>'


def html_table(headers: Sequence[str], rows: Iterable[Sequence[object]], *,
               status_column: str | None = None, limit: int = MAX_ROWS) -> str:
    """A bounded HTML table; cells are escaped; the status column is coloured."""
    rows = list(rows)
    head = "".join(f'<th style="{_CELL}">{escape(h)}</th>' for h in headers)
    body = []
    for row in rows[:limit]:
        cells = []
        for header, value in zip(headers, row):
            text = "" if value is None else (f"{value:,}" if isinstance(value, int)
                                             and not isinstance(value, bool) else str(value))
            html = badge(text) if header == status_column else escape(text)
            cells.append(f'<td style="{_CELL}">{html}</td>')
        body.append(f"<tr>{''.join(cells)}</tr>")
    more = (f'<tr><td colspan="{len(headers)}" style="{_CELL}">… and {len(rows) - limit} more'
            f"</td></tr>" if len(rows) > limit else "")
    return (f'<table style="{_STYLE}"><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(body)}{more}</tbody></table>")


def run_result_html(result) -> str:
    title = (f"<b>Run {escape(result.run_id)}</b> {badge(result.status)} in "
             f"{result.seconds:.1f}s &middot; selection {escape(result.selection)}")
    notes = "".join(f"<div>{escape(n)}</div>" for n in result.notes)
    shown, passed = result.shown_nodes()
    rows = [(n.name, n.kind, n.status, n.rows, f"{n.seconds:.2f}",
             (n.message or "").splitlines()[0][:120] if n.message else "")
            for n in shown]
    if passed:
        rows.append((f"{passed} dbt tests", "test", "success", None, "", "all passed"))
    table = html_table(["node", "kind", "status", "rows", "seconds", "message"], rows,
                       status_column="status")
    failures = result.failures
    details = "".join(
        f"<details open><summary>{badge(n.status)} {escape(n.kind)} <b>{escape(n.name)}</b>"
        f"</summary><pre style='white-space:pre-wrap'>{escape(n.message or '')}</pre>"
        + (f"<div>Inspect: <code>wb.sql(\"select * from {escape(n.relation)} limit 100\")"
           f"</code></div>" if n.relation else "")
        + "</details>"
        for n in failures[:MAX_EXPANDED])
    if len(failures) > MAX_EXPANDED:
        details += f"<div>… and {len(failures) - MAX_EXPANDED} more failures</div>"
    return f"<div>{title}{notes}{table}{details}</div>"
