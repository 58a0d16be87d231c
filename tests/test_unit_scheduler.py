"""The scheduler and graph selection on their own: a hand-made graph, a fake executor.

No Prefect, no dbt, no DuckDB: these run in a fraction of a second and pin down the rules
the integration tests rely on (ordering, batching, gates, skips, cancel, isolation).
"""

from __future__ import annotations

import threading

import pytest

from workbench.errors import ConfigError
from workbench.graph import Graph, GraphNode
from workbench.progress import (
    CancelToken,
    NodeFinished,
    NodeUpToDate,
    RunPlanned,
    Work,
    WorkStarted,
)
from workbench.results import NodeResult
from workbench.scheduler import Plan, Scheduler, explain

WAIT = 120      # seconds; only ever reached when a rule is broken (a busy machine is fine)


def graph() -> Graph:
    """Two sources; each has a staging model with a test; a mart reads both; a step reads
    stg_a and feeds model c; an action reads the mart."""
    def node(kind: str, name: str) -> GraphNode:
        node_id = f"{kind}:{name}" if kind in ("source", "step", "action") else f"x.{name}"
        return GraphNode(node_id, name, kind)

    nodes = [node("source", "a"), node("source", "b"), node("model", "stg_a"),
             node("model", "stg_b"), node("test", "unique_stg_a"), node("test", "unique_stg_b"),
             node("model", "mart"), node("step", "label"), node("model", "c"),
             node("action", "send")]
    edges = [("source:a", "x.stg_a"), ("source:b", "x.stg_b"), ("x.stg_a", "x.unique_stg_a"),
             ("x.stg_b", "x.unique_stg_b"), ("x.stg_a", "x.mart"), ("x.stg_b", "x.mart"),
             ("x.stg_a", "step:label"), ("step:label", "x.c"), ("x.mart", "action:send")]
    return Graph({n.id: n for n in nodes}, edges)


class FakeExecutor:
    """Records the units it is handed; a node's outcome can be set per name."""

    def __init__(self, g: Graph, outcomes: dict[str, str] | None = None,
                 before: dict[str, threading.Event] | None = None) -> None:
        self.graph, self.outcomes, self.before = g, outcomes or {}, before or {}
        self.units: list[Work] = []
        self.lock = threading.Lock()

    def __call__(self, work: Work) -> list[NodeResult]:
        with self.lock:
            self.units.append(work)
        for name in work.names:
            if name in self.before:
                assert self.before[name].wait(WAIT), f"{name} waited for nothing"
        return [NodeResult(name, self.graph.nodes[i].kind, self.outcomes.get(name, "success"))
                for i, name in zip(work.ids, work.names)]

    def names(self) -> list[str]:
        return [name for work in self.units for name in work.names]


def run(g: Graph, plan: Plan, executor: FakeExecutor, **options):
    events = []
    results = Scheduler(g, plan, executor, emit=events.append, **options).run()
    return {r.name: r for r in results}, events


def test_every_node_runs_after_its_inputs_and_ready_dbt_nodes_share_one_build():
    g = graph()
    executor = FakeExecutor(g)

    results, _ = run(g, Plan(frozenset(g.nodes)), executor)

    assert set(results) == {n.name for n in g.nodes.values()}
    finished = executor.names()
    for child, parents in g.parents.items():
        for parent in parents:
            assert finished.index(g.nodes[parent].name) < finished.index(g.nodes[child].name)
    dbt_units = [w for w in executor.units if w.kind == "dbt"]
    assert any(len(w.names) > 1 for w in dbt_units), dbt_units


def test_a_failed_test_is_a_gate_on_what_is_built_on_the_model_it_tests():
    g = graph()
    results, _ = run(g, Plan(frozenset(g.nodes)), FakeExecutor(g, {"unique_stg_a": "fail"}))

    assert results["unique_stg_a"].status == "fail"
    assert results["mart"].status == "skipped"
    assert "unique_stg_a" in results["mart"].message
    assert results["send"].status == "skipped"
    assert results["label"].status == "skipped"
    assert results["unique_stg_b"].status == "success"       # the other source carries on


