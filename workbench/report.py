"""Headless reports: run a notebook with parameters in a fresh kernel, keep it as HTML.

    result = run_report(Path("notebooks/02_community_report.ipynb"), root=wb.config.root,
                        parameters={"top_n": 5})
    result.html        # reports/02_community_report-20261125-193012.html

papermill injects the parameters after the cell tagged ``parameters`` (or at the top) and
runs every cell with the ``python3`` kernel, in the notebook's own folder as when a person
opens it in JupyterLab (so ``Workbench()`` finds the project the same way). The executed
notebook and its HTML land in ``<root>/reports/``. A failing cell raises ``ReportFailed``,
which names the cell and its error; the HTML of the failed run is written all the same, so
the failure can be read where it happened.

Code a reader need not see stays out of the HTML: a cell tagged ``hide-input`` shows only its
outputs, and ``no_input=True`` (``workbench report --no-input``) hides every cell's code.
The executed .ipynb keeps it all.

The HTML needs no network (``report_html``): the widgets the notebook saved (the control
panel) draw from an inlined copy of the widget renderer, and a widget that copy cannot draw
(the explorer's grid) shows its static ``text/html`` fallback.
"""

from __future__ import annotations

import html
import logging
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError, ReportFailed
from .report_html import write_html

__all__ = ["ReportFailed", "ReportResult", "parse_parameters", "run_report"]

log = logging.getLogger(__name__)

KERNEL = "python3"
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_PARSED = (str, int, float, bool, type(None), list, dict)


@dataclass(frozen=True)
class ReportResult:
    """A report that ran to the end."""

    notebook: Path                  # the notebook that was run
    html: Path                      # the executed notebook as HTML, under reports/
    executed: Path                  # the executed .ipynb, with outputs, next to the HTML
    seconds: float                  # wall time: kernel start, cells and HTML
    parameters: dict[str, Any] = field(default_factory=dict)   # as injected

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.parameters.items()) or "none"
        return (f"report {self.notebook.name} ran in {self.seconds:.1f}s "
                f"(parameters: {params})\n  html:     {self.html}\n  executed: {self.executed}")

    def _repr_html_(self) -> str:
        # JupyterLab resolves a relative link from the notebook's folder (the kernel's cwd).
        try:
            href = os.path.relpath(self.html, Path.cwd())
        except ValueError:
            href = self.html.as_uri()
        params = ", ".join(f"{k}={v!r}" for k, v in self.parameters.items()) or "none"
        return (f'<div>Report <b>{html.escape(self.notebook.name)}</b> ran in '
                f"{self.seconds:.1f}s (parameters: {html.escape(params)}): "
                f'<a href="{html.escape(href, quote=True)}" target="_blank">'
                f"{html.escape(self.html.name)}</a></div>")


