"""``%%sql`` cells are highlighted as SQL in JupyterLab, and Python cells stay Python.

The workbench's labextension (``labextension/``, installed prebuilt by the package build)
gives a code cell whose first line is ``%%sql`` the SQL language. A real ``jupyter lab``
(the ``lab`` fixture of ``test_browser.py``) opens a notebook with a ``%%sql`` cell and a
Python cell in headless Chromium; the test reads what CodeMirror drew: each editor's
language (``data-language`` on ``.cm-content``) and the highlight class of words, the
keyword class being the one CodeMirror gives Python's ``import``. A screenshot goes to
``tests/artifacts/sql-highlight.png``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from test_browser import _KERNEL_READY, ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, Lab, lab  # noqa: F401

NOTEBOOK = "notebooks/sql_highlight.ipynb"
SQL_CELL = ("%%sql engaged\n"
            "select email, events from user_engagement\n"
            "where plan = :plan order by events desc")
PYTHON_CELL = "import math\nselect = [n for n in range(3) if n]"
TURNED_CELL = "select 1 as one"          # Python until "%%sql" is typed above it
INSTALLED = Path(sys.prefix) / "share" / "jupyter" / "labextensions" / "workbench-sql-highlight"

# The language of each code cell's editor, in notebook order.
_LANGUAGES = """() => [...document.querySelectorAll('.jp-CodeCell .cm-content')]
  .map(el => el.dataset.language || '')"""
# The highlight classes CodeMirror gave a word in one cell ('' for unstyled text).
_CLASS_OF = """([cell, word]) => {
  const content = document.querySelectorAll('.jp-CodeCell .cm-content')[cell];
  const span = [...content.querySelectorAll('.cm-line span')]
    .find(s => s.children.length === 0 && s.textContent === word);
  return span ? span.className : '';
}"""


def _notebook(project: Path) -> None:
    # No language_info: the kernel's, arriving after the page loads, makes JupyterLab reset
    # every code cell to Python, which the extension must outlast.
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in
                                         (SQL_CELL, PYTHON_CELL, TURNED_CELL)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)",
                                 "language": "python"}
    nbformat.write(nb, project / NOTEBOOK)


def test_sql_cells_are_highlighted_as_sql_and_python_cells_stay_python(lab: Lab) -> None:
    from playwright.sync_api import sync_playwright

    assert (INSTALLED / "package.json").exists(), (
        f"{INSTALLED} is missing: reinstall the workbench (pip install -e .)")
    _notebook(lab.project)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                             args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1200, "height": 700})
        try:
            page.goto(f"{lab.url}/lab/tree/{NOTEBOOK}?token={lab.token}")
            page.wait_for_function(_KERNEL_READY, timeout=120_000, polling=250)
            page.wait_for_function(
                "() => document.querySelectorAll('.jp-CodeCell .cm-content').length === 3",
                timeout=30_000)
            page.wait_for_function(f"() => ({_LANGUAGES})()[0] === 'sql'", timeout=30_000)
            assert page.evaluate(_LANGUAGES) == ["sql", "python", "python"]

            keyword = page.evaluate(_CLASS_OF, [1, "import"])
            assert keyword, "Python's `import` has no highlight class"
            for word in ("select", "from", "where", "order", "by", "desc"):
                assert page.evaluate(_CLASS_OF, [0, word]) == keyword, \
                    f"`{word}` in the %%sql cell is not highlighted as a keyword"
            assert page.evaluate(_CLASS_OF, [1, "select"]) != keyword, \
                "`select` in the Python cell is highlighted as a keyword"
            cells = page.locator(".jp-Notebook .jp-Cell")
            top, bottom = cells.first.bounding_box(), cells.last.bounding_box()
            page.screenshot(path=ARTIFACTS / "sql-highlight.png", clip={
                "x": top["x"], "y": top["y"], "width": top["width"],
                "height": bottom["y"] + bottom["height"] - top["y"]})

            # Typing the magic above a Python cell makes it SQL; deleting it, Python again.
            editor = page.locator(".jp-CodeCell .cm-content").nth(2)
            editor.click()
            page.keyboard.press("Control+Home")
            page.keyboard.type("%%sql\n")
            page.wait_for_function(f"() => ({_LANGUAGES})()[2] === 'sql'", timeout=10_000)
            assert page.evaluate(_CLASS_OF, [2, "select"]) == keyword
            page.keyboard.press("Control+Home")
            page.keyboard.press("Shift+ArrowDown")
            page.keyboard.press("Delete")
            page.wait_for_function(f"() => ({_LANGUAGES})()[2] === 'python'", timeout=10_000)
            assert page.evaluate(_LANGUAGES) == ["sql", "python", "python"]
        except Exception:
            page.screenshot(path=ARTIFACTS / "sql-highlight-failure.png")
            raise
        finally:
            browser.close()
