"""Selection follows dbt's grammar: the dbt nodes a selection picks are those ``dbt ls`` lists.

The fidelity project (tests/projects/fidelity: tags, folders, a package, a unit test, a
source the workbench loads and one it does not) is parsed once; each expression of the table
is answered by the workbench (``Graph.selection``, as a run plans it) and by dbt's own
selector reading the whole expression at once (``dbt ls --select ... --exclude ...``).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from workbench import Workbench
from workbench.cli import main
from workbench.errors import ConfigError
from workbench.graph import Graph, GraphNode

FIDELITY = Path(__file__).parent / "projects" / "fidelity"
DBT_KINDS = ("model", "seed", "snapshot", "test")

# (select, exclude): dbt's grammar, every method the project gives something to select.
DBT_EXPRESSIONS = [
    ("stg_orders+", None),
    ("+customer_orders", None),
    ("customer_orders,stg_orders+", None),             # comma: intersection
    ("stg_payments customers", None),                  # space: union
    ("source:raw.payments+", None),                    # dbt's source:, not a loader
    ("source:fidelity.raw.payments+", None),
    ("source:ext+", None),
    ("tag:nightly,tag:finance", None),
    ("tag:staging+", "customer_orders"),
    ("path:models/marts", "config.materialized:incremental"),
    ("config.materialized:table", None),
    ("1+order_payments", None),
    ("order_payments+1", None),
    ("@stg_payments", None),
    ("marts", "tag:nightly"),
    ("resource_type:seed resource_type:snapshot", None),
    ("test_type:unit", None),
    ("package:fidelity,resource_type:model", None),
]
# The workbench's own kinds, mixed with dbt's: the dbt nodes equal dbt's for the same meaning.
MIXED = [
    (("loader:payments+", None), ("source:raw.payments+", None)),
    (("loader:payments+,tag:nightly", None), ("source:raw.payments+,tag:nightly", None)),
    (("loader:payments+", "tag:finance"), ("source:raw.payments+", "tag:finance")),
]


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Workbench:
    root = tmp_path_factory.mktemp("selection") / "fidelity"
    shutil.copytree(FIDELITY, root, ignore=shutil.ignore_patterns(
        "target", "logs", "dbt_packages", "package-lock.yml", ".workbench", "*.duckdb"))
    return Workbench(root)


def by_workbench(wb: Workbench, select: str, exclude: str | None) -> set[str]:
    graph = wb.pipeline.graph()
    chosen = graph.selection(select=select, exclude=exclude, dbt_ls=wb.pipeline.dbt.ls)
    return {i for i in chosen if graph.nodes[i].is_dbt}


def by_dbt(wb: Workbench, select: str, exclude: str | None) -> set[str]:
    return {uid for uid in wb.pipeline.dbt.ls(select, exclude=exclude)
            if uid.split(".")[0] in (*DBT_KINDS, "unit_test")}


def test_each_dbt_expression_selects_the_nodes_dbt_ls_lists(project):
    differ = {}
    for select, exclude in DBT_EXPRESSIONS:
        ours, dbts = by_workbench(project, select, exclude), by_dbt(project, select, exclude)
        assert dbts, f"{select!r} selects nothing in dbt: not a useful case"
        if ours != dbts:
            differ[(select, exclude)] = (sorted(ours - dbts), sorted(dbts - ours))
    assert not differ, differ


def test_own_kinds_mix_with_dbt_methods_as_dbt_would_mean_them(project):
    graph = project.pipeline.graph()
    for ours, theirs in MIXED:
        assert by_workbench(project, *ours) == by_dbt(project, *theirs), ours
        chosen = graph.selection(select=ours[0], exclude=ours[1], dbt_ls=project.pipeline.dbt.ls)
        assert "source:payments" in chosen or "," in ours[0]


def test_dbt_source_selects_the_loader_that_fills_it_and_leaves_externals_out(project):
    graph = project.pipeline.graph()
    chosen = graph.selection(select="source:raw.payments+", dbt_ls=project.pipeline.dbt.ls)
    assert "source:payments" in chosen
    assert not graph.selection(select="source:ext", dbt_ls=project.pipeline.dbt.ls)


def test_the_old_source_name_of_a_loader_still_selects_it_with_a_warning(project):
    graph = project.pipeline.graph()
    with pytest.warns(FutureWarning, match="loader:payments"):
        chosen = graph.selection(select="source:payments", dbt_ls=project.pipeline.dbt.ls)
    assert chosen == {"source:payments"}


def test_plan_cli_and_wb_graph_take_select_and_exclude(project):
    assert project.graph().select("tag:nightly,tag:finance", exclude="test_type:data") == {
        "model.fidelity.order_payments"}
    plan = project.plan(select="tag:nightly", exclude="test_type:data")
    assert {(n.kind, n.name) for n in plan.nodes} == {
        ("model", "customer_orders"), ("model", "order_payments"),
        ("test", "customer_orders_counts_big_orders")}
    printed = CliRunner().invoke(main, ["-p", str(project.config.root), "run", "--dry-run",
                                        "--select", "stg_orders+,tag:finance",
                                        "--exclude", "test_type:data"])
    assert printed.exit_code == 0, printed.output
    assert "order_payments" in printed.output and "customer_orders" not in printed.output


def graph() -> Graph:
    """A loader feeds a model; a step reads it and feeds another model an action reads."""
    nodes = [GraphNode("source:a", "a", "source"), GraphNode("m.stg", "stg", "model"),
             GraphNode("t.stg", "unique_stg", "test"), GraphNode("step:label", "label", "step"),
             GraphNode("m.c", "c", "model"), GraphNode("action:send", "send", "action")]
    return Graph({n.id: n for n in nodes}, [
        ("source:a", "m.stg"), ("m.stg", "t.stg"), ("m.stg", "step:label"),
        ("step:label", "m.c"), ("m.c", "action:send")])


def test_a_dbt_walk_goes_on_across_steps_and_actions_dbt_cannot_see():
    g = graph()
    # dbt sees stg and its test downstream of stg; c only through the step it cannot see.
    dbt_ls = {"stg+": ["m.stg", "t.stg"], "+c": ["m.c", "source.p.steps.label"]}.get
    g.aliases["source.p.steps.label"] = "step:label"
    assert g.selection(select="stg+", dbt_ls=dbt_ls) == set(g.nodes) - {"source:a"}
    assert g.selection(select="+c", dbt_ls=dbt_ls) == {"source:a", "m.stg", "t.stg",
                                                       "step:label", "m.c"}


def test_own_kinds_take_dbts_operators_and_set_algebra():
    g = graph()
    assert g.selection(select="loader:a+1") == {"source:a", "m.stg", "t.stg"}
    assert g.selection(select="loader:a+", exclude="step:label+") == {
        "source:a", "m.stg", "t.stg"}
    assert g.selection(select="loader:a+,action:*") == {"action:send"}
    assert g.selection(select="2+step:label") == {"source:a", "m.stg", "step:label", "t.stg"}
    assert g.selection(select="steps actions") == {"step:label", "action:send"}
    with pytest.raises(ConfigError, match="'loader:nope'"):
        g.selection(select="loader:nope")


def test_dbt_descriptions_reach_the_catalogue_and_the_lineage_tooltip(project):
    from workbench.catalogue import Catalogue, TableInfo, dbt_docs

    project.pipeline.graph()        # parsed: dbt wrote target/manifest.json
    docs = dbt_docs(project.config.dbt_project)
    relation = next(r for r in docs.tables if r.endswith(".customer_orders"))
    schema = relation.split(".")[0]
    tables = Catalogue([TableInfo(schema, "customer_orders", "table", 3, 5)], docs)
    assert tables.description("customer_orders").startswith("Each customer with the number")
    assert tables.column_descriptions("customer_orders") == {
        "customer_id": "The customer's id, from the customers seed."}
    assert tables.to_pandas()["description"][0] == tables.description("customer_orders")
    assert "Each customer with the number" in repr(tables)
    svg = project.lineage().svg
    assert "<title>model customer_orders\nEach customer with the number" in svg
