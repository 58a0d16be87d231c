"""Exports: an executed report draws the panel with no network, and every widget the
workbench displays carries a static ``text/html`` and ``text/plain`` of what it shows.

One report (panel, explorer and ``wb.run()`` in a real kernel, on a copy of the built
project) is checked statically; the browser check opens it in Chromium with every request
that is not a file refused, when Chromium is installed (``tests/browser_setup.sh``).
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import nbformat
import pytest

from workbench import Workbench
from workbench.display.panel import WorkbenchPanel
from workbench.report import run_report
from workbench.report_html import (DRAWN_MODULES, WIDGET_STATE, WIDGET_VIEW,
                                   drawable_widget_state, widget_renderer)

CHROMIUM = Path("/usr/bin/chromium")
REPRS = ("VBox(children", "WorkbenchPanel(", "FloatProgress(", "<IPython.core.display")


@pytest.fixture(scope="module")
def report(built_project: Path, tmp_path_factory) -> tuple[nbformat.NotebookNode, str]:
    """(the executed notebook, its HTML) of a report showing the panel, the explorer and a
    run, as an analyst's notebook would."""
    project = Path(shutil.copytree(built_project, tmp_path_factory.mktemp("exports") / "p",
                                   symlinks=True))
    notebook = project / "notebooks" / "exported.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# Costs\nEach run costs $5 and each rerun $3."),
        nbformat.v4.new_code_cell("from workbench import Workbench\nwb = Workbench()"),
        nbformat.v4.new_code_cell("wb.panel()"),
        nbformat.v4.new_code_cell('wb.explore("user_engagement")'),
        nbformat.v4.new_code_cell("wb.run()")]), notebook)
    result = run_report(notebook, root=project, parameters={}, timeout=900)
    return nbformat.read(result.executed, as_version=4), result.html.read_text()


def bundle(nb: nbformat.NotebookNode, source: str) -> dict:
    [cell] = [c for c in nb.cells if c.source == source]
    [shown] = [o for o in cell.outputs if o["output_type"] in ("display_data", "execute_result")]
    return shown["data"]


def test_the_exported_report_loads_nothing_from_the_network(report):
    _, page = report
    assert not re.findall(r"<script[^>]*\bsrc=", page), "a script is loaded from elsewhere"
    assert not re.findall(r"""(?:src|href)=["']?https?:""", page)
    assert "unpkg.com" not in page and "cdnjs" not in page      # no renderer, require.js, MathJax
    assert "_jupyter_widget_embedder" in page                   # the renderer is inlined


def test_the_exported_report_keeps_the_panels_widgets_and_drops_the_grids(report):
    nb, page = report
    [saved] = re.findall(r'<script type="application/vnd.jupyter.widget-state\+json">\s*(.*?)'
                         r"\s*</script>", page, re.S)
    models = json.loads(saved)["state"]
    assert {m["model_module"] for m in models.values()} <= DRAWN_MODULES
    assert any(m["state"].get("description") == "Run all" for m in models.values())
    panel_view = bundle(nb, "wb.panel()")[WIDGET_VIEW]["model_id"]
    explorer_view = bundle(nb, 'wb.explore("user_engagement")')[WIDGET_VIEW]["model_id"]
    assert panel_view in models and explorer_view not in models
    assert json.dumps(panel_view) in page            # the panel is drawn from its view tag
    # the executed notebook keeps every model, the grid's anywidget included
    assert "anywidget" in {m["model_module"] for m in
                           nb.metadata["widgets"][WIDGET_STATE]["state"].values()}


