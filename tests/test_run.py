"""Runs end to end: real files, real DuckDB, real dbt, real Prefect flows."""

from __future__ import annotations

import pytest
from helpers import write_events

from workbench import RunFailed, Workbench


def built_names(result) -> set[str]:
    return {n.name for n in result.nodes if n.kind in ("model", "seed", "test")
            and n.status != "skipped"}


def test_first_run_loads_every_source_and_builds_tested_marts(project):
    result = Workbench(project).run()

    assert result.ok, result
    sources = {n.name: n for n in result.nodes if n.kind == "source"}
    assert set(sources) == {"users", "events", "community_messages", "invoices"}
    assert all(n.status == "success" and n.rows > 0 for n in sources.values())
    assert any(n.kind == "test" for n in result.nodes)
    wb = Workbench(project)
    engagement = wb.table("user_engagement")
    assert len(engagement) == wb.table("stg_users").shape[0] > 0
    assert {"plan", "active_days", "features_used"} <= set(engagement.columns)
    raw = wb.table("raw.events")
    assert {"_loaded_at", "_source_file"} <= set(raw.columns)
    assert raw["_source_file"].str.startswith("events/").all()


def test_rerun_with_no_new_files_skips_dbt_and_says_so(built_project):
    result = Workbench(built_project).run()

    assert result.ok
    assert not built_names(result)
    assert all(n.status == "skipped" for n in result.nodes)
    assert any("dbt skipped" in note and "no new data" in note for note in result.notes)
    assert "dbt skipped" in repr(result)


def test_new_file_in_one_source_loads_it_and_builds_only_downstream(project):
    wb = Workbench(project)
    wb.run().raise_for_failures()
    before = len(wb.table("raw.events"))
    users = wb.table("stg_users")["user_id"].tolist()
    write_events(project, "2026-11.parquet", [(10_000_000 + i, users[0], "sql_cells")
                                              for i in range(7)])

    result = wb.run(sources=["events"])

    assert result.ok, result
    assert result.node("events").rows == 7
    assert [n.name for n in result.nodes if n.kind == "source"] == ["events"]
    built = built_names(result)
    assert {"stg_events", "user_engagement", "daily_feature_usage"} <= built
    assert not {"stg_invoices", "revenue_by_month", "stg_community_messages"} & built
    assert len(wb.table("raw.events")) == before + 7


def test_other_sources_stay_pending_until_a_full_run_builds_them(project):
    wb = Workbench(project)
    wb.run().raise_for_failures()
    invoices = project / "data" / "landing" / "invoices"
    extra = invoices / "2026-11.csv"
    extra.write_text((invoices / "2026-10.csv").read_text().replace("INV-", "INV-11-"))

    only_events = wb.run(sources=["events"])
    assert not built_names(only_events)            # events had nothing new
    assert [n.name for n in only_events.nodes if n.kind == "source"] == ["events"]

    full = wb.run()
    assert full.node("invoices").status == "success"
    assert "revenue_by_month" in built_names(full)
    assert "user_engagement" not in built_names(full)


def test_changed_file_replaces_its_own_rows_instead_of_duplicating(project):
    wb = Workbench(project)
    wb.run().raise_for_failures()
    path = sorted((project / "data" / "landing" / "invoices").glob("*.csv"))[-1]
    lines = path.read_text().splitlines()
    before = len(wb.table("raw.invoices"))
    path.write_text("\n".join(lines[:-1]) + "\n")     # the export was corrected: one row less

    result = wb.run()

    assert result.node("invoices").rows == len(lines) - 2
    assert len(wb.table("raw.invoices")) == before - 1


def test_select_passes_a_dbt_selection_through(built_project):
    result = Workbench(built_project).run(select="user_engagement")

    models = {n.name for n in result.nodes if n.kind == "model"}
    assert models == {"user_engagement"}
    assert result.ok


def test_failing_dbt_test_fails_the_run_naming_test_and_failing_rows(project):
    wb = Workbench(project)
    wb.run().raise_for_failures()
    write_events(project, "2026-11.parquet", [(20_000_000 + i, 987_654, "sql_cells")
                                              for i in range(3)])

    result = wb.run()

    assert not result.ok
    failed = [n for n in result.failures if n.kind == "test"]
    assert failed, result
    test = next(n for n in failed if "relationships" in n.name and "user_id" in n.name)
    assert test.failures == 3
    assert "3 failing row(s)" in test.message
    with pytest.raises(RunFailed) as raised:
        result.raise_for_failures()
    assert test.name in str(raised.value)
    assert raised.value.result is result


def test_full_refresh_reloads_every_file(built_project, tmp_path):
    import shutil

    root = tmp_path / "copy"
    shutil.copytree(built_project, root)
    wb = Workbench(root)
    rows = len(wb.table("raw.users"))

    result = wb.run(full_refresh=True)

    assert result.ok
    assert result.node("users").rows == rows
    assert len(wb.table("raw.users")) == rows
