"""Every notebook in notebooks/ runs top to bottom in a real Jupyter kernel, on a fresh project
and again, as a report (``workbench report``), on the project it built.

Each notebook runs in its own fresh project copy (small sample data, no warehouse yet) with
its working directory set to the copy's ``notebooks/`` folder, as when a user opens it in
JupyterLab. The kernel is a subprocess that inherits this process's environment, so it uses
the session's PREFECT_HOME from conftest, never ~/.prefect.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import duckdb
import nbformat
import pytest
from conftest import REPO, make_project
from nbclient import NotebookClient

from workbench.report import run_report

NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
CELL_TIMEOUT = 300
Executed = tuple[Path, nbformat.NotebookNode]


def execute(notebook: Path, cwd: Path, timeout: int = CELL_TIMEOUT) -> nbformat.NotebookNode:
    """Run ``notebook`` with the ``python3`` kernel in ``cwd``.

    A failing cell raises nbclient's CellExecutionError, whose message shows the cell.
    """
    nb = nbformat.read(notebook, as_version=4)
    NotebookClient(nb, kernel_name="python3", timeout=timeout,
                   resources={"metadata": {"path": str(cwd)}}).execute()
    return nb


@pytest.fixture(scope="module")
def executed(tmp_path_factory) -> Callable[[str], Executed]:
    """Run each notebook once per module, in its own project copy: ``(project, notebook)``."""
    done: dict[str, Executed] = {}

    def run(name: str) -> Executed:
        if name not in done:
            project = make_project(tmp_path_factory.mktemp(Path(name).stem) / "project")
            done[name] = project, execute(project / "notebooks" / name, project / "notebooks")
        return done[name]

    return run


def outputs(nb: nbformat.NotebookNode, kind: str) -> list[str]:
    """Every output of one kind, in order: a MIME type such as ``text/html``, or ``stream``."""
    found = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if kind == "stream" and out["output_type"] == "stream":
                found.append(out["text"])
            elif kind in out.get("data", {}):
                found.append(out["data"][kind])
    return found


def cell_with(nb: nbformat.NotebookNode, snippet: str) -> nbformat.NotebookNode:
    """The first code cell whose source contains ``snippet``."""
    return next(c for c in nb.cells if c.cell_type == "code" and snippet in c.source)


def shown(cell: nbformat.NotebookNode, kind: str = "text/html") -> str:
    """What a cell displayed last in one MIME type (``stream``: everything it printed)."""
    if kind == "stream":
        return "".join(o["text"] for o in cell.outputs if o["output_type"] == "stream")
    return [o for o in cell.outputs if kind in o.get("data", {})][-1]["data"][kind]


def body_rows(html: str) -> int:
    """Rows in the body of a DataFrame's HTML table."""
    return html.split("<tbody>", 1)[1].split("</tbody>", 1)[0].count("<tr>")


def marts_in(project: Path) -> list[str]:
    published = project / "data" / "warehouse.published.duckdb"
    assert published.exists(), "the notebook published no warehouse in its project copy"
    with duckdb.connect(str(published), read_only=True) as con:
        return [r[0] for r in con.execute("select table_name from information_schema.tables "
                                          "where table_schema = 'marts'").fetchall()]


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_top_to_bottom(notebook: Path, executed) -> None:
    project, nb = executed(notebook.name)
    assert marts_in(project), "the published warehouse has no marts"
    assert not outputs(nb, "application/vnd.jupyter.stderr"), "a cell wrote an error"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_again_as_a_report_on_the_project_it_built(notebook: Path,
                                                                 executed) -> None:
    """Restart & Run All on a built project: the first run has nothing to do, and every cell
    that reads a node of it still works. As a report, code is hidden where asked."""
    project, _ = executed(notebook.name)
    no_input = notebook.name != REPORT
    report = run_report(project / "notebooks" / notebook.name, root=project, parameters={},
                        no_input=no_input)

    nb = nbformat.read(report.executed, as_version=4)
    assert not outputs(nb, "application/vnd.jupyter.stderr"), "a cell wrote an error"
    runs = [h for h in outputs(nb, "text/html") if h.startswith("<div><b>Run ")]
    assert runs and "up to date" in runs[0] and ">success</span>" in runs[0]
    assert "FloatProgress" not in str(nb.cells), "DuckDB's progress bar was left in"
    page = report.html.read_text()
    if no_input:
        assert "hl-ipython3" not in page, "--no-input left code in the HTML"
    else:
        assert "hl-ipython3" in page and "raise_for_failures" not in page   # hide-input


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_each_run_is_shown_once_by_its_live_output(notebook: Path, executed) -> None:
    _, nb = executed(notebook.name)
    for cell in nb.cells:
        if cell.cell_type == "code" and "wb.run(" in cell.source:
            html = [o["data"]["text/html"] for o in cell.outputs
                    if "text/html" in o.get("data", {})]
            assert sum(h.count("<b>Run ") for h in html) == 1, cell.source