def test_the_exported_report_reads_without_javascript_and_shows_no_widget_repr(report):
    nb, page = report
    # the panel's fallback sits beside its drawn widget, hidden by CSS once it is drawn
    fallback = page.split("workbench-widget-fallback jp-RenderedHTMLCommon", 1)[1]
    assert "workbench-panel-static" in fallback[:2000]
    assert "data-state='idle'" in fallback and "last run:" in fallback
    # the explorer, whose grid cannot be drawn offline, is its first page as a table
    assert "class='workbench-page'" in page or 'class="workbench-page"' in page
    assert "rows 1–" in page
    # the run's live output ended as the result, in HTML and in text
    run = bundle(nb, "wb.run()")
    assert run["text/html"].startswith("<div><b>Run ") and "up to date" in run["text/html"]
    assert re.match(r"run \S+ success in [\d.]+s: ", run["text/plain"]), run["text/plain"]
    for text in REPRS:
        assert text not in page, f"{text} shown in the export"
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            plain = "".join(output.get("data", {}).get("text/plain", ""))
            assert not plain.startswith(REPRS), f"a widget repr in {cell.source!r}: {plain}"


@pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium "
                                                  "(tests/browser_setup.sh installs it)")
def test_the_exported_panel_draws_in_a_browser_with_no_network(report, tmp_path):
    from playwright.sync_api import sync_playwright

    _, page_html = report
    path = tmp_path / "report.html"
    path.write_text(page_html, encoding="utf-8")
    refused: list[str] = []

    def only_files(route):
        if route.request.url.startswith(("file:", "data:")):
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort()

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                             args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.route("**/*", only_files)
            page.goto(path.as_uri())
            page.wait_for_selector(".workbench-panel .widget-button", timeout=60_000)
            buttons = page.locator(".workbench-panel .widget-button").all_inner_texts()
            status = page.locator(".workbench-panel .workbench-status").inner_text()
            fallback_shown = page.locator(".workbench-panel-static").first.is_visible()
            icon_font = page.evaluate("document.fonts.check('900 12px \"Font Awesome 5 Free\"')")
        finally:
            browser.close()
    assert refused == []
    assert [b.strip() for b in buttons][:1] == ["Run all"] and "Plan" in " ".join(buttons)
    assert "idle" in status and not fallback_shown
    assert icon_font


def test_the_panels_bundle_shows_what_it_shows_as_html_and_text(built_project: Path):
    panel = WorkbenchPanel(Workbench(built_project))
    data = panel._repr_mimebundle_()
    assert WIDGET_VIEW in data
    html, text = data["text/html"], data["text/plain"]
    assert "workbench-panel-static" in html and "data-state='idle'" in html
    assert built_project.name in html and "<button" not in html
    first, status, *_, note = text.splitlines()
    assert first == f"Workbench panel · {built_project.name} ({built_project})"
    assert status.startswith("● idle · last run:") and "running kernel" in note
    assert "<" not in text and not text.startswith(REPRS)


def test_a_model_that_refers_to_one_the_renderer_cannot_draw_is_left_out():
    def model(module: str, **state) -> dict:
        return {"model_module": module, "model_name": "M", "model_module_version": "*",
                "state": state}

    nb = nbformat.v4.new_notebook(metadata={"widgets": {WIDGET_STATE: {"state": {
        "grid": model("anywidget"),
        "box": model("@jupyter-widgets/controls", children=["IPY_MODEL_grid", "IPY_MODEL_b"]),
        "outer": model("@jupyter-widgets/controls", children=["IPY_MODEL_box"]),
        "out": model("@jupyter-widgets/output", outputs=[{"output_type": "display_data",
                     "data": {WIDGET_VIEW: {"model_id": "grid"}}}]),
        "b": model("@jupyter-widgets/controls", layout="IPY_MODEL_l"),
        "l": model("@jupyter-widgets/base"),
        "custom_view": model("@jupyter-widgets/controls", _view_module="my-widgets"),
    }, "version_major": 2, "version_minor": 0}}})
    assert set(drawable_widget_state(nb)) == {"b", "l"}
    assert drawable_widget_state(nbformat.v4.new_notebook()) == {}


def test_the_vendored_renderer_inlines_with_its_fonts_and_no_url_to_fetch():
    script = widget_renderer()
    assert script.count("data:font/woff2;base64,") == 3
    assert 'if(!e)e="./";' in script and "Automatic publicPath" not in script
    assert "</script" not in script.lower()