def test_a_failed_load_skips_only_what_is_downstream_of_it():
    g = graph()
    results, _ = run(g, Plan(frozenset(g.nodes)), FakeExecutor(g, {"b": "error"}))

    assert results["stg_b"].status == "skipped" and "source b error" in results["stg_b"].message
    assert results["mart"].status == "skipped"
    assert results["stg_a"].status == "success"
    assert results["c"].status == "success"


def test_nodes_whose_inputs_did_not_change_do_not_run_and_say_so():
    g = graph()
    executor = FakeExecutor(g, {"a": "skipped"})        # source a had nothing new

    results, events = run(g, Plan(frozenset(g.nodes)), executor)

    assert "stg_a" not in results and "c" not in results
    up_to_date = {g.nodes[e.node_id].name for e in events if isinstance(e, NodeUpToDate)}
    assert {"stg_a", "unique_stg_a", "label", "c"} <= up_to_date
    assert results["mart"].status == "success"          # b changed, and mart reads b


def test_a_source_with_pending_data_rebuilds_downstream_without_new_files():
    g = graph()
    executor = FakeExecutor(g, {"a": "skipped", "b": "skipped"})

    results, _ = run(g, Plan(frozenset(g.nodes), stale_sources=frozenset({"a"})), executor)

    assert {"stg_a", "mart", "label", "c", "send"} <= set(results)
    assert "stg_b" not in results


def test_a_slow_source_never_holds_up_the_models_of_another():
    g = graph()
    stg_b_done = threading.Event()
    executor = FakeExecutor(g, before={"a": stg_b_done})   # a loads only once stg_b is built

    def emit(event):
        if isinstance(event, NodeFinished) and event.result.name == "stg_b":
            stg_b_done.set()

    results = Scheduler(g, Plan(frozenset(g.nodes)), executor, emit=emit).run()

    assert {r.name: r.status for r in results}["a"] == "success"
    names = [r.name for r in results]
    assert names.index("stg_b") < names.index("a")


def test_cancel_starts_no_new_work_and_lets_running_work_finish():
    g = graph()
    cancel = CancelToken()
    release = threading.Event()
    executor = FakeExecutor(g, before={"a": release})

    def emit(event):
        if isinstance(event, NodeFinished) and event.result.name == "b":
            cancel.cancel("test")             # while a is still loading
            release.set()

    scheduler = Scheduler(g, Plan(frozenset(g.nodes)), executor, emit=emit, cancel=cancel)
    results = scheduler.run()

    assert sorted(r.name for r in results) == ["a", "b"]     # a finished; nothing started
    assert executor.names() == ["a", "b"] or executor.names() == ["b", "a"]
    assert {g.nodes[i].name for i in scheduler.not_started} >= {"stg_a", "mart", "send"}


def test_events_say_when_each_unit_starts_and_each_node_finishes():
    g = graph()
    _, events = run(g, Plan(frozenset(g.nodes)), FakeExecutor(g))

    started = [e.work for e in events if isinstance(e, WorkStarted)]
    finished = [e.node_id for e in events if isinstance(e, NodeFinished)]
    assert sorted(i for w in started for i in w.ids) == sorted(g.nodes)
    assert sorted(finished) == sorted(g.nodes)
    for work in started:        # each node's start comes before its finish
        first = events.index(next(e for e in events if isinstance(e, WorkStarted)
                                  and e.work == work))
        for node_id in work.ids:
            assert first < events.index(next(e for e in events if isinstance(e, NodeFinished)
                                              and e.node_id == node_id))
    assert not any(isinstance(e, RunPlanned) for e in events)   # the pipeline's to say


def test_loads_get_the_retries_asked_for():
    g = graph()
    executor = FakeExecutor(g)
    run(g, Plan(frozenset(g.nodes)), executor, retries=lambda kind: 2 * (kind == "source"))

    assert {w.kind: w.retries for w in executor.units} == {
        "source": 2, "dbt": 0, "step": 0, "action": 0}


# -- selection ---------------------------------------------------------------------------------
def names(g: Graph, ids) -> set[str]:
    return {g.nodes[i].name for i in ids}


def test_selection_of_sources_is_them_and_what_is_downstream_with_its_tests():
    g = graph()
    assert names(g, g.selection(["b"])) == {"b", "stg_b", "unique_stg_b", "mart", "send"}
    assert names(g, g.selection()) == names(g, g.nodes)