@pytest.mark.skipif(not (REPO / "notebooks" / "01_quickstart.ipynb").exists(),
                    reason="no quickstart notebook")
def test_quickstart_shows_a_successful_run_and_the_users(executed) -> None:
    project, nb = executed("01_quickstart.ipynb")
    html = outputs(nb, "text/html")

    runs = [h for h in html if h.startswith("<div><b>Run ")]
    assert runs, "no run result was displayed"
    assert ">success</span>" in runs[0], "the first run did not succeed"

    # wb.table("user_engagement").head() shows a DataFrame with real rows.
    cell = next(c for c in nb.cells if 'wb.table("user_engagement")' in c.source)
    frame = cell.outputs[-1]["data"]["text/html"]
    assert "email" in frame and "active_days" in frame
    assert frame.count("<tr>") >= 3, "user_engagement showed no rows"

    assert "user_engagement" in marts_in(project)
    printed = "".join(outputs(nb, "stream"))
    assert "Did you mean 'user_engagement'" in printed

    # SQL names tables bare, as wb.table() does.
    sql_cells = [c.source for c in nb.cells if "wb.sql(" in c.source]
    assert sql_cells and not any("marts." in c for c in sql_cells)
    assert "<tr>" in shown(cell_with(nb, "from user_engagement"))


@pytest.mark.skipif(not (REPO / "notebooks" / "01_quickstart.ipynb").exists(),
                    reason="no quickstart notebook")
def test_quickstart_shows_the_pipeline_beyond_dbt(executed) -> None:
    _, nb = executed("01_quickstart.ipynb")

    # wb.graph(): one table of kind / name / inputs, with the step and the actions in it.
    graph = shown(cell_with(nb, "wb.graph()"))
    assert "<th" in graph and ">inputs</th>" in graph
    for kind, name in (("step", "classify_messages"), ("action", "personalized_messages"),
                       ("action", "export_user_engagement"), ("source", "events"),
                       ("model", "community_questions")):
        assert re.search(rf"<td[^>]*>{kind}</td><td[^>]*>{name}</td>", graph), (kind, name)

    # graph.select("classify_messages+") as names: the step, the marts on it, the action.
    names = shown(cell_with(nb, '.select("classify_messages+")'), "text/plain")
    for name in ("classify_messages", "community_questions", "feature_feedback",
                 "recommendation_candidates", "personalized_messages"):
        assert f"'{name}'" in names
    assert "user_engagement" not in names and "test" not in names

    # The step's outcome in the first run: its metrics, with texts actually classified.
    metrics = shown(cell_with(nb, 'result.node("classify_messages")'), "text/plain")
    assert "'calls'" in metrics and "'cache_hits'" in metrics
    assert int(re.search(r"'calls': (\d+)", metrics).group(1)) > 0

    freshness = shown(cell_with(nb, "wb.freshness()"))
    assert "community_messages" in freshness and ">fresh</span>" in freshness

    preview = shown(cell_with(nb, 'wb.preview("personalized_messages")'))
    assert "subject" in preview and "already_sent" in preview and body_rows(preview) >= 1


@pytest.mark.skipif(not (REPO / "notebooks" / "01_quickstart.ipynb").exists(),
                    reason="no quickstart notebook")
def test_quickstart_cross_graph_selection_runs_the_step(executed) -> None:
    _, nb = executed("01_quickstart.ipynb")
    run = shown(cell_with(nb, 'wb.run(select="+community_questions")'))
    assert "selection +community_questions" in run
    assert ">success</span>" in run.split("</b>", 1)[1][:200], "the selected run failed"
    assert re.search(r"<td[^>]*>classify_messages</td><td[^>]*>step</td>", run)


