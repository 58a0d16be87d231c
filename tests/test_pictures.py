"""Pictures a user looks at: the lineage graph, a run's Gantt chart, durations over runs.

They are SVG strings, so the tests parse them as XML and count what a person would see:
one box per node, one arrow per edge, one bar per node of a run, one sparkline per node.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import datetime, timedelta

import pandas as pd
import pytest

from workbench import ConfigError, Workbench
from workbench.display.charts import gantt
from workbench.display.lineage import Lineage
from workbench.graph import Graph, GraphNode
from workbench.history import History, load_history

SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def wb(built_project) -> Workbench:
    return Workbench(built_project)


@pytest.fixture(scope="module")
def graph(wb) -> Graph:
    return wb.graph()


def groups(svg: str, css_class: str) -> list[ET.Element]:
    root = ET.fromstring(svg)            # raises if the SVG is not well-formed XML
    assert root.tag == f"{SVG}svg"
    assert {"width", "height", "viewBox"} <= set(root.attrib)
    return [g for g in root.iter(f"{SVG}g") if g.get("class") == css_class]


def drawn(graph: Graph) -> tuple[set[str], list[tuple[str, str]]]:
    names = {n.name for n in graph.nodes.values() if n.kind != "test"}
    edges = [(p, c) for p, c in graph.edges()
             if graph.nodes[p].kind != "test" and graph.nodes[c].kind != "test"]
    return names, edges


def test_lineage_draws_a_box_per_node_and_an_arrow_per_edge_tests_hidden(wb, graph, tmp_path):
    statuses = dict(wb.sql("select name, status from _workbench.node_results")
                    .itertuples(index=False))
    freshness = {f.source: f.state for f in wb.freshness()}
    lineage = Lineage(graph, statuses=statuses, freshness=freshness)

    names, edges = drawn(graph)
    nodes = groups(lineage.svg, "node")
    assert sorted(g.get("data-name") for g in nodes) == sorted(names)
    assert len(groups(lineage.svg, "edge")) == len(edges)
    assert all(g.get("data-status") == statuses[g.get("data-name")] for g in nodes
               if g.get("data-name") in statuses)
    badges = groups(lineage.svg, "freshness")
    assert len(badges) == len(freshness) == len(wb.config.sources)

    saved = lineage.save(tmp_path / "lineage.svg")
    assert ET.parse(saved).getroot().tag == f"{SVG}svg"
    assert "<svg" in lineage._repr_html_() and "tests counted on" in lineage._repr_html_()
    text = repr(lineage)
    assert text.splitlines()[1].lstrip().startswith("sources:")
    assert "→" in text and "user_engagement" in text


def test_lineage_has_no_empty_stripe_across_it(graph):
    """A chain pulled straight (invoices -> stg_invoices -> revenue_by_month) once sat far
    below the rest, the picture cut in two by an empty band."""
    from workbench.display.lineage_layout import BOX_H

    spans = sorted((float(r.get("y")), float(r.get("y")) + float(r.get("height")))
                   for g in groups(Lineage(graph).svg, "node") for r in g.iter(f"{SVG}rect")
                   if r.get("height"))
    bottom = spans[0][1]
    for top, end in spans[1:]:
        # a band of one box's height at most (actions are drawn as paths, not counted here)
        assert top - bottom <= 2 * BOX_H, f"an empty band from y={bottom} to y={top}"
        bottom = max(bottom, end)


def test_lineage_with_tests_draws_every_node(graph):
    lineage = Lineage(graph, include_tests=True)
    assert len(groups(lineage.svg, "node")) == len(graph.nodes)
    assert len(groups(lineage.svg, "edge")) == len(graph.edges())


def test_highlight_keeps_the_lineage_bright_and_fades_the_rest(graph):
    lineage = Lineage(graph, highlight="user_engagement")
    (focus,) = graph.find("user_engagement")
    bright = {graph.nodes[n].name for n in
              {focus} | graph.upstream(focus) | graph.downstream(focus)}
    faded = {g.get("data-name") for g in groups(lineage.svg, "node") if g.get("opacity")}
    names, _ = drawn(graph)
    assert faded == names - bright
    assert {"users", "stg_users", "export_user_engagement"} <= bright
    assert "revenue_by_month" in faded

    with pytest.raises(ConfigError, match="Did you mean 'user_engagement'"):
        Lineage(graph, highlight="user_engagment")


def test_lineage_escapes_names():
    odd = 'a<b & "c"'
    nodes = {"source:x": GraphNode("source:x", "x", "source", "raw.x"),
             "model.p.odd": GraphNode("model.p.odd", odd, "model", "marts.odd"),
             "action:y": GraphNode("action:y", "y</text><script>", "action")}
    graph = Graph(nodes, [("source:x", "model.p.odd"), ("model.p.odd", "action:y")])
    lineage = Lineage(graph, statuses={odd: "error"}, freshness={"x": "stale"},
                      highlight=odd)
    svg = lineage.svg
    assert "<script>" not in svg and odd not in svg
    names = [g.get("data-name") for g in groups(svg, "node")]
    assert odd in names and "y</text><script>" in names
    texts = {t.text for t in ET.fromstring(svg).iter(f"{SVG}text")}
    assert odd in texts
    assert len(groups(svg, "edge")) == 2
    assert odd in repr(lineage)


def test_history_of_the_built_project(wb):
    history = load_history(wb.sql)
    assert len(history) == len(history.to_pandas()) >= 1
    last = history.last()
    assert set(last["run_id"]) == {history.runs["run_id"].iloc[0]}

    bars = groups(history.gantt().svg, "bar")
    shown = last[~((last["kind"] == "test") & last["status"].isin(["success", "skipped"]))]
    assert sorted(g.get("data-name") for g in bars) == sorted(shown["name"])

    timed = last[(last["kind"] != "test") & (last["status"] != "skipped")]
    series = groups(history.durations(top=5).svg, "series")
    assert len(series) == min(5, timed["name"].nunique())

    html = history._repr_html_()
    assert html.count("<svg") == 2 and "<table" in html
    assert history.runs["run_id"].iloc[0] in repr(history)


def test_durations_show_what_got_slower():
    t0 = datetime(2026, 1, 1, 12)
    runs = pd.DataFrame([{"run_id": f"r{i}", "trigger": "manual", "selection": "all",
                          "status": "success", "started_at": t0 + timedelta(hours=i),
                          "finished_at": t0 + timedelta(hours=i, seconds=5),
                          "summary": f"run r{i} success in 5.0s: 3 success"}
                         for i in range(4)])
    seconds = {"slow<er": [1.0, 1.1, 0.9, 3.0], "steady": [0.5, 0.5, 0.5, 0.5],
               "dropped": [0.2, 0.2, None, None]}
    nodes = pd.DataFrame([
        {"run_id": f"r{i}", "name": name, "kind": "model", "status": "success",
         "seconds": value, "rows": 10,
         "started_at": t0 + timedelta(hours=i, seconds=1),
         "finished_at": t0 + timedelta(hours=i, seconds=1 + value)}
        for name, values in seconds.items() for i, value in enumerate(values) if value])
    history = History(runs, nodes)

    series = {g.get("data-name"): g for g in groups(history.durations().svg, "series")}
    assert list(series) == ["slow<er", "steady", "dropped"]        # slowest first
    assert "▲ 3.0×" in "".join(series["slow<er"].itertext())
    assert "≈ 1.0×" in "".join(series["steady"].itertext())
    assert len(groups(history.gantt("r0").svg, "bar")) == 3
    assert len(groups(history.gantt().svg, "bar")) == 2            # r3 is the latest
    chart = history.gantt()
    assert "r3" in chart.title and "<svg" in chart._repr_html_()


def test_gantt_is_bounded_and_draws_nodes_that_never_started():
    t0 = datetime(2026, 1, 1)
    nodes = [{"name": f"n{i}", "kind": "model", "status": "success", "seconds": 0.1,
              "started_at": t0 + timedelta(seconds=i / 10),
              "finished_at": t0 + timedelta(seconds=i / 10 + 0.1)} for i in range(100)]
    nodes.append({"name": "later", "kind": "action", "status": "skipped",
                  "started_at": None, "finished_at": pd.NaT})
    svg = gantt(nodes, limit=60)
    assert len(groups(svg, "bar")) == 60 and "… and 41 more" in svg
    assert len(groups(gantt(nodes[-3:]), "bar")) == 3


def test_the_readme_pictures_exist():
    """The README's screenshots are copied from tests/artifacts by hand after the browser
    test (explorer-dark.png -> docs/explorer.png, lineage-light.png -> docs/lineage.png,
    panel-after-run-all.png -> docs/panel.png, failed-run-light.png -> docs/failed-run.png)."""
    from pathlib import Path
    import re

    root = Path(__file__).resolve().parents[1]
    links = re.findall(r"\]\((docs/[^)]+\.png)\)", (root / "README.md").read_text())
    assert {"docs/explorer.png", "docs/lineage.png", "docs/panel.png",
            "docs/failed-run.png"} <= set(links)
    assert all((root / link).is_file() for link in links), links
