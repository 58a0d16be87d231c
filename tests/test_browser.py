"""JupyterLab in a real browser: the quickstart runs top to bottom, then the control panel's
"Run all" runs the pipeline and shows every node done.

A real ``jupyter lab`` serves a project copy on 127.0.0.1 with a token; Debian's Chromium,
driven by Playwright (no browser of Playwright's own: ``tests/browser_setup.sh`` installs
Chromium), opens the quickstart, runs all cells as a person would (menu Run > Run All Cells),
and clicks the panel. Screenshots go to ``tests/artifacts/`` for a person to look at.

Skipped only where Chromium or Playwright is missing, and never under CI (``CI`` set): there
it fails, saying what to install.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import nbformat
import pytest
from conftest import make_project

from workbench.service import free_port

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
NOTEBOOK = "notebooks/01_quickstart.ipynb"
PANEL_CELL = "from workbench.display.panel import panel\n\npanel(wb)"
RUN_ALL_CELLS_MS = 360_000     # the first run also starts Prefect's server (10-15 s)
PANEL_RUN_MS = 180_000


def _require_browser() -> None:
    """Fail, naming what is missing, without Chromium or Playwright: `make test` installs
    both (tests/browser_setup.sh, the dev extra), so a missing one is a broken set-up."""
    missing = []
    if not CHROMIUM.exists():
        missing.append(f"{CHROMIUM} (run tests/browser_setup.sh)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("the playwright package (pip install playwright; no 'playwright "
                       "install': Debian's Chromium is used)")
    if missing:
        pytest.fail("browser test needs " + " and ".join(missing))


@dataclass(frozen=True)
class Lab:
    url: str            # the server's base URL, no trailing slash
    token: str
    project: Path

    def api(self, path: str, method: str = "GET") -> object:
        request = urllib.request.Request(f"{self.url}{path}", method=method,
                                         headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read()
        return json.loads(body) if body else None




def _with_panel(notebook: Path) -> None:
    """Append a panel cell to the copy's quickstart, unless the notebook has one already."""
    nb = nbformat.read(notebook, as_version=4)
    if not any(c.cell_type == "code" and "panel(" in c.source for c in nb.cells):
        nb.cells.append(nbformat.v4.new_markdown_cell(
            "## Control panel\n\nRun the pipeline from buttons, and watch it."))
        nb.cells.append(nbformat.v4.new_code_cell(PANEL_CELL))
        nbformat.write(nb, notebook)


