"""Per-node build state: a change rebuilds what it defines and what is downstream, nothing
else; a failed run leaves state for what it built; ``wb.plan()`` says so before a run."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from workbench import InlineExecutor, Workbench

WORKBENCH = str(Path(sys.executable).parent / "workbench")


@pytest.fixture
def built(built_project, tmp_path) -> Path:
    root = tmp_path / "copy"
    shutil.copytree(built_project, root, symlinks=True)
    return root


def ran(result) -> set[str]:
    return {n.name for n in result.nodes if n.status != "skipped" and n.kind != "source"}


def models(result) -> set[str]:
    return {n.name for n in result.nodes if n.kind == "model" and n.status != "skipped"}


def edit(root: Path, relative: str, old: str, new: str) -> None:
    path = root / "dbt" / relative
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new))


def test_editing_one_model_rebuilds_it_and_what_is_downstream_only(built):
    wb = Workbench(built)
    edit(built, "models/marts/user_engagement.sql", "select", "select -- edited\n", )

    plan = wb.plan()
    result = wb.run(executor=InlineExecutor())

    assert result.ok, result
    would = {n.name: n.reason for n in plan.to_run}
    assert would["user_engagement"] == "its definition changed"
    assert "upstream changed: user_engagement" in would["export_user_engagement"]
    assert "stg_events" not in would and "revenue_by_month" not in would
    assert models(result) == {"user_engagement"}
    assert ran(result) == set(would)             # the plan said exactly what ran
    assert any("1 node(s) whose definition changed" in note for note in result.notes)


def test_a_macro_change_rebuilds_the_models_that_call_it(built):
    wb = Workbench(built)
    (built / "dbt" / "macros" / "money.sql").write_text(
        "{% macro money(column) %}round({{ column }}, 2){% endmacro %}\n")
    edit(built, "models/marts/revenue_by_month.sql",
         "coalesce(sum(amount) filter (where status = 'paid'), 0)",
         "{{ money(\"coalesce(sum(amount) filter (where status = 'paid'), 0)\") }}")
    wb.run(executor=InlineExecutor()).raise_for_failures()
    (built / "dbt" / "macros" / "money.sql").write_text(
        "{% macro money(column) %}round({{ column }}, 1){% endmacro %}\n")

    result = wb.run(executor=InlineExecutor())

    assert result.ok, result
    assert models(result) == {"revenue_by_month"}


def test_after_a_failure_the_next_run_rebuilds_only_what_failed_and_its_children(built):
    wb = Workbench(built)
    edit(built, "models/marts/revenue_by_month.sql", "group by all", "group by nonsense(")
    edit(built, "models/marts/user_engagement.sql", "select", "select -- edited\n")
    broken = wb.run(executor=InlineExecutor())
    assert not broken.ok
    assert broken.node("revenue_by_month").failed
    assert broken.node("user_engagement").status == "success"
    edit(built, "models/marts/revenue_by_month.sql", "group by nonsense(", "group by all")

    fixed = wb.run(executor=InlineExecutor())

    assert fixed.ok, fixed
    assert models(fixed) == {"revenue_by_month"}      # user_engagement kept its build


def test_nothing_changed_plans_nothing_and_the_dry_run_touches_nothing(built):
    published = (built / "data" / "warehouse.published.duckdb").resolve()

    done = subprocess.run([WORKBENCH, "run", "--dry-run"], cwd=built, capture_output=True,
                          text=True, timeout=1200)

    assert done.returncode == 0, done.stdout + done.stderr
    assert "nothing to do, everything is up to date" in done.stdout
    assert (built / "data" / "warehouse.published.duckdb").resolve() == published
    edit(built, "models/staging/stg_users.sql", "select", "select -- edited\n")
    done = subprocess.run([WORKBENCH, "run", "--dry-run"], cwd=built, capture_output=True,
                          text=True, timeout=1200)
    assert "stg_users" in done.stdout and "its definition changed" in done.stdout
    assert "user_engagement" in done.stdout and "upstream changed" in done.stdout
    assert (built / "data" / "warehouse.published.duckdb").resolve() == published


def test_new_data_passes_through_an_unchanged_view_and_its_tests_and_readers_run(built):
    wb = Workbench(built)
    before = len(wb.table("stg_community_messages"))
    user = int(wb.sql("select min(user_id) as u from stg_users")["u"][0])
    channel = wb.sql("select min(channel) as c from stg_community_messages")["c"][0]
    (built / "data" / "landing" / "community_messages" / "2026-12.jsonl").write_text(json.dumps(
        {"message_id": "1796202000.000001", "channel": channel, "user_id": user,
         "ts": "2026-12-01T09:00:00.000001", "thread_id": None,
         "text": "Could the dashboard export to CSV?"}) + "\n")

    plan = {n.name: n.reason for n in wb.plan().to_run}
    result = wb.run(executor=InlineExecutor())

    assert result.ok, result
    view = result.node("stg_community_messages")
    assert view.status == "success" and "not rebuilt" in view.message
    assert plan["stg_community_messages"].endswith("(a view: not rebuilt, reads it as it is)")
    assert {"unique_stg_community_messages_message_id", "classify_messages",
            "community_questions"} <= ran(result)
    assert len(wb.table("stg_community_messages")) == before + 1
