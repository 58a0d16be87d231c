"""Every notebook in notebooks/ runs top to bottom in a real Jupyter kernel.

Each notebook runs in its own fresh project copy (small sample data, no warehouse yet) with
its working directory set to the copy's ``notebooks/`` folder, as when a user opens it in
JupyterLab. The kernel is a subprocess that inherits this process's environment, so it uses
the session's PREFECT_HOME from conftest, never ~/.prefect.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

import duckdb
import nbformat
import pytest
from conftest import REPO, make_project
from nbclient import NotebookClient

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
