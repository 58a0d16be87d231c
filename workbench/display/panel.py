"""A control panel for a Workbench in JupyterLab: run everything, one source or a selection,
watch each node's progress live, read the run's result when it finishes.

    from workbench.display.panel import panel
    panel(wb)                     # the last expression of a cell

What it shows, top to bottom: the buttons; a status line; a table of the nodes the run may
touch (or, after **Plan**, what a run of the choice next to it, all / the source / the
selection, would do: each node "would run" and why, or "up to date", from ``wb.plan()``, with
nothing run) (``queued`` -> ``running`` -> ``done`` / ``failed`` / ``skipped``, with rows and
seconds; dbt's tests are folded into one line), which, when the run ends, becomes the
RunResult as ``wb.run()`` shows it, failures expanded (the table gives way to it, so the run is
summed up once; a cancelled run, or one that raised, keeps its table). When a Prefect server serves the project
(``PREFECT_API_URL`` or ``workbench serve``), one more line under the status says what it is
doing (``wb.server().summary()``): deployments, running and queued runs, the last run, late
sources. It is read in a thread when the panel opens and again after each run.

How it runs:

* The run executes in a background thread, so the kernel stays free for other cells while it
  runs. Do not start ``wb.run()`` from a cell while the panel runs: both would report to the
  same progress listeners (the warehouse lock keeps their writes apart).
* The run tells the panel what it planned, when each unit of work starts and when each node
  finishes or is found up to date (``workbench.progress``): the table shows exactly that,
  nothing is guessed. A node found up to date shows "up to date", not "done".
* **Cancel** sets the run's ``CancelToken``. No new work starts after it; the nodes already
  running finish first (a load or a dbt build is never cut in half). A cancelled run is
  recorded in ``wb.history()`` as cancelled with what it did, and what it finished is
  published; nothing is marked built, so the next run builds what it loaded.
  The buttons come back at once; a run started meanwhile waits for the cancelled one to
  stop. Limitation: a single long node (one big ``dbt build``) cannot be interrupted.

Exported notebooks: the panel's status line, node table and result are ``ipywidgets.HTML``
values, kept in the notebook's widget state when it is saved with it (JupyterLab's
"Save Widget State Automatically", or nbclient's default, as in ``workbench report``, whose
HTML draws them offline). Without widget state (GitHub, a static viewer), the output's
``text/html`` and ``text/plain`` show what the panel showed when it was displayed: its title,
status, node table and result, without the buttons.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

import ipywidgets as widgets

from .. import ledger
from ..errors import RunCancelled
from ..progress import RunEvent

from .panel_view import _border, _button, _html, _label_line, _plan_table, _Run, _service, \
    _static_html, _static_text, _status, _table, _title

if TYPE_CHECKING:
    from ..api import Workbench
    from ..results import RunResult

__all__ = ["RunCancelled", "WorkbenchPanel", "panel"]

_FIELD = "330px"         # the source dropdown and the selection box, label included
_WIDTH = "100%"         # as wide as the notebook: long messages get the room there is
_LABEL = {"description_width": "70px"}
_TICK = 1.0             # seconds between refreshes of the status line while running


def panel(wb: Workbench) -> WorkbenchPanel:
    """A control panel for ``wb``: Run all / Run source / Run selection / Cancel, with live
    progress per node and the RunResult when the run ends.

    Example::

        wb = Workbench()
        panel(wb)         # in a notebook cell; the run goes on while you use other cells
    """
    return WorkbenchPanel(wb)


class WorkbenchPanel(widgets.VBox):
    """The widget ``panel(wb)`` returns; see the module docstring."""

    def __init__(self, wb: Workbench) -> None:
        self.wb = wb
        sources = [s.name for s in wb.config.sources]
        self.run_all = _button("Run all", "play", "primary", "workbench-run-all",
                               "Load what changed and build what is stale: wb.run()")
        self.source = widgets.Dropdown(options=sources, value=sources[0] if sources else None,
                                       description="Source", style=_LABEL,
                                       layout=widgets.Layout(width=_FIELD))
        self.source.add_class("workbench-source")
        self.run_source = _button("Run source", "play", "", "workbench-run-source",
                                  "This source and what is downstream of it: "
                                  "wb.run(sources=[...])")
        self.selection = widgets.Text(placeholder="+user_engagement  marts  step:*",
                                      description="Select", style=_LABEL,
                                      continuous_update=False,
                                      layout=widgets.Layout(width=_FIELD))
        self.selection.add_class("workbench-selection")
        self.run_selection = _button("Run selection", "play", "", "workbench-run-selection",
                                     "What the selection names, even if nothing changed: "
                                     "wb.run(select=...)")
        self.plan = _button("Plan", "list", "", "workbench-plan",
                            "What a run of the choice on the right would do and why; runs "
                            "nothing: wb.plan(...)")
        self.plan_for = widgets.Dropdown(options=["all", "source", "selection"], value="all",
                                         layout=widgets.Layout(width="110px"))
        self.plan_for.add_class("workbench-plan-for")
        self.full_refresh = widgets.Checkbox(
            False, description="Full refresh (rebuild all)",
            tooltip="Applies to every button: wb.run(..., full_refresh=True)",
            indent=True, style=_LABEL, layout=widgets.Layout(width=_FIELD))
        self.full_refresh.add_class("workbench-full-refresh")
        self.cancel = _button("Cancel", "stop", "", "workbench-cancel",
                              "Start no new work: the running nodes finish, then it stops")
        self.cancel.disabled = True
        self.status = _html("workbench-status", _status("idle", self._last_run()))
        self.service = _html("workbench-service", "")   # hidden unless a server is known
        self.progress = _html("workbench-progress", "")
        self.result = _html("workbench-result", "")
        self.result.layout.overflow = "auto"      # a long message scrolls, not spills
        root = wb.config.root
        title = _html("workbench-title", _title(root.name, str(root)))
        everything = _html("workbench-everything",
                           _label_line("All", _LABEL["description_width"],
                                       "load what changed, build what is stale"))
        everything.layout.width = _FIELD

        self.run_all.on_click(lambda _: self._start("all"))
        self.run_source.on_click(lambda _: self._start(f"source {self.source.value}",
                                                       sources=[self.source.value]))
        self.run_selection.on_click(lambda _: self._start_selection())
        self.cancel.on_click(lambda _: self._cancel())
        self.plan.on_click(lambda _: self._start_plan())

        def line(*children: widgets.Widget) -> widgets.HBox:
            return widgets.HBox(children, layout=widgets.Layout(align_items="center",
                                                                grid_gap="10px"))

        super().__init__(
            [title,
             line(everything, self.run_all),
             line(self.source, self.run_source),
             line(self.selection, self.run_selection, self.plan, self.plan_for),
             line(self.full_refresh, self.cancel),
             self.status, self.service, self.progress, self.result],
            layout=widgets.Layout(width=_WIDTH, padding="8px 12px", grid_gap="4px",
                                  border=_border()))
        self.add_class("workbench-panel")
        self._lock = threading.Lock()     # guards the fields below; callbacks come from threads
        self._run: _Run | None = None     # the run this panel shows
        self._planning = False            # a Plan is being read; no run starts meanwhile
        self._thread: threading.Thread | None = None
        self._result: RunResult | None = None     # the result shown, for the text fallback
        self._refresh_service()

    # -- buttons -------------------------------------------------------------------------------
    def _start_selection(self) -> None:
        expression = self.selection.value.strip()
        if not expression:
            self.status.value = _status("idle", "type a selection first, e.g. "
                                                "+user_engagement")
            self.selection.focus()
            return
        self._start(f"selection {expression}", select=expression)

    def _start_plan(self) -> None:
        """Plan the choice in a thread: a first plan parses dbt, and it scans the landing
        files under the warehouse's write lock, so it may wait for a run elsewhere."""
        choice = self.plan_for.value
        expression = self.selection.value.strip()
        if choice == "selection" and not expression:
            self.status.value = _status("idle", "type a selection to plan first, e.g. "
                                                "+user_engagement")
            return
        sources = [self.source.value] if choice == "source" else None
        select = expression if choice == "selection" else None
        with self._lock:
            if self._planning or (self._run is not None and not self._run.cancel.cancelled):
                return
            self._planning = True
        self._busy(True, cancellable=False)
        self.status.value = _status("planning", "reading what changed…")
        threading.Thread(target=self._plan, args=(sources, select, self.full_refresh.value),
                         name="workbench-panel-plan", daemon=True).start()

    def _plan(self, sources: list[str] | None, select: str | None, full_refresh: bool) -> None:
        try:
            plan = self.wb.plan(sources=sources, select=select, full_refresh=full_refresh)
            self.result.value, self._result = "", None
            self.progress.value = _plan_table(plan)
            self.status.value = _status("planned", plan.summary() + " (nothing ran)")
        except Exception as error:  # noqa: BLE001 - the panel shows every failure as data
            self.status.value = _status("error", f"plan · {type(error).__name__}: {error}")
        finally:
            with self._lock:
                self._planning = False
            self._busy(False)

    def _start(self, label: str, *, sources: Sequence[str] | None = None,
               select: str | None = None) -> None:
        with self._lock:
            if self._planning or (self._run is not None and not self._run.cancel.cancelled):
                return      # one at a time (the buttons are disabled meanwhile anyway)
            run = _Run(label, sources, select, self.full_refresh.value)
            previous, self._run = self._thread, run
            self._thread = threading.Thread(target=self._work, args=(run, previous),
                                            name="workbench-panel-run", daemon=True)
        self._busy(True)
        self.result.value, self._result = "", None
        self.progress.value = ""
        self.status.value = _status("running", f"{label} · starting…")
        self._thread.start()
        threading.Thread(target=self._tick, args=(run,), name="workbench-panel-tick",
                         daemon=True).start()

    def _cancel(self) -> None:
        with self._lock:
            run = self._run
            if run is None or run.cancel.cancelled:
                return
            run.cancel.cancel("cancelled from the panel")
            with run.lock:
                running = sum(r.state == "running" for r in run.rows.values())
                for row in run.rows.values():
                    if row.state == "queued":
                        row.state, row.note = "cancelled", "not started"
            self._run = None    # the panel is free; the run's thread still ends on its own
        self._busy(False)
        self.status.value = _status(
            "cancelled", f"{run.label} · no new work starts"
            + (f", {running} running node(s) finish first" if running else ""))
        self.progress.value = _table(run)

    def _busy(self, busy: bool, *, cancellable: bool = True) -> None:
        for control in (self.run_all, self.run_source, self.run_selection, self.source,
                        self.selection, self.full_refresh, self.plan, self.plan_for):
            control.disabled = busy
        self.cancel.disabled = not (busy and cancellable)
        self.cancel.button_style = "warning" if busy and cancellable else ""

    # -- the run, in its own thread ------------------------------------------------------------
    def _work(self, run: _Run, previous: threading.Thread | None) -> None:
        try:
            self._execute(run, previous)
        finally:
            run.done.set()
            self._show_service()

    # -- the service line ------------------------------------------------------------------------
    def _refresh_service(self) -> None:
        """Read the server in a thread: one that does not answer takes seconds to say so."""
        threading.Thread(target=self._show_service, name="workbench-panel-service",
                         daemon=True).start()

    def _show_service(self) -> None:
        try:
            server = self.wb.server()
        except Exception as error:  # noqa: BLE001 - a status line must never fail the panel
            self.service.value = _service("unknown", f"service: {type(error).__name__}: "
                                                     f"{error}")
            return
        self.service.value = "" if server is None else _service(
            "served" if server.reachable else "unreachable", server.summary())

    def _execute(self, run: _Run, previous: threading.Thread | None) -> None:
        try:
            if previous is not None and previous.is_alive():
                self._show(run, status=_status("running", f"{run.label} · waiting for the "
                                                          f"cancelled run to stop…"))
                previous.join()
            result = self.wb.run(sources=run.sources, select=run.select,
                                 full_refresh=run.full_refresh, trigger="panel",
                                 listeners=[lambda event: self._on_event(run, event)],
                                 cancel=run.cancel)
        except RunCancelled:
            run.stop()
            self._show(run, status=_status(
                "cancelled", f"{run.label} · stopped after {run.finished()} of "
                             f"{len(run.rows)} nodes; recorded in wb.history() as cancelled, "
                             f"and the next run builds what this one loaded"),
                       table=True, idle=True)
            return
        except Exception as error:  # noqa: BLE001 - the panel shows every failure as data
            message = f"{type(error).__name__}: {error}"
            self._show(run, status=_status("error", f"{run.label} · {message}"),
                       table=bool(run.rows), idle=True)
            return
        run.settle(result)
        late = "(cancelled too late: it had finished) " if run.cancel.cancelled else ""
        word = "finished" if result.ok else "failed"
        elapsed = time.monotonic() - run.started       # with Prefect's and dbt's start
        self._show(run, status=_status(word, f"{late}{result.summary()} · {elapsed:.0f}s "
                                             f"in all"),
                   result=result, idle=True)

    def _on_event(self, run: _Run, event: RunEvent) -> None:
        """Called by the run, from its threads, as it plans, starts and finishes work."""
        run.apply(event)
        if not run.cancel.cancelled:
            self._show(run, status=_status("running", run.line()), table=True)

    def _tick(self, run: _Run) -> None:
        """Refresh the elapsed time every second until the run ends: before any node
        finishes the line names what the run waits for, so a slow start never looks stuck."""
        while not run.done.wait(_TICK):
            if run.cancel.cancelled:
                return
            self._show(run, status=_status("running", run.line()))

    def _show(self, run: _Run, *, status: str, table: bool = False,
              result: RunResult | None = None, idle: bool = False) -> None:
        """Update the widgets, if ``run`` is still the one this panel shows. The live node
        table becomes the result: once ``result`` is shown the table is cleared, so the run is
        summed up once (a run that ended without a result keeps its table). The writes happen
        under the lock, so a tick that read "still running" cannot overwrite the last word."""
        with self._lock:
            current = self._run is run
            if current and idle:
                self._run = None
            # a cancelled run may still say how it ended, unless a newer run owns the panel
            if not current and not (run.cancel.cancelled and self._run is None):
                return
            if result is not None:
                self.progress.value = ""
                # the HTML widget's line height suits one line of controls, not a table
                self.result.value = (f"<div style='line-height:1.5'>{result._repr_html_()}"
                                     f"</div>")
                self._result = result
            elif table:
                self.progress.value = _table(run)
            self.status.value = status
            if idle and current:
                self._busy(False)

    # -- display -------------------------------------------------------------------------------
    def _repr_mimebundle_(self, **kwargs):
        """The widget, plus what it shows now as static HTML and text (title, status, node
        table, result; no buttons), for exports, GitHub and viewers without widget state."""
        data = super()._repr_mimebundle_(**kwargs)
        root = self.wb.config.root
        lines = [self.status.value, self.service.value]
        data["text/html"] = _static_html([_title(root.name, str(root)), *lines,
                                          self.progress.value, self.result.value])
        shown = self._result
        data["text/plain"] = _static_text([f"Workbench panel · {root.name} ({root})", *lines,
                                           "" if shown is None else repr(shown)])
        return data

    def _last_run(self) -> str:
        try:
            if self.wb.config.published.exists():
                with self.wb.warehouse.reading() as con:
                    summary = ledger.last_run_summary(con)
                if summary:
                    return f"last run: {summary}"
        except Exception:  # noqa: BLE001 - a status line must never fail the display
            return "last run: unknown"
        return "no run yet"

    def __repr__(self) -> str:
        return f"WorkbenchPanel(root={str(self.wb.config.root)!r})"
