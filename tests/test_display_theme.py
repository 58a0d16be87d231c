"""One palette for everything Workbench displays, readable on JupyterLab's light and dark themes.

Every colour a displayed object carries must be one of JupyterLab's theme variables (its
fallback, the colour outside JupyterLab, is the only literal); a literal colour anywhere else
would stay fixed when the theme goes dark (white rules, white cards, unreadable grey).
"""

from __future__ import annotations

import re
import threading
from datetime import datetime, timedelta
from html import unescape

import pytest

from workbench import Workbench
from workbench.display import panel_view, theme
from workbench.display.explorer import Explorer
from workbench.display.lineage import Lineage
from workbench.results import NodeResult, RunResult

# a literal colour: #rgb / #rrggbb (not an entity such as &#9679;), rgb()/rgba(), or a name
# in a colour property (white, black...)
LITERAL = re.compile(r"(?<![&\w])#[0-9a-fA-F]{3,8}\b|\brgba?\(|\bhsla?\("
                     r"|(?:color|fill|stroke|background)\s*[:=]\s*[\"']?(?:white|black)\b")
THEMED = re.compile(r"var\(--jp-[\w-]+,\s*[^()]*\)")


def literal_colours(html: str) -> list[str]:
    """The colours in ``html`` that no theme variable governs."""
    return LITERAL.findall(THEMED.sub("var(themed)", html))


@pytest.fixture(scope="module")
def wb(built_project) -> Workbench:
    return Workbench(built_project)


def a_run_result() -> RunResult:
    t0 = datetime(2026, 1, 1, 12)
    nodes = (NodeResult("events", "source", "success", 0.2, 120, started_at=t0,
                        finished_at=t0 + timedelta(seconds=0.2)),
             NodeResult("stg_users", "model", "error", 0.5,
                        message="Binder Error: column 'x' not found " * 8,
                        relation="staging.stg_users"),
             NodeResult("stg_events", "model", "warn", 0.1, message="warned"),
             NodeResult("user_engagement", "model", "skipped", message="skipped: upstream"),
             *(NodeResult(f"not_null_{i}", "test", "success", 0.01) for i in range(4)))
    return RunResult("r1", t0, t0 + timedelta(seconds=3), nodes,
                     notes=("1 source had no new files",))


def displayed(wb: Workbench) -> dict[str, str]:
    """The HTML of every kind of object a notebook shows, from the built project."""
    graph = wb.graph()
    statuses = dict(wb.sql("select name, status from _workbench.node_results")
                    .itertuples(index=False))
    statuses["stg_users"] = "error"
    freshness = {f.source: f.state for f in wb.freshness()}
    history = wb.history()
    explorer = Explorer(wb, "marts.user_engagement")
    explorer.details.selected_index = 1          # the profile, computed when opened
    run = _PanelRun()
    return {
        "RunResult": a_run_result()._repr_html_(),
        "Catalogue": wb.tables()._repr_html_(),
        "StatusReport": wb.status()._repr_html_(),
        "FreshnessReport": wb.freshness()._repr_html_(),
        "Graph": graph._repr_html_(),
        "History": history._repr_html_(),
        "Lineage": Lineage(graph, statuses=statuses, freshness=freshness,
                           highlight="user_engagement")._repr_html_(),
        "Lineage with tests": Lineage(graph, include_tests=True).svg,
        "explorer": explorer.static_html() + explorer.schema.value + explorer.stats.value
        + explorer.grid._css,
        "panel": (panel_view._table(run) + panel_view._status("running", "1 of 3")
                  + panel_view._service("unreachable", "no answer")
                  + panel_view._title("p", "/tmp/p")
                  + panel_view._label_line("All", "70px", "load what changed")),
    }


class _PanelRun:
    """What the panel's node table reads from a run: its rows, under its lock."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        row = panel_view._Row
        self.rows = {"source:events": row("source:events", "events", "source",
                                          "done", 120, 0.2),
                     "m": row("m", "stg_users", "model", "failed", note="x" * 99),
                     "t": row("t", "not_null", "test", "running")}


def test_no_displayed_object_hard_codes_a_colour(wb):
    for name, html in displayed(wb).items():
        assert "var(--jp-" in html, f"{name} shows no theme colour at all"
        assert literal_colours(html) == [], f"{name} hard-codes {literal_colours(html)}"


def test_the_theme_is_written_in_jupyterlab_variables():
    colours = [theme.INK, theme.MUTED, theme.FAINT, theme.RULE, theme.SURFACE, theme.GOOD,
               theme.WARN, theme.BAD, theme.ACTIVE, theme.OTHER,
               *theme.STATUS.values(), *theme.KIND.values()]
    assert all(THEMED.fullmatch(c) for c in colours), colours
    for css in (theme.TABLE, theme.CELL, theme.HEAD, theme.NOTE, theme.background()):
        assert "var(--jp-" in css and literal_colours(css) == []
    # one state, one colour, whatever its spelling; Prefect's states are upper case
    assert theme.colour("COMPLETED") == theme.colour("success") == theme.GOOD
    assert theme.colour("failed") == theme.colour("CRASHED") == theme.BAD
    assert theme.colour("something new") == theme.MUTED


def test_the_detector_sees_literal_colours():
    assert literal_colours("<td style='color:#cf222e'>") == ["#cf222e"]
    assert literal_colours('<rect fill="#fff"/>') == ["#fff"]
    assert literal_colours("<span style='color:rgb(1,2,3)'>")
    assert literal_colours('<rect fill="white"/>')
    assert literal_colours(f"<span style='color:{theme.BAD}'>&#9679; x</span>") == []


def test_svg_colours_are_styles_not_attributes(wb):
    """``fill="var(...)"`` is not resolved by every SVG renderer; ``style="fill:..."`` is."""
    lineage = Lineage(wb.graph(), freshness={f.source: f.state for f in wb.freshness()})
    svgs = [lineage.svg, wb.history().gantt().svg, wb.history().durations().svg]
    for svg in svgs:
        assert not re.search(r'\b(?:fill|stroke)="var\(', svg)
        assert "fill:var(--jp-" in svg


def test_a_message_cut_short_ends_with_an_ellipsis():
    html = a_run_result()._repr_html_()
    cell = unescape(re.search(r">(Binder Error[^<]*)", html).group(1))   # the cell, not its title
    assert cell.endswith("…") and len(cell) <= 120
    assert panel_view._short("x" * 99).endswith("…")
