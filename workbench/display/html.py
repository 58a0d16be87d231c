"""HTML for Jupyter: escaped, bounded, and readable without any JavaScript.

Everything here is static HTML, so it survives nbconvert exports and headless reports.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape

from . import theme

MAX_ROWS = 60          # nodes shown before the rest are counted
MAX_EXPANDED = 5       # failures shown with their full message
MESSAGE_CHARS = 120    # a message's first line in a table cell


def badge(status: str) -> str:
    """A status in its colour (``theme.colour``)."""
    return theme.badge(status)


def shorten(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters; a cut one ends with an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def html_table(headers: Sequence[str], rows: Iterable[Sequence[object]], *,
               status_column: str | None = None, limit: int = MAX_ROWS,
               css: str = "") -> str:
    """A bounded HTML table; cells are escaped; the status column is coloured. Every table
    Workbench shows is drawn here, in ``theme``'s style; ``css`` names the table (a class)
    for tests and stylesheets."""
    rows = list(rows)
    head = "".join(f'<th style="{theme.HEAD}">{escape(h)}</th>' for h in headers)
    body = []
    for row in rows[:limit]:
        cells = []
        for header, value in zip(headers, row):
            text = "" if value is None else (f"{value:,}" if isinstance(value, int)
                                             and not isinstance(value, bool) else str(value))
            html = badge(text) if header == status_column else escape(text)
            cells.append(f'<td style="{theme.CELL}">{html}</td>')
        body.append(f"<tr>{''.join(cells)}</tr>")
    more = (f'<tr><td colspan="{len(headers)}" style="{theme.CELL};{theme.NOTE}">… and '
            f"{len(rows) - limit} more</td></tr>" if len(rows) > limit else "")
    klass = f' class="{escape(css)}"' if css else ""
    return (f'<table{klass} style="{theme.TABLE}"><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(body)}{more}</tbody></table>")


def run_result_html(result) -> str:
    title = (f"<b>Run {escape(result.run_id)}</b> {badge(result.status)} in "
             f"{result.seconds:.1f}s &middot; selection {escape(result.selection)}")
    notes = "".join(f"<div>{theme.note(n)}</div>" for n in result.notes)
    shown, passed = result.shown_nodes()
    rows = [(n.name, n.kind, n.status, n.rows, f"{n.seconds:.2f}",
             shorten(n.message.splitlines()[0], MESSAGE_CHARS) if n.message else "")
            for n in shown]
    if passed:
        rows.append((f"{passed} dbt tests", "test", "success", None, "", "all passed"))
    table = html_table(["node", "kind", "status", "rows", "seconds", "message"], rows,
                       status_column="status")
    failures = result.failures
    details = "".join(
        f"<details open><summary>{badge(n.status)} {escape(n.kind)} <b>{escape(n.name)}</b>"
        f"</summary><pre style='white-space:pre-wrap;color:{theme.INK}'>"
        f"{escape(n.message or '')}</pre>"
        + (f"<div>Inspect: <code>wb.sql(\"select * from {escape(n.relation)} limit 100\")"
           f"</code></div>" if n.relation else "")
        + "</details>"
        for n in failures[:MAX_EXPANDED])
    if len(failures) > MAX_EXPANDED:
        more = len(failures) - MAX_EXPANDED
        details += f"<div>{theme.note(f'… and {more} more failures')}</div>"
    return f"<div>{title}{notes}{table}{details}</div>"
