"""The panel's Plan: what a run of the chosen scope would do and why, shown in the node
table's place before anything runs; and a run's live table giving way to its result. The
widget is driven in-process, as a click would."""

from __future__ import annotations

import os
import re
import shutil
import time
from html import unescape
from pathlib import Path

import pytest

from workbench import Workbench
from workbench.display.panel import WorkbenchPanel


@pytest.fixture
def built(built_project, tmp_path) -> Path:
    root = tmp_path / "copy"
    shutil.copytree(built_project, root, symlinks=True)
    return root


def plan_rows(panel: WorkbenchPanel) -> dict[str, tuple[str, str]]:
    """node -> (its plan, "run" or "up-to-date"; the reason shown) from the plan table."""
    return {name: (plan, why) for name, plan, why in re.findall(
        r"data-node='([^']+)' data-plan='([^']+)'>.*?title='([^']*)'", panel.progress.value)}


def click_plan(panel: WorkbenchPanel, choice: str) -> None:
    panel.plan_for.value = choice
    panel.plan.click()
    deadline = time.monotonic() + 600        # a first plan parses dbt: slow on a busy machine
    while panel.plan.disabled and time.monotonic() < deadline:     # enabled again: done
        time.sleep(0.1)
    assert not panel.plan.disabled and not panel.run_all.disabled, "the plan never finished"


def test_plan_shows_what_an_edit_would_rebuild_and_runs_nothing(built):
    wb = Workbench(built)
    mart = built / "dbt" / "models" / "marts" / "user_engagement.sql"
    mart.write_text(mart.read_text() + "\n-- edited\n")
    published = os.path.realpath(wb.config.published)
    runs = len(wb.history())
    panel = WorkbenchPanel(wb)

    click_plan(panel, "all")

    assert "data-state='planned'" in panel.status.value, panel.status.value
    assert "would run" in panel.status.value and "nothing ran" in panel.status.value
    rows = plan_rows(panel)
    assert rows["user_engagement"] == ("run", "its definition changed")
    assert rows["export_user_engagement"][0] == "run"
    assert "upstream changed: user_engagement" in rows["export_user_engagement"][1]
    assert rows["stg_events"] == ("up-to-date", "") and rows["events"][0] == "up-to-date"
    assert os.path.realpath(wb.config.published) == published      # nothing published
    assert len(wb.history()) == runs                                # nothing recorded


def test_plan_follows_the_chosen_source_or_selection(built):
    wb = Workbench(built)
    panel = WorkbenchPanel(wb)

    panel.selection.value = ""
    click_plan(panel, "selection")
    assert "type a selection to plan first" in panel.status.value

    panel.selection.value = "stg_events"
    click_plan(panel, "selection")
    rows = plan_rows(panel)
    assert rows["stg_events"] == ("run", "selected")
    assert "user_engagement" not in rows

    panel.source.value = "invoices"
    click_plan(panel, "source")
    rows = plan_rows(panel)
    assert "invoices" in rows and "events" not in rows
    assert all(plan == "up-to-date" for plan, _ in rows.values()), rows
    assert "nothing to do" in panel.status.value


def test_the_run_table_tells_up_to_date_and_skipped_from_done_and_counts_tests_alike():
    """A node found up to date or a source with no new files is "up to date", not "done";
    the folded dbt-tests line counts each state as the run's result does."""
    from types import SimpleNamespace

    from workbench import NodeResult
    from workbench.display.panel_view import _Run, _table
    from workbench.progress import NodeFinished, NodeUpToDate, RunPhase, RunPlanned

    nodes = {i: SimpleNamespace(name=i.split(":")[1], kind=i.split(":")[0])
             for i in ("source:events", "source:invoices", "model:stg_events",
                       "test:t1", "test:t2", "test:t3")}
    graph = SimpleNamespace(nodes=nodes, order=lambda ids: [i for i in nodes if i in ids])
    run = _Run("all", None, None, False)
    run.apply(RunPhase("reading the dbt project"))
    assert "reading the dbt project" in run.line()        # said while nothing has finished
    run.apply(RunPlanned(graph, frozenset(nodes)))
    run.apply(NodeFinished("source:events", NodeResult("events", "source", "success", rows=5)))
    run.apply(NodeFinished("source:invoices", NodeResult("invoices", "source", "skipped")))
    run.apply(NodeFinished("test:t1", NodeResult("t1", "test", "success")))
    run.apply(NodeUpToDate("test:t2"))
    run.settle(None)

    states = dict(re.findall(r"data-node='([^']+)' data-state='([^']+)'", _table(run)))
    assert states == {"source:events": "done", "source:invoices": "up-to-date",
                      "model:stg_events": "up-to-date", "dbt-tests": "done"}
    assert "1 done, 2 up to date" in _table(run) and "6 of 6 nodes settled" in run.line()


def test_the_panel_is_as_wide_as_the_notebook(built_project):
    assert WorkbenchPanel(Workbench(built_project)).layout.width == "100%"


def _late_events(project: Path, rows: int = 50) -> None:
    """A late file of events lands: a run then has real work to do."""
    import duckdb

    folder = project / "data" / "landing" / "events"
    newest = sorted(folder.glob("*.parquet"))[-1]
    with duckdb.connect() as con:
        con.execute(f"copy (select * replace (event_id + 1000000000 as event_id) "
                    f"from read_parquet('{newest}') limit {rows}) "
                    f"to '{folder / 'late-arrivals.parquet'}' (format parquet)")


def test_the_live_table_becomes_the_result_and_their_counts_agree(built):
    """Once the run ends the panel shows its result, not the node table above it as well
    (the run summed up once), and the last live table counted what the result counts."""
    _late_events(built)
    panel = WorkbenchPanel(Workbench(built))
    tables: list[str] = []
    panel.progress.observe(lambda change: tables.append(change["new"]), "value")

    panel.run_all.click()
    deadline = time.monotonic() + 600
    while "data-state='running'" in panel.status.value or panel.run_all.disabled:
        assert time.monotonic() < deadline, panel.status.value
        time.sleep(0.2)

    assert "data-state='finished'" in panel.status.value, panel.status.value
    result = panel._result
    assert panel.progress.value == "" and result is not None
    assert panel.progress.layout.display == "none"          # no empty box where it was
    assert "workbench-nodes" not in panel.result.value      # the result, not the table again
    assert result.summary() in re.sub("<[^>]+>", "", unescape(panel.status.value))
    live = [t for t in tables if "workbench-node-row" in t][-1]
    states = dict(re.findall(r"data-node='([^']+)' data-state='([^']+)'", live))
    tests = int(re.search(r"(\d+) dbt tests", live).group(1))
    assert len(states) - 1 + tests == len(result.nodes) + len(result.up_to_date)
    ran = {n.name for n in result.nodes if n.kind != "test" and n.status != "skipped"}
    done = {i.split(":", 1)[-1].rsplit(".", 1)[-1] for i, s in states.items()
            if s == "done" and i != "dbt-tests"}
    assert done == ran, (done, ran)
    assert states["source:events"] == "done" and result.node("events").rows == 50