def test_selection_syntax_walks_up_and_down_and_by_kind():
    g = graph()
    assert names(g, g.selection(select="stg_a+")) == {
        "stg_a", "unique_stg_a", "mart", "label", "c", "send"}
    assert names(g, g.selection(select="+c")) == {"a", "stg_a", "label", "c", "unique_stg_a"}
    assert names(g, g.selection(select="steps actions")) == {"label", "send"}
    assert names(g, g.selection(select="loader:b")) == {"b"}


def test_an_unknown_term_goes_to_dbt_and_then_fails_with_the_term_named():
    g = graph()
    asked = []

    def dbt_ls(term):
        asked.append(term)
        return ["x.mart"] if term == "tag:nightly" else []

    assert names(g, g.selection(select="tag:nightly", dbt_ls=dbt_ls)) == {"mart"}
    with pytest.raises(ConfigError, match="'nope'"):
        g.selection(select="nope", dbt_ls=dbt_ls)
    assert asked == ["tag:nightly", "nope"]


def test_a_run_cancelled_before_it_starts_starts_nothing():
    g = graph()
    cancel = CancelToken()
    cancel.cancel("before")
    executor = FakeExecutor(g)

    scheduler = Scheduler(g, Plan(frozenset(g.nodes)), executor, cancel=cancel)

    assert scheduler.run() == [] and executor.units == []
    assert set(scheduler.not_started) == set(g.nodes)


def test_a_changed_definition_runs_that_node_and_what_reads_it_only():
    g = graph()
    executor = FakeExecutor(g, {"a": "skipped", "b": "skipped"})    # no new data
    plan = Plan(frozenset(g.nodes), changed={"x.stg_b": "its definition changed"})

    results, _ = run(g, plan, executor)

    assert set(results) == {"a", "b", "stg_b", "unique_stg_b", "mart", "send"}


def test_explain_says_what_would_run_and_why_by_the_same_rules():
    g = graph()
    plan = Plan(frozenset(g.nodes), changed={"x.stg_b": "its definition changed"})

    reasons = {g.nodes[i].name: why for i, why in
               explain(g, plan, {"a": "new data: 1 file"}).items()}

    assert reasons["a"] == "new data: 1 file" and reasons["b"] is None
    assert reasons["stg_b"] == "its definition changed"
    assert reasons["stg_a"] == "upstream changed: a"
    assert reasons["mart"] == "upstream changed: stg_a, stg_b"
    assert reasons["c"] == "upstream changed: label"
    executor = FakeExecutor(g, {"b": "skipped"})
    results, _ = run(g, plan, executor)
    assert set(results) - {"b"} == {name for name, why in reasons.items() if why}


def test_a_view_with_only_new_data_upstream_is_not_rebuilt_and_what_reads_it_runs():
    g = graph()
    views = frozenset({"x.stg_a", "x.stg_b"})
    executor = FakeExecutor(g, {"b": "skipped"})                   # new data in a only
    plan = Plan(frozenset(g.nodes), changed={"x.stg_b": "its definition changed"},
                passthrough=views)

    results, _ = run(g, plan, executor)

    assert "stg_a" not in executor.names()                          # new data: passed through
    assert results["stg_a"].status == "success" and "not rebuilt" in results["stg_a"].message
    assert "stg_b" in executor.names()                              # its definition changed
    assert {"unique_stg_a", "label", "c", "mart", "send"} <= set(executor.names())
    reasons = {g.nodes[i].name: why for i, why in
               explain(g, plan, {"a": "new data: 1 file"}).items()}
    assert reasons["stg_a"] == "upstream changed: a (a view: not rebuilt, reads it as it is)"
    assert set(results) - {"b"} == {name for name, why in reasons.items() if why}


def test_a_view_whose_input_is_rebuilt_in_the_same_build_joins_that_build():
    g = graph()
    executor = FakeExecutor(g, {"a": "skipped", "b": "skipped"})    # no new data
    plan = Plan(frozenset(g.nodes), changed={"x.stg_b": "its definition changed"},
                passthrough=frozenset({"x.mart"}))

    run(g, plan, executor)

    # Not passed through before its input is built: dbt builds it after stg_b, and skips it
    # if stg_b or its test fails (a pass-through would already have said "success").
    together = next(work for work in executor.units if "stg_b" in work.names)
    assert "mart" in together.names
