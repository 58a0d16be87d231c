"""The panel's Plan: what a run of the chosen scope would do and why, shown in the node
table's place before anything runs. The widget is driven in-process, as a click would."""

from __future__ import annotations

import os
import re
import shutil
import time
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