def _lab_settings(folder: Path) -> Path:
    """User settings for this server only: no news pop-up, every cell kept in the page."""
    settings = {
        "@jupyterlab/apputils-extension/notification.jupyterlab-settings":
            {"fetchNews": "false", "checkForUpdates": False},
        "@jupyterlab/notebook-extension/tracker.jupyterlab-settings":
            {"windowingMode": "none"},
    }
    for name, values in settings.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    return folder


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    """JupyterLab on 127.0.0.1 serving a fresh project copy; stopped with its kernels."""
    _require_browser()
    project = make_project(tmp_path / "project")
    _with_panel(project / NOTEBOOK)
    port, token = free_port(), secrets.token_hex(16)
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "failure.png").unlink(missing_ok=True)
    log = (ARTIFACTS / "jupyterlab.log").open("w")
    env = {**os.environ,   # PREFECT_HOME and friends from conftest reach the kernel
           "JUPYTER_CONFIG_DIR": str(tmp_path / "jupyter-config"),
           "JUPYTER_RUNTIME_DIR": str(tmp_path / "jupyter-runtime")}
    server = subprocess.Popen(
        [str(Path(sys.executable).with_name("jupyter")), "lab", "--no-browser",
         "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={project}",
         f"--LabServerApp.user_settings_dir={_lab_settings(tmp_path / 'lab-settings')}",
         f"--LabServerApp.workspaces_dir={tmp_path / 'lab-workspaces'}",
         "--LabApp.extension_manager=readonly",     # never asks PyPI for extensions
         *(["--allow-root"] if os.geteuid() == 0 else [])],
        cwd=project, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    lab = Lab(f"http://127.0.0.1:{port}", token, project)
    try:
        deadline = time.monotonic() + 60
        while True:
            if server.poll() is not None:
                pytest.fail(f"jupyter lab exited with {server.returncode}; see "
                            f"{ARTIFACTS / 'jupyterlab.log'}")
            try:
                lab.api("/api/status")
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail("jupyter lab did not answer within 60 s")
                time.sleep(0.3)
        yield lab
    finally:
        try:    # kernels first, politely: each one stops its own Prefect server on exit
            for kernel in lab.api("/api/kernels") or []:
                lab.api(f"/api/kernels/{kernel['id']}", method="DELETE")
        except OSError:
            pass
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait(10)
        log.close()


def _late_events(project: Path, rows: int = 50) -> None:
    """A late file of events lands: the panel's "Run all" then has real work to do."""
    folder = project / "data" / "landing" / "events"
    newest = sorted(folder.glob("*.parquet"))[-1]
    with duckdb.connect() as con:
        con.execute(f"copy (select * replace (event_id + 1000000000 as event_id) "
                    f"from read_parquet('{newest}') limit {rows}) "
                    f"to '{folder / 'late-arrivals.parquet'}' (format parquet)")


# Every state a node row took while the run was live, the live table as last seen, and every
# status line: the page keeps them, so the test can tell the table moved (queued/running)
# before it settled, and compare its last counts with the result that took its place.
_WATCH_PANEL = """() => {
  window.__workbench = {states: new Set(), statuses: [], last: {}, tests: 0};
  const seen = () => {
    const rows = document.querySelectorAll('.workbench-progress tr.workbench-node-row');
    if (rows.length) {
      window.__workbench.last = {};
      window.__workbench.tests = 0;
    }
    rows.forEach(row => {
      window.__workbench.states.add(row.dataset.state);
      window.__workbench.last[row.dataset.node] = row.dataset.state;
      const tests = row.dataset.node === 'dbt-tests' && row.cells[0].textContent.match(/\d+/);
      if (tests) window.__workbench.tests = Number(tests[0]);
    });
    const line = document.querySelector('.workbench-status .workbench-status-line');
    if (line) window.__workbench.statuses.push(line.dataset.state + ': ' + line.textContent);
  };
  new MutationObserver(seen).observe(document.querySelector('.workbench-panel'),
                                     {subtree: true, childList: true, characterData: true});
}"""
# The execution indicator says "idle" before any kernel is attached ("No Kernel"): wait for
# the notebook's own kernel to be named and idle, or "Run All Cells" asks to select a kernel.
_KERNEL_READY = """() => {
  const indicator = document.querySelector('.jp-Notebook-ExecutionIndicator');
  const kernel = document.querySelector('.jp-NotebookPanel-toolbar .jp-KernelName');
  return indicator?.dataset.status === 'idle' && kernel
         && !/no kernel/i.test(kernel.textContent);
}"""
# Every code cell has an execution count; or a dialog came up (then fail at once).
_ALL_EXECUTED = """() => {
  if (document.querySelector('.jp-Dialog')) return true;
  const prompts = [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')];
  return prompts.length > 0 && prompts.every(p => /\\[\\d+\\]/.test(p.textContent));
}"""
# The result's node table: first cell -> every cell's text.
_RESULT_ROWS = """() => Object.fromEntries(
  [...document.querySelectorAll('.workbench-panel .workbench-result tbody tr')]
    .map(tr => [...tr.cells].map(td => td.textContent.trim())).map(c => [c[0], c]))"""
_RUN_ENDED = """() => {
  const line = document.querySelector('.workbench-status .workbench-status-line');
  return line && ['finished', 'failed', 'error', 'cancelled'].includes(line.dataset.state);
}"""


def test_quickstart_runs_in_jupyterlab_and_the_panel_runs_all(lab: Lab) -> None:
    from playwright.sync_api import sync_playwright

    started = time.monotonic()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                             args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        console: list[str] = []
        page.on("console", lambda m: console.append(f"{m.type}: {m.text}")
                if m.type == "error" else None)
        try:
            page.goto(f"{lab.url}/lab/tree/{NOTEBOOK}?token={lab.token}")
            page.wait_for_function(_KERNEL_READY, timeout=120_000, polling=250)

            # Run > Run All Cells, as a person would.
            page.locator(".lm-MenuBar-item", has_text="Run").first.click()
            page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
            page.wait_for_function(_ALL_EXECUTED, timeout=RUN_ALL_CELLS_MS, polling=500)
            dialog = page.locator(".jp-Dialog")
            assert not dialog.count(), f"JupyterLab asked: {dialog.first.inner_text()}"
            notebook_seconds = time.monotonic() - started
            errors = page.locator('.jp-OutputArea-output'
                                  '[data-mime-type="application/vnd.jupyter.error"]')
            assert errors.count() == 0, f"a cell raised: {errors.first.inner_text()[:2000]}"

            panel = page.locator(".workbench-panel")
            panel.wait_for(state="visible", timeout=60_000)
            panel.scroll_into_view_if_needed()
            page.screenshot(path=ARTIFACTS / "lab-after-run-all-cells.png", full_page=True)
            lineage = page.locator("svg.workbench-lineage")
            if lineage.count():
                assert lineage.first.is_visible(), "the lineage picture is not visible"
                assert lineage.first.locator("path, line, rect, ellipse, text").count() > 0, \
                    "the lineage picture is empty"
            else:
                print("no svg.workbench-lineage in the notebook yet: lineage check skipped")

            _late_events(lab.project)
            page.evaluate(_WATCH_PANEL)
            page.locator(".workbench-run-all").click()
            page.wait_for_function(_RUN_ENDED, timeout=PANEL_RUN_MS, polling=200)

            status = panel.locator(".workbench-status-line")
            assert status.get_attribute("data-state") == "finished", status.inner_text()
            # the live table became the result: the run is summed up once
            assert panel.locator(".workbench-progress tr.workbench-node-row").count() == 0, \
                "the node table is still shown above the result"
            watched = page.evaluate("({...window.__workbench, "
                                    "states: [...window.__workbench.states]})")
            states, tests = watched["last"], watched["tests"]
            assert len(states) >= 10 and "source:events" in states and tests, states
            unsettled = {node: state for node, state in states.items()
                         if state not in ("done", "up-to-date")}
            assert not unsettled, f"rows neither done nor up to date: {unsettled}"
            assert states["source:events"] == "done", states    # its late file was loaded
            seen = set(watched["states"])
            assert {"queued", "running"} & seen, f"no live progress was shown: {seen}"

            rows = page.evaluate(_RESULT_ROWS)
            assert rows["events"][2:4] == ["success", "50"], rows["events"]
            summed = sum(int(n) for n in re.findall(
                r"(\d+) (?:success|skipped|warn|error|fail|up to date)",
                status.inner_text().split(":", 1)[1]))
            assert summed == len(states) - 1 + tests, \
                f"the result counts {summed} nodes, the live table {len(states) - 1 + tests}"
            broken = page.evaluate(_BROKEN)
            assert not broken, broken
            assert panel.locator(".workbench-run-all").is_enabled()
            assert panel.locator(".workbench-cancel").is_disabled()
            panel.scroll_into_view_if_needed()
            page.screenshot(path=ARTIFACTS / "lab-after-panel-run.png")
            page.set_viewport_size({"width": 1400, "height": 2400})   # the whole panel
            panel.scroll_into_view_if_needed()
            panel.screenshot(path=ARTIFACTS / "panel-after-run-all.png")
            print(f"\nnotebook ran in {notebook_seconds:.0f}s; panel run: "
                  f"{status.inner_text()}; statuses seen: "
                  f"{len(page.evaluate('window.__workbench.statuses'))}")
        except Exception:
            page.screenshot(path=ARTIFACTS / "failure.png")
            raise
        finally:
            if console:
                (ARTIFACTS / "browser-console.log").write_text("\n".join(console))
            browser.close()


# -- the notebook's face in both themes ---------------------------------------------------------
FACE = "notebooks/face.ipynb"
FACE_CELLS = [
    "from workbench import Workbench\nwb = Workbench()",
    'wb.explore("events")',
    "g = wb.graph()\nfailed = next(n.name for n in g.nodes.values()\n"
    "              if n.kind == 'test' and 'stg_invoices' in n.name)\n"
    "from workbench.display.lineage import Lineage\n"
    "Lineage(g, statuses={**{n.name: 'success' for n in g.nodes.values()}, failed: 'fail'})",
    "from datetime import datetime\nfrom workbench.results import NodeResult, RunResult\n"
    "t0 = datetime(2026, 1, 1)\nRunResult('failing', t0, t0, (NodeResult('stg_invoices', "
    "'model', 'error', 0.4, message='Binder Error: column amount_cents not found ' * 5, "
    "relation='staging.stg_invoices'),))",
    "from workbench.display.panel import panel\npanel(wb)",
]
# What a person would call broken, measured: a box narrower than its name (HTML names whose
# text overflows, SVG node texts outside their box or on top of each other), anything of ours
# wider than the notebook, a panel narrower than it, a run's table cell wrapped over lines or
# cut without an ellipsis and its whole text on hover, and a widget printed as its repr.
_BROKEN = """() => {
  const out = [];
  const notebook = document.querySelector('.jp-NotebookPanel .jp-Notebook').getBoundingClientRect();
  for (const el of document.querySelectorAll('.workbench-explorer, div.workbench-lineage, .workbench-panel, .jp-OutputArea-output')) {
    const r = el.getBoundingClientRect();
    if (r.width && r.right > notebook.right + 1) out.push(`wider than the notebook: ${el.className} ${r.right} > ${notebook.right}`);
  }
  for (const el of document.querySelectorAll('.workbench-panel')) {
    const area = el.closest('.jp-OutputArea-output').getBoundingClientRect();
    if (el.getBoundingClientRect().width < area.width * 0.95) out.push(`the panel is narrower than the notebook: ${el.getBoundingClientRect().width} < ${area.width}`);
  }
  for (const el of document.querySelectorAll('.wb-grid-names th, .workbench-panel td.workbench-name, .workbench-node-row td:first-child'))
    if (el.scrollWidth > el.clientWidth + 1) out.push(`name overflows: ${el.textContent}`);
  for (const g of document.querySelectorAll('svg.workbench-lineage g.node')) {
    const box = g.querySelector('rect, path').getBBox();
    const texts = [...g.querySelectorAll('text')].map(t => t.getBBox());
    if (texts.some(b => b.x < box.x || b.x + b.width > box.x + box.width + 0.5)) out.push(`out of its box: ${g.dataset.name}`);
    for (let i = 0; i < texts.length; i++) for (let j = i + 1; j < texts.length; j++) {
      const a = texts[i], c = texts[j];
      if (a.x < c.x + c.width && c.x < a.x + a.width && a.y < c.y + c.height && c.y < a.y + a.height) out.push(`texts overlap: ${g.dataset.name}`);
    }
  }
  for (const el of document.querySelectorAll('.workbench-run-nodes td, .workbench-nodes td')) {
    if (el.getBoundingClientRect().height > 32) out.push(`a cell wraps: ${el.textContent.slice(0, 60)}`);
    const style = getComputedStyle(el);
    if (el.scrollWidth > el.clientWidth + 1 && (style.textOverflow !== 'ellipsis' || !el.title)) out.push(`cut without an ellipsis and the whole text on hover: ${el.textContent.slice(0, 60)}`);
  }
  for (const el of document.querySelectorAll('.jp-OutputArea-output'))
    if (/^\\s*(VBox|HBox|Tab|Accordion|Grid|FloatProgress|Output)\\(/.test(el.textContent)) out.push(`a widget shown as its repr: ${el.textContent.slice(0, 80)}`);
  return out;
}"""
# After "fit", the whole picture is within the notebook's width, no sideways scroll.
_FITS = """() => {
  const box = document.querySelector('div.workbench-lineage');
  return box.querySelector('svg').getBoundingClientRect().right <= box.getBoundingClientRect().right + 1;
}"""
# Text colour of the grid's cells and the page's background, as 0..1 luminance.
_LUMINANCE = """(selector) => {
  const lum = (c) => { const [r, g, b] = c.match(/[\\d.]+/g).map(Number); return (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255; };
  const el = document.querySelector(selector);
  return lum(getComputedStyle(el).color);
}"""


def _set_theme(lab: Lab, name: str) -> None:
    body = json.dumps({"raw": json.dumps({"theme": name})}).encode()
    request = urllib.request.Request(
        f"{lab.url}/lab/api/settings/@jupyterlab/apputils-extension:themes", data=body,
        method="PUT", headers={"Authorization": f"token {lab.token}",
                               "Content-Type": "application/json"})
    urllib.request.urlopen(request, timeout=10).close()


def test_explorer_lineage_panel_and_a_failure_look_right_in_light_and_dark(lab: Lab) -> None:
    from playwright.sync_api import sync_playwright

    from workbench import Workbench

    Workbench(lab.project).run().raise_for_failures()
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in FACE_CELLS])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)",
                                 "language": "python"}
    nbformat.write(nb, lab.project / FACE)
    with duckdb.connect(str(lab.project / "data" / "warehouse.published.duckdb"),
                        read_only=True) as con:
        total, notebooks = con.execute(
            "select count(*), count(*) filter (where feature ilike '%notebooks%') "
            "from raw.events").fetchone()
    last = (notebooks - 1) // 25 * 25
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                             args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        try:
            for theme_name, dark in (("JupyterLab Light", False), ("JupyterLab Dark", True)):
                _set_theme(lab, theme_name)
                page.goto(f"{lab.url}/lab/tree/{FACE}?token={lab.token}")
                page.wait_for_function(_KERNEL_READY, timeout=120_000, polling=250)
                page.locator(".lm-MenuBar-item", has_text="Run").first.click()
                page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
                page.wait_for_function(_ALL_EXECUTED, timeout=120_000, polling=500)
                errors = page.locator('.jp-OutputArea-output'
                                      '[data-mime-type="application/vnd.jupyter.error"]')
                assert errors.count() == 0, errors.first.inner_text()[:2000]
                grid = page.locator(".workbench-explorer .wb-grid")
                grid.wait_for(state="visible", timeout=60_000)
                count = grid.locator(".wb-grid-count")
                assert count.inner_text() == f"rows 1–25 of {total:,}"
                grid.locator('input.wb-grid-filter[data-column="feature"]').fill("notebooks")
                grid.locator('input.wb-grid-filter[data-column="feature"]').press("Enter")
                page.wait_for_function(
                    "(t) => document.querySelector('.wb-grid-count').textContent === t",
                    arg=f"rows 1–25 of {notebooks:,} (filtered from {total:,})", timeout=30_000)
                grid.locator(".wb-grid-last").click()
                page.wait_for_function(
                    "(t) => document.querySelector('.wb-grid-count').textContent.startsWith(t)",
                    arg=f"rows {last + 1}–{notebooks} of {notebooks}", timeout=30_000)
                assert grid.locator("tbody tr").count() == notebooks - last

                lineage = page.locator("div.workbench-lineage")
                assert lineage.locator(".workbench-lineage-tools").is_visible(), \
                    "the lineage's script did not run"
                failed = lineage.locator('g.node[data-name="stg_invoices"]')
                assert failed.get_attribute("data-failing-tests"), "the failed test is hidden"
                lineage.locator(".wb-fit").click()
                assert page.evaluate(_FITS), "'fit' leaves part of the lineage out of sight"
                suffix = "dark" if dark else "light"
                lineage.screenshot(path=ARTIFACTS / f"lineage-{suffix}.png")    # all of it
                failed.click()
                assert "up- and downstream" in lineage.locator(".wb-found").inner_text()
                assert "error" in page.locator(".jp-OutputArea-output", has_text="Binder Error")\
                    .first.inner_text()
                page.locator(".workbench-panel").wait_for(state="visible", timeout=60_000)

                broken = page.evaluate(_BROKEN)
                assert not broken, f"{theme_name}: {broken}"
                ink = page.evaluate(_LUMINANCE, ".wb-grid-table td")
                assert (ink > 0.6) if dark else (ink < 0.4), f"{theme_name}: grid text {ink}"
                grid.screenshot(path=ARTIFACTS / f"explorer-{suffix}.png")
                page.locator(".jp-OutputArea-output", has_text="Binder Error").first \
                    .screenshot(path=ARTIFACTS / f"failed-run-{suffix}.png")
                page.locator(".workbench-panel").screenshot(
                    path=ARTIFACTS / f"panel-{suffix}.png")
                page.screenshot(path=ARTIFACTS / f"face-{suffix}.png", full_page=True)
        except Exception:
            page.screenshot(path=ARTIFACTS / "failure.png", full_page=True)
            raise
        finally:
            browser.close()
