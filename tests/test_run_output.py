"""What a run shows a person: nodes found up to date, a failed test's rows and the query that
reads them (runnable as shown), errors as their message, and wb.run()'s one live output that
becomes its result in a real kernel."""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pytest
from helpers import write_events
from nbclient import NotebookClient

from workbench import InlineExecutor, Workbench


@pytest.fixture
def built(built_project: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(built_project, tmp_path / "copy", symlinks=True))


def test_a_run_with_nothing_to_do_answers_for_its_up_to_date_nodes(built):
    result = Workbench(built).run(executor=InlineExecutor())

    step = result.node("classify_messages")
    assert (step.status, step.message) == ("skipped", "up to date: nothing it reads changed")
    assert result.node("user_engagement").kind == "model"
    assert "up to date" in result.summary() and "up to date" in result._repr_html_()
    with pytest.raises(KeyError, match="not selected"):
        Workbench(built).run(select="stg_events", executor=InlineExecutor()).node("events")


def test_a_failed_test_shows_its_first_failing_rows_and_a_query_that_runs_as_shown(built):
    wb = Workbench(built)
    write_events(built, "2026-11.parquet", [(20_000_000 + i, 987_654, "sql_cells")
                                            for i in range(3)])

    result = wb.run(executor=InlineExecutor())

    test = next(n for n in result.failures if "relationships" in n.name and "user_id" in n.name)
    assert test.query and '"warehouse".' not in test.query and '"warehouse".' not in test.message
    assert len(wb.sql(test.query)) == 3                     # runs as shown, on the snapshot
    assert len(test.failing_rows()) == 3                    # kept in the result itself
    html = result._repr_html_()
    assert "First failing rows" in html and "987654" in html.replace(",", "")
    assert f"result.node({test.name!r}).query" in html


def run_cells(project: Path, *cells: str) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    NotebookClient(nb, kernel_name="python3", timeout=300, allow_errors=True,
                   resources={"metadata": {"path": str(project / "notebooks")}}).execute()
    return nb


def test_the_live_output_becomes_the_result_and_errors_show_their_message(built):
    nb = run_cells(built, "from workbench import Workbench, InlineExecutor\nwb = Workbench()",
                   "result = wb.run(select='stg_events+', executor=InlineExecutor())\nresult",
                   "wb.table('user_engagment')", "1 / 0")
    run, typo, bug = nb.cells[1], nb.cells[2], nb.cells[3]

    html = [o["data"]["text/html"] for o in run.outputs if "text/html" in o.get("data", {})]
    assert len(html) == 1, f"the run was shown {len(html)} times"    # no duplicate
    assert "<b>Run " in html[0] and "FloatProgress" not in str(run.outputs)
    assert "user_engagement" in html[0]

    [error] = [o for o in typo.outputs if o["output_type"] == "error"]
    assert error["ename"] == "TableNotFoundError" and len(error["traceback"]) == 1
    assert "Did you mean 'user_engagement'" in error["traceback"][0]
    [error] = [o for o in bug.outputs if o["output_type"] == "error"]
    assert len(error["traceback"]) > 1                       # a bug keeps its traceback
