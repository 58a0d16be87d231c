"""HTML for Jupyter: escaped, bounded, and readable without any JavaScript.

Everything here is static HTML, so it survives nbconvert exports and headless reports.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape

from . import theme

MAX_ROWS = 60          # nodes shown before the rest are counted
MAX_EXPANDED = 5       # failures shown with their full message
MESSAGE_CHARS = 120    # a message's first line in a table cell (CSS may cut it further)
# a failure's message and query: wrapped at words (JupyterLab's <pre> breaks mid-word)
_PRE = f"white-space:pre-wrap;word-break:normal;overflow-wrap:break-word;color:{theme.INK}"


def badge(status: str) -> str:
    """A status in its colour (``theme.colour``)."""
    return theme.badge(status)


def shorten(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, at a word when one ends in the last third; a
    cut one ends with an ellipsis.

    >>> shorten("no table 'user_engagment' in the warehouse", 30)
    "no table 'user_engagment' in…"
    """
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    return (cut[:space] if space > limit * 2 // 3 else cut).rstrip() + "…"


def html_table(headers: Sequence[str], rows: Iterable[Sequence[object]], *,
               status_column: str | None = None, limit: int = MAX_ROWS,
               css: str = "", cut: dict[str, int] | None = None,
               fill: str | None = None) -> str:
    """A bounded HTML table; cells are escaped; the status column is coloured. Every table
    Workbench shows is drawn here, in ``theme``'s style; ``css`` names the table (a class)
    for tests and stylesheets; ``cut`` shortens a column's text (header -> characters),
    with an ellipsis and the whole text on hover (``title=``). With ``fill`` (a header) the
    table is as wide as the notebook, every cell one line, and that column takes the width
    left, its text cut to fit with an ellipsis and whole on hover: a long message never
    makes a row three lines tall or the table wider than the notebook."""
    cut = cut or {}
    rows = list(rows)
    one_line = ";white-space:nowrap" if fill else ""
    head = "".join(f'<th style="{theme.HEAD}{one_line}">{escape(h)}</th>' for h in headers)
    body = []
    for row in rows[:limit]:
        cells = []
        for header, value in zip(headers, row):
            text = "" if value is None else (f"{value:,}" if isinstance(value, int)
                                             and not isinstance(value, bool) else str(value))
            html = badge(text) if header == status_column else escape(text)
            title = ""
            if header in cut and len(text) > cut[header]:
                html = escape(shorten(text, cut[header]))
                title = f' title="{escape(text, quote=True)}"'
            style = f"{theme.CELL}{one_line}"
            if header == fill:
                style += f";{theme.FILL}"
                title = f' title="{escape(text, quote=True)}"' if text else ""
            cells.append(f'<td style="{style}"{title}>{html}</td>')
        body.append(f"<tr>{''.join(cells)}</tr>")
    more = (f'<tr><td colspan="{len(headers)}" style="{theme.CELL};{theme.NOTE}">… and '
            f"{len(rows) - limit} more</td></tr>" if len(rows) > limit else "")
    klass = f' class="{escape(css)}"' if css else ""
    width = ";width:100%" if fill else ""
    return (f'<table{klass} style="{theme.TABLE}{width}"><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(body)}{more}</tbody></table>")


def run_result_html(result) -> str:
    title = (f"<b>Run {escape(result.run_id)}</b> {badge(result.status)} in "
             f"{result.seconds:.1f}s &middot; selection {escape(result.selection)}")
    notes = "".join(f"<div>{theme.note(n)}</div>" for n in result.notes)
    shown, passed = result.shown_nodes()
    rows = [(n.name, n.kind, n.status, n.rows, f"{n.seconds:.2f}",
             n.message.strip().splitlines()[0] if n.message else "") for n in shown]
    if passed:
        rows.append((f"{passed} dbt tests", "test", "success", None, "", "all passed"))
    if result.up_to_date:
        kinds = _counts(n.kind for n in result.up_to_date)
        count = len(result.up_to_date)
        rows.append((f"{count} node{'' if count == 1 else 's'}", "", "up to date", None,
                     "", f"not run: nothing they read changed ({', '.join(kinds)})"))
    table = html_table(["node", "kind", "status", "rows", "seconds", "message"], rows,
                       status_column="status", css="workbench-run-nodes", fill="message",
                       cut={"message": MESSAGE_CHARS})
    failures = result.failures
    details = "".join(_failure(n) for n in failures[:MAX_EXPANDED])
    if len(failures) > MAX_EXPANDED:
        more = len(failures) - MAX_EXPANDED
        details += f"<div>{theme.note(f'… and {more} more failures')}</div>"
    return f"<div>{title}{notes}{table}{details}</div>"


def _failure(node) -> str:
    """A failed node expanded: its message; a failed test's first failing rows and the
    query that reads them all (runnable as shown); a model's table to inspect."""
    message = node.message or ""
    if node.query:
        message = message.split("\nQuery for the failing rows:", 1)[0]
    body = (f"<pre style='{_PRE}'>{escape(message)}</pre>")
    if node.sample:
        columns = list(node.sample[0])
        body += (f"<div>First failing rows:</div>"
                 + html_table(columns, [[r.get(c) for c in columns] for r in node.sample],
                              css="workbench-failing-rows"))
    if node.query:
        body += (f"<div>All failing rows: <code>wb.sql(result.node({node.name!r}).query)"
                 f"</code>, or in <code>%%sql</code>:</div><pre style='{_PRE}'>"
                 f"{escape(node.query)}</pre>")
    elif node.relation:
        body += (f"<div>Inspect: <code>wb.sql(\"select * from {escape(node.relation)} "
                 f"limit 100\")</code></div>")
    return (f"<details open><summary>{badge(node.status)} {escape(node.kind)} "
            f"<b>{escape(node.name)}</b></summary>{body}</details>")


def _counts(values: Iterable[str]) -> list[str]:
    """``["model", "test", "test"]`` as ``["2 tests", "1 model"]``: most first."""
    counts: dict[str, int] = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return [f"{n} {v}{'s' if n > 1 else ''}"
            for v, n in sorted(counts.items(), key=lambda kv: -kv[1])]