def parse_parameters(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Command-line ``-p name value`` pairs as Python values, read as YAML like papermill.

    ``"5"`` is 5, ``"0.5"`` 0.5, ``"true"`` True, ``"[a, b]"`` a list, ``"null"`` None;
    anything else stays text. Two YAML surprises are avoided on purpose: only true/false
    are booleans (so the country ``NO`` stays ``"NO"``), and dates stay text.

    >>> parse_parameters([("top_n", "5"), ("plan", "team"), ("country", "NO")])
    {'top_n': 5, 'plan': 'team', 'country': 'NO'}
    """
    import yaml

    parsed: dict[str, Any] = {}
    for name, text in pairs:
        if not name.isidentifier():
            raise ConfigError(f"report parameter {name!r} is not a Python variable name",
                              parameter=name)
        try:
            value = yaml.safe_load(text) if text.strip() else text
        except yaml.YAMLError:
            value = text
        if (not isinstance(value, _PARSED) or not _only_json_types(value)
                or (isinstance(value, bool) and text.strip().lower() not in ("true", "false"))):
            value = text
        parsed[name] = value
    return parsed


def run_report(notebook: Path, *, root: Path, parameters: dict[str, object],
               output_dir: Path | None = None, timeout: int = 600,
               no_input: bool = False) -> ReportResult:
    """Run ``notebook`` top to bottom in a fresh ``python3`` kernel and write it as HTML.

    Args:
        notebook: the .ipynb to run; its folder is the kernel's working directory.
        root: the project folder; reports go to ``root/reports`` unless ``output_dir``.
        parameters: injected after the cell tagged ``parameters`` (papermill).
        timeout: seconds any one cell may take.
        no_input: hide every cell's code in the HTML (cells tagged ``hide-input`` always).

    Writes ``<stem>-<YYYYmmdd-HHMMSS>.ipynb`` and ``.html``. Raises ReportFailed if a cell
    fails (the HTML is still written) or the kernel cannot run the notebook.
    """
    import papermill

    notebook = Path(notebook).resolve()
    if not notebook.is_file():
        raise ConfigError(f"no notebook at {notebook}", path=str(notebook))
    out = Path(output_dir) if output_dir is not None else Path(root) / "reports"
    out.mkdir(parents=True, exist_ok=True)
    executed, html_path = _output_paths(out, notebook.stem)
    parameters = dict(parameters)
    log.info("running report %s with %s in a fresh %s kernel", notebook.name,
             parameters or "no parameters", KERNEL)
    started = time.perf_counter()
    failure: BaseException | None = None
    try:
        papermill.execute_notebook(
            str(notebook), str(executed), parameters=parameters, kernel_name=KERNEL,
            language="python",   # notebooks written by code may lack the metadata
            cwd=str(notebook.parent), log_output=True, progress_bar=False,
            execution_timeout=timeout)
    except Exception as error:   # a failing cell, a timeout, a dead kernel: all reported
        failure = error
    wrote_html = write_html(executed, html_path, no_input) if executed.exists() else False
    seconds = time.perf_counter() - started
    if failure is not None:
        raise _failed(notebook, failure, executed if executed.exists() else None,
                      html_path if wrote_html else None) from failure
    log.info("report %s done in %.1fs: %s", notebook.name, seconds, html_path)
    return ReportResult(notebook, html_path, executed, seconds, parameters)


# -- helpers --------------------------------------------------------------------------------
def _only_json_types(value: Any) -> bool:
    if isinstance(value, list):
        return all(_only_json_types(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _only_json_types(v) for k, v in value.items())
    return isinstance(value, _PARSED)


def _output_paths(out: Path, stem: str) -> tuple[Path, Path]:
    """``<stem>-<stamp>.ipynb/.html``, with ``-2``, ``-3``... if that second is taken."""
    base = f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}"
    name, n = base, 1
    while (out / f"{name}.ipynb").exists() or (out / f"{name}.html").exists():
        n += 1
        name = f"{base}-{n}"
    return out / f"{name}.ipynb", out / f"{name}.html"


def _failed(notebook: Path, error: BaseException, executed: Path | None,
            html_path: Path | None) -> ReportFailed:
    """ReportFailed naming the cell that failed, found in the original notebook."""
    import nbformat

    ename = getattr(error, "ename", None) or type(error).__name__
    evalue = _ANSI.sub("", str(getattr(error, "evalue", None) or error)).strip()
    cells = nbformat.read(notebook, as_version=4).cells
    number, source = _failing_cell(cells, executed, getattr(error, "source", None))
    if number is not None:
        where = f" at cell {number} of {len(cells)} ({source!r})"
    elif source is not None:
        where = " in the cell papermill injected with the parameters"
    else:
        where = ""      # the kernel did not start, say
    if len(evalue) > 1000:
        evalue = evalue[:1000] + " ..."
    seen = f"\nthe failed run: {html_path}" if html_path else ""
    return ReportFailed(f"report {notebook.name} failed{where}: {ename}: {evalue}{seen}",
                        notebook=str(notebook), cell=number, source=source, ename=ename,
                        evalue=evalue, html=str(html_path) if html_path else None,
                        executed=str(executed) if executed else None)


def _failing_cell(cells, executed: Path | None, failed_source: str | None
                  ) -> tuple[int | None, str | None]:
    """(number from 1 in the original notebook, first line) of the cell that failed.

    papermill inserts cells (parameters, error notes), so match the executed cell back by
    its id, or by its source if the notebook has no cell ids.
    """
    import nbformat

    failed_id = None
    if executed is not None:
        for cell in nbformat.read(executed, as_version=4).cells:
            meta = cell.get("metadata", {}).get("papermill", {})
            errored = any(o.get("output_type") == "error" for o in cell.get("outputs", []))
            if meta.get("exception") or errored:
                failed_id, failed_source = cell.get("id"), cell.get("source")
                break
    for index, cell in enumerate(cells):
        if (failed_id and cell.get("id") == failed_id) or (
                failed_source is not None and cell.get("source") == failed_source):
            return index + 1, _first_line(cell.source)
    return None, (_first_line(failed_source) if failed_source is not None else None)


def _first_line(source: str) -> str:
    lines = [line for line in source.splitlines() if line.strip()]
    return lines[0].strip() if lines else ""
