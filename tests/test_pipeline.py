"""The community pipeline as one graph: steps between dbt layers, actions after, isolation."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from helpers import read_invoices_with

from workbench import ConfigError, Workbench


@pytest.fixture
def loaded(built_project, tmp_path) -> Path:
    root = tmp_path / "copy"
    shutil.copytree(built_project, root)
    return root


def ran(result) -> set[str]:
    return {n.name for n in result.nodes if n.status != "skipped" and n.kind != "test"}


def add_messages(root: Path, rows: list[dict]) -> None:
    path = root / "data" / "landing" / "community_messages" / "2026-11.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def message(i: int, text: str, user: int) -> dict:
    return {"message_id": f"1790000000.{i:06d}", "channel": "help", "user_id": user,
            "ts": "2026-11-01T10:00:00", "thread_id": None, "text": text}


def test_full_run_classifies_builds_marts_and_runs_actions(built_project):
    wb = Workbench(built_project)
    assert wb.history().runs.iloc[0]["status"] == "success"
    labels = wb.table("steps.message_labels")
    messages = wb.table("stg_community_messages")
    assert len(labels) == len(messages) > 0
    assert set(labels["label"]) <= {"question", "feedback", "bug", "praise", "other"}
    for mart in ("community_questions", "feature_feedback", "recommendation_candidates"):
        assert len(wb.table(mart)) > 0, mart
    assert list((built_project / "data" / "outbox").glob("*.jsonl"))
    assert (built_project / "data" / "exports" / "user_engagement.parquet").is_file()


def test_step_and_actions_report_their_outcome_in_the_run_result(project):
    result = Workbench(project).run()

    assert result.ok, result
    step = result.node("classify_messages")
    assert step.kind == "step" and step.rows > 0
    # calls: distinct texts sent to the classifier; repeated texts are classified once
    assert 0 < step.metrics["calls"] <= step.metrics["classified"] == step.rows
    messages = result.node("personalized_messages")
    assert messages.kind == "action" and messages.metrics["sent"] > 0
    order = [n.name for n in result.nodes]
    assert order.index("stg_community_messages") < order.index("classify_messages") \
        < order.index("community_questions") < order.index("personalized_messages")


def test_one_new_message_file_reruns_only_what_depends_on_it(loaded):
    wb = Workbench(loaded)
    user = int(wb.table("stg_users")["user_id"][0])
    add_messages(loaded, [message(1, "How do I schedule an export every night?", user),
                          message(2, "Love the new lineage view, great work!", user)])

    result = wb.run()

    assert result.ok, result
    assert result.node("classify_messages").metrics["calls"] == 2
    assert {"stg_community_messages", "classify_messages", "community_questions"} <= ran(result)
    assert not {"user_engagement", "stg_events", "revenue_by_month", "events"} & ran(result)
    sent_before = wb.sql("select count(*) as n from _delivery.deliveries "
                         "where status = 'sent'")["n"][0]
    again = wb.run()
    assert not ran(again)
    assert wb.sql("select count(*) as n from _delivery.deliveries "
                  "where status = 'sent'")["n"][0] == sent_before


def test_failing_step_skips_only_what_depends_on_it(loaded):
    (loaded / "broken.py").write_text(
        "def classify(ctx):\n    raise RuntimeError('classifier exploded')\n")
    config = loaded / "workbench.toml"
    config.write_text(config.read_text().replace(
        'function = "workbench.community.classify:classify_messages"',
        'function = "broken.py:classify"'))
    wb = Workbench(loaded)

    result = wb.run(full_refresh=True)

    step = result.node("classify_messages")
    assert step.status == "error" and "classifier exploded" in step.message
    skipped = result.node("community_questions")
    assert skipped.status == "skipped" and "step classify_messages error" in skipped.message
    assert result.node("personalized_messages").status == "skipped"
    assert result.node("user_engagement").status == "success"
    assert result.node("export_user_engagement").status == "success"
    assert len(wb.table("steps.message_labels")) > 0      # the last good labels are kept


def test_selection_understands_steps_actions_and_plus_across_the_graph(built_project):
    graph = Workbench(built_project).graph()

    upstream = {graph.nodes[n].name for n in graph.select("+community_questions")}
    assert {"community_messages", "stg_community_messages", "classify_messages",
            "community_questions"} <= upstream
    assert "events" not in upstream
    downstream = {graph.nodes[n].name for n in graph.select("classify_messages+")}
    assert {"community_questions", "recommendation_candidates",
            "personalized_messages"} <= downstream
    assert "user_engagement" not in downstream
    assert {graph.nodes[n].kind for n in graph.select("actions")} == {"action"}
    step = graph.select("step:classify_messages")
    assert {graph.nodes[n].name for n in step if graph.nodes[n].kind != "test"} == {
        "classify_messages"}
    assert any(graph.nodes[n].kind == "test" for n in step)   # tests of its table come along
    with pytest.raises(ConfigError, match="matches no node"):
        graph.select("no_such_thing")
    kinds = set(graph.to_pandas()["kind"])
    assert {"source", "seed", "model", "test", "step", "action"} <= kinds


def test_run_with_a_cross_graph_selection_runs_exactly_that(loaded):
    result = Workbench(loaded).run(select="classify_messages+")

    assert result.ok, result
    assert {"classify_messages", "community_questions", "personalized_messages"} <= ran(result)
    assert not {"stg_community_messages", "user_engagement", "community_messages"} \
        & ran(result)


def test_models_reading_an_ephemeral_model_build_again_in_the_same_process(loaded):
    models = loaded / "dbt" / "models" / "marts"
    (models / "int_recent_events.sql").write_text(
        "{{ config(materialized='ephemeral') }}\n"
        "select user_id, count(*) as events from {{ ref('stg_events') }} group by 1\n")
    (models / "recent_activity.sql").write_text(
        "select * from {{ ref('int_recent_events') }}\n")
    wb = Workbench(loaded)

    first = wb.run(select="+recent_activity")
    second = wb.run(select="recent_activity")

    assert first.ok, first
    assert second.ok, second       # dbt would not inline the ephemeral CTE a second time
    assert second.node("recent_activity").status == "success"
    assert "int_recent_events" not in {n.name for n in first.nodes}   # folded into its reader


def test_dry_run_of_an_action_shows_what_would_be_sent_and_sends_nothing(loaded):
    wb = Workbench(loaded)
    before = wb.sql("select count(*) as n from _delivery.deliveries")["n"][0]

    preview = wb.preview("personalized_messages")

    assert len(preview) > 0 and {"email", "subject", "body"} <= set(preview.columns)
    assert wb.sql("select count(*) as n from _delivery.deliveries")["n"][0] == before


def test_freshness_states_and_marts_built_from_late_sources(loaded):
    import time

    config = loaded / "workbench.toml"
    text = config.read_text()
    config.write_text(text.replace('warn_after = "1d"\nerror_after = "3d"\n\n'
                                   '[sources.community_messages]',
                                   'warn_after = "1s"\nerror_after = "1h"\n\n'
                                   '[sources.community_messages]', 1))
    wb = Workbench(loaded)
    time.sleep(1.5)
    freshness = wb.freshness()
    assert freshness["events"].state == "warn"
    assert freshness["users"].state == "fresh"
    assert "warn" in freshness._repr_html_()
    user = int(wb.table("stg_users")["user_id"][0])
    add_messages(loaded, [message(3, "Is there an API for the scheduler?", user)])
    (loaded / "data" / "landing" / "users" / "users-2026-11.csv").write_text(
        (loaded / "data" / "landing" / "users" / "users-2026-05.csv").read_text())

    result = wb.run()                   # users and messages load; events stays late

    assert result.node("user_engagement").stale_sources == ("events",)
    assert result.node("community_questions").stale_sources == ()


SLOW_READER = '''
import pathlib, time

def read(con, path, options, types=None):
    """DuckDB's CSV reader, held back until the test says the other sources' work is done:
    a slow finance export whose delay depends on no clock."""
    flag = pathlib.Path(__file__).with_name("invoices-may-finish")
    deadline = time.monotonic() + 600
    while not flag.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return con.read_csv(path, **({"dtype": types} if types else {}))
'''


def test_slow_source_does_not_hold_up_the_marts_of_other_sources(project):
    from workbench.progress import NodeFinished, WorkStarted

    read_invoices_with(project, "slow_reader.py", SLOW_READER)
    events = []

    def listen(event):
        events.append(event)
        if isinstance(event, NodeFinished) and event.result.name == "personalized_messages":
            (project / "invoices-may-finish").touch()

    result = Workbench(project).run(listeners=[listen])

    assert result.ok, result
    # the order the run recorded, never timestamps of separate threads
    finished = [e.result.name for e in events if isinstance(e, NodeFinished)]
    for mart in ("user_engagement", "community_questions", "recommendation_candidates",
                 "personalized_messages"):
        assert finished.index(mart) < finished.index("invoices"), mart
    revenue_started = next(i for i, e in enumerate(events) if isinstance(e, WorkStarted)
                           and "revenue_by_month" in e.work.names)
    invoices_finished = next(i for i, e in enumerate(events) if isinstance(e, NodeFinished)
                             and e.result.name == "invoices")
    assert revenue_started > invoices_finished