REPORT = "02_community_report.ipynb"
needs_report = pytest.mark.skipif(not (REPO / "notebooks" / REPORT).exists(),
                                  reason="no community report notebook")


@needs_report
def test_community_report_is_parameterised_and_starts_with_a_run() -> None:
    nb = nbformat.read(REPO / "notebooks" / REPORT, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert "parameters" in code[0].metadata.get("tags", []), "no papermill parameters cell"
    assert re.search(r"^top_n = \d+", code[0].source, re.M)
    assert "wb = Workbench()" in code[1].source and "wb.run()" in code[1].source
    assert not any(c.get("outputs") or c.get("execution_count") for c in code), \
        "the notebook was saved with outputs"


@needs_report
def test_community_report_shows_topics_feedback_labels_and_accuracy(executed) -> None:
    _, nb = executed(REPORT)

    topics = shown(cell_with(nb, 'wb.table("community_questions")'))
    for column in ("topic", "questions", "answered_share", "median_hours_to_first_answer"):
        assert f"<th>{column}</th>" in topics, column
    assert "<th>general</th>" in topics and body_rows(topics) >= 2
    assert re.search(r"\d+ questions, \d+% answered",
                     shown(cell_with(nb, 'wb.table("community_questions")'), "stream"))

    unanswered = shown(cell_with(nb, "~questions.answered"))
    assert "<th>text</th>" in unanswered and 1 <= body_rows(unanswered) <= 10

    feedback = shown(cell_with(nb, 'wb.table("feature_feedback")'))
    for column in ("feature_name", "feedback_messages", "bug_messages", "praise_messages",
                   "bug_share"):
        assert f"<th>{column}</th>" in feedback, column

    labels = shown(cell_with(nb, 'wb.table("steps.message_labels")'))
    assert "<th>mean_confidence</th>" in labels
    assert all(f"<th>{label}</th>" in labels for label in ("question", "bug", "other"))

    quality = cell_with(nb, "labeled_path")
    accuracy = re.search(r"accuracy: (\d+\.\d)% on (\d+) labeled messages",
                         shown(quality, "stream"))
    assert accuracy, "no accuracy was printed"
    assert 50 <= float(accuracy.group(1)) <= 100 and int(accuracy.group(2)) > 0
    confusion = shown(quality)
    assert "<th>predicted</th>" in confusion and "<th>All</th>" in confusion


@needs_report
def test_community_report_takes_parameters_and_skips_quality_without_labels(
        tmp_path: Path) -> None:
    """Headless, papermill style: parameters injected after the tagged cell; no answer key."""
    project = make_project(tmp_path / "project")
    shutil.rmtree(project / "data" / "labeled")
    path = project / "notebooks" / REPORT
    nb = nbformat.read(path, as_version=4)
    at = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    nb.cells.insert(at + 1, nbformat.v4.new_code_cell(
        "top_n = 3\nunanswered_n = 2", metadata={"tags": ["injected-parameters"]}))
    nbformat.write(nb, path)

    nb = execute(path, project / "notebooks")
    assert not outputs(nb, "application/vnd.jupyter.stderr")
    assert body_rows(shown(cell_with(nb, 'wb.table("community_questions")'))) <= 3
    assert body_rows(shown(cell_with(nb, "~questions.answered"))) <= 2
    printed = shown(cell_with(nb, "labeled_path"), "stream")
    assert "No labeled sample" in printed and "accuracy" not in printed


def test_python3_kernel_is_this_venv_with_this_environment(tmp_path: Path) -> None:
    """``python3`` resolves to this interpreter, and the kernel inherits os.environ."""
    notebook = tmp_path / "probe.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "import os, sys, workbench\nprint(sys.executable)\nprint(os.environ['PREFECT_HOME'])"
    )]), notebook)
    nb = execute(notebook, tmp_path, timeout=60)
    executable, prefect_home = nb.cells[0].outputs[0]["text"].split()
    assert Path(executable) == Path(sys.executable)
    assert prefect_home == os.environ["PREFECT_HOME"]
