"""The run core behind its executor seam, on the real project: DuckDB, dbt, and Prefect
only where the Prefect executor is asked for."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
from helpers import write_events

from workbench import CancelToken, InlineExecutor, RunCancelled, Workbench
from workbench.progress import NodeFinished, NodeUpToDate, RunPhase, RunPlanned, WorkStarted

HEAVY = ("prefect", "dbt", "IPython", "sklearn")


def test_import_workbench_imports_neither_prefect_dbt_ipython_nor_sklearn():
    code = f"import sys, json, workbench; print(json.dumps([m for m in {HEAVY!r} " \
           f"if m in sys.modules]))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert json.loads(done.stdout) == []


def test_an_inline_run_builds_the_project_without_importing_prefect(project):
    code = textwrap.dedent(f"""
        import json, sys
        from workbench import InlineExecutor, Workbench
        wb = Workbench({str(project)!r})
        result = wb.run(executor=InlineExecutor())
        print(json.dumps({{"ok": result.ok, "prefect": "prefect" in sys.modules,
                          "rows": len(wb.table("user_engagement")),
                          "kinds": sorted({{n.kind for n in result.nodes}})}}))
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=project, env={**os.environ, "PYTHONPATH": ""}, timeout=900)

    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["ok"] and not report["prefect"] and report["rows"] > 0
    assert {"source", "model", "test", "step", "action"} <= set(report["kinds"])


def test_a_run_tells_its_listeners_what_it_planned_started_and_finished(project):
    wb = Workbench(project)
    wb.run(executor=InlineExecutor()).raise_for_failures()
    user = int(wb.table("stg_users")["user_id"].iloc[0])
    write_events(project, "2026-12.parquet", [(20_000_000, user, "sql_cells")])
    events = []

    result = wb.run(sources=["events"], executor=InlineExecutor(), listeners=[events.append])

    assert result.ok, result
    planned = [e for e in events if isinstance(e, RunPlanned)]
    phases = [e.what for e in events if isinstance(e, RunPhase)]
    assert "reading the dbt project" in phases                      # said while nothing ran
    work = [e for e in events if not isinstance(e, RunPhase)]
    assert len(planned) == 1 and isinstance(work[0], RunPlanned)
    graph, selected = planned[0].graph, planned[0].selected
    assert {graph.nodes[i].name for i in selected} >= {"events", "stg_events",
                                                       "user_engagement"}
    assert "source:users" not in selected
    started = {i for e in events if isinstance(e, WorkStarted) for i in e.work.ids}
    finished = {e.node_id: e.result for e in events if isinstance(e, NodeFinished)}
    assert started == set(finished)
    assert {r.name for r in finished.values()} == {n.name for n in result.nodes}
    assert all(type(graph.nodes[i].kind) is str for i in selected)   # never dbt's enum
    up_to_date = {e.node_id for e in events if isinstance(e, NodeUpToDate)}
    assert not up_to_date & set(finished)


def test_two_runs_in_one_process_keep_their_progress_apart(project):
    wb = Workbench(project)
    first, second = [], []
    wb.run(executor=InlineExecutor(), listeners=[first.append])
    wb.run(executor=InlineExecutor(), listeners=[second.append])

    assert any(isinstance(e, NodeFinished) and e.result.status == "success" for e in first)
    assert not any(isinstance(e, NodeFinished) and e.result.status == "success"
                   for e in second)           # nothing new the second time
    assert not set(map(id, first)) & set(map(id, second))


@pytest.mark.parametrize("executor", ["inline", "prefect"])
def test_cancel_starts_no_new_work_is_recorded_as_cancelled_and_the_next_run_catches_up(
        project, executor):
    wb = Workbench(project)
    cancel = CancelToken()

    def stop_after_first_load(event):
        if isinstance(event, NodeFinished) and event.result.kind == "source":
            cancel.cancel("test")

    options = {"executor": InlineExecutor()} if executor == "inline" else {}
    with pytest.raises(RunCancelled) as raised:
        wb.run(listeners=[stop_after_first_load], cancel=cancel, **options)

    assert "never started" in str(raised.value)
    ran = {r.name: r.kind for r in raised.value.results}
    assert "source" in ran.values()
    assert "user_engagement" not in ran and not {"step", "action"} & set(ran.values())
    cancelled = wb.history().runs.iloc[0]             # in history, with what it did
    assert cancelled["status"] == "cancelled" and "success" in cancelled["summary"]
    result = wb.run(**options)
    assert result.ok, result
    assert len(wb.table("user_engagement")) > 0


def test_every_dbt_node_in_one_build_reports_each_node_and_leaves_target_to_the_parse(
        project, monkeypatch):
    monkeypatch.delenv("DBT_WRITE_JSON", raising=False)
    wb = Workbench(project)
    first = wb.run(executor=InlineExecutor())
    first.raise_for_failures()
    target = project / "dbt" / "target"
    assert (target / "manifest.json").is_file()          # the parse's, for dbt's own tools
    assert not (target / "run_results.json").exists()    # builds rewrite nothing per call
    dbt_nodes = {(n.kind, n.name): n.rows for n in first.nodes
                 if n.kind in ("seed", "model", "snapshot", "test")}

    rebuilt = wb.run(select="model:* seed:* test:*", full_refresh=True,
                     executor=InlineExecutor())

    assert rebuilt.ok, rebuilt
    assert {(n.kind, n.name): n.rows for n in rebuilt.nodes} == dbt_nodes
    monkeypatch.setenv("DBT_WRITE_JSON", "true")         # dbt's own switch still works
    wb.run(select="user_engagement", executor=InlineExecutor()).raise_for_failures()
    assert (target / "run_results.json").is_file()


def test_a_dbt_project_that_does_not_parse_fails_the_run_naming_the_model(project):
    """dbt re-reads the project in a thread of its own (while the run's flow starts); its
    error still reaches the caller, and nothing is built or published."""
    from workbench import ConfigError

    wb = Workbench(project)
    wb.run(executor=InlineExecutor()).raise_for_failures()
    runs = len(wb.history().runs)
    (project / "dbt" / "models" / "marts" / "broken.sql").write_text("select {{ ref( }}\n")

    with pytest.raises(ConfigError, match="broken"):
        wb.run(executor=InlineExecutor())

    assert len(wb.history().runs) == runs
