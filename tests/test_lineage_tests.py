"""Lineage as a person reads it: a failed dbt test shows on its model by default, tests are
counted per model, each column has one clear heading, actions come last, boxes fit their
names, and JupyterLab gets a toolbar while exports keep the static SVG."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from workbench.display.lineage import Lineage
from workbench.display.lineage_layout import CHAR_W
from workbench.graph import Graph, GraphNode

SVG = "{http://www.w3.org/2000/svg}"


def a_graph() -> Graph:
    nodes = {"source:events": GraphNode("source:events", "events", "source", "raw.events"),
             "model.p.stg_community_messages": GraphNode(
                 "model.p.stg_community_messages", "stg_community_messages", "model",
                 "staging.stg_community_messages"),
             "model.p.user_engagement": GraphNode("model.p.user_engagement",
                                                  "user_engagement", "model",
                                                  "marts.user_engagement"),
             "action:export_user_engagement": GraphNode("action:export_user_engagement",
                                                        "export_user_engagement", "action"),
             **{f"test.p.t{i}": GraphNode(f"test.p.t{i}", f"not_null_user_engagement_c{i}",
                                          "test") for i in range(3)}}
    edges = [("source:events", "model.p.stg_community_messages"),
             ("model.p.stg_community_messages", "model.p.user_engagement"),
             ("model.p.stg_community_messages", "action:export_user_engagement"),
             *((("model.p.user_engagement", f"test.p.t{i}")) for i in range(3))]
    return Graph(nodes, edges)


def nodes_of(svg: str) -> dict[str, ET.Element]:
    return {g.get("data-name"): g for g in ET.fromstring(svg).iter(f"{SVG}g")
            if g.get("class") == "node"}


def test_a_failed_test_marks_its_model_and_tests_are_counted():
    statuses = {"user_engagement": "success", "not_null_user_engagement_c1": "fail"}
    lineage = Lineage(a_graph(), statuses=statuses)
    model = nodes_of(lineage.svg)["user_engagement"]
    assert model.get("data-tests") == "3"
    assert model.get("data-failing-tests") == "not_null_user_engagement_c1"
    texts = {t.get("class"): t.text for t in model.iter(f"{SVG}text")}
    assert texts["tests"] == "✕ 1 of 3 tests"
    assert "error-color" in ET.tostring(model.find(f"{SVG}rect"), encoding="unicode")
    assert "✕ 1 of 3 tests" in repr(lineage)
    assert "fail: not_null_user_engagement_c1" in model.find(f"{SVG}title").text

    passing = nodes_of(Lineage(a_graph(), statuses={"user_engagement": "success"}).svg)
    assert passing["user_engagement"].get("data-failing-tests") == ""
    # expanded: every test is drawn and no model carries a count
    expanded = nodes_of(Lineage(a_graph(), statuses=statuses, include_tests=True).svg)
    assert len(expanded) == 7 and expanded["user_engagement"].get("data-tests") is None


def test_columns_have_one_heading_and_actions_come_last():
    svg = Lineage(a_graph()).svg
    headings = ["".join(t.itertext()) for t in ET.fromstring(svg).iter(f"{SVG}text")
                if t.get("class") == "heading"]
    assert headings == ["SOURCES", "STAGING", "MARTS", "ACTIONS"]
    assert not any("·" in h or "|" in h for h in headings)


def test_marts_that_read_marts_share_one_heading():
    graph = a_graph()
    nodes = {**graph.nodes, "model.p.retention": GraphNode(
        "model.p.retention", "retention", "model", "marts.retention")}
    graph = Graph(nodes, [*graph.edges(), ("model.p.user_engagement", "model.p.retention")])
    root = ET.fromstring(Lineage(graph).svg)
    headings = ["".join(t.itertext()) for t in root.iter(f"{SVG}text")
                if t.get("class") == "heading"]
    assert headings == ["SOURCES", "STAGING", "MARTS", "ACTIONS"]
    rules = [r for r in root.iter(f"{SVG}line") if r.get("class") == "heading-rule"]
    assert len(rules) == 1        # under MARTS, across its two columns


def test_boxes_are_as_wide_as_their_names():
    lineage = Lineage(a_graph())
    layout = lineage._layout
    for row, width in zip(layout.layers, layout.widths):
        for s in (s for s in row if s.real):
            name = lineage.graph.nodes[s.key].name
            assert width >= len(name) * CHAR_W + 11 + 20, name      # the name and its mark


def test_jupyterlab_gets_pan_zoom_and_search_and_exports_keep_the_svg():
    html = Lineage(a_graph())._repr_html_()
    assert html.count("<svg") == 1 and "<script>" in html
    assert 'class="wb-search"' in html and "wb-fit" in html
    assert "workbench-lineage-tools\" hidden" in html     # shown only where scripts run
