"""Live progress of ``wb.run()`` in Jupyter: one output that is the run's node table while it
runs and becomes the run's result when it ends.

Until a node finishes, the output names what the run is doing and for how long ("starting
the project's Prefect server · 4s", "reading the dbt project · 2s"), from the run's
``RunPhase`` events and ``service.shared.current_phase()``, refreshed every second so a slow
first run never looks frozen. Then the table shows every node the run may touch, as the
panel does (queued, running, done, failed, skipped, up to date). When the run returns, the
same output turns into the RunResult's display, and the result is not shown a second time
if the cell also ends with it (``result = wb.run(); result``). If the cell fails instead (a
server that would not start, a cancel), the output says that the run stopped and why.

In a headless report the output is saved in its final state; outside a kernel there is no
display and the CLI prints its own lines. Every state of the output is a plain ``text/html``
and ``text/plain`` bundle, no widget: exports and text-only viewers show it as it ended (the
result's table and its ``repr``), never a widget repr.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from ..progress import RunEvent, RunPhase
from .panel_view import _Run, _status, _table

_TICK = 1.0         # seconds between refreshes of the elapsed time
_shown: dict[str, int] = {}     # run id -> the cell (execution count) whose output became it


def notebook_progress() -> tuple[Callable[[RunEvent], None], Callable] | None:
    """``(listener, on_done)`` updating one display, or None outside a Jupyter kernel."""
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:
        return None
    shell = get_ipython()
    if shell is None or not hasattr(shell, "kernel"):
        return None
    live = _LiveProgress(shell)
    live.handle = display(live.bundle(), raw=True, display_id=True)
    return live.listen, live.on_done


def shown_live(result) -> bool:
    """Whether ``result`` is already on screen in the running cell, as its live output."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and _shown.get(result.run_id) == shell.execution_count


class _LiveProgress:
    """One display handle, updated by the run's events and, for a run on the cell's thread,
    by a one-second ticker that ends with the run, or with the cell if it raised."""

    def __init__(self, shell) -> None:
        self.shell, self.handle = shell, None
        self.run = _Run("wb.run()", None, None, False)
        self.phase: tuple[str, float] | None = None     # what the run does, since when
        self.ended = threading.Event()
        self.lock = threading.Lock()
        if threading.current_thread() is threading.main_thread():   # the cell's own run:
            shell.events.register("post_run_cell", self._cell_ended)  # it ends with the cell
            threading.Thread(target=self._tick, name="workbench-progress", daemon=True).start()

    def listen(self, event: RunEvent) -> None:
        if isinstance(event, RunPhase):
            self.phase = (event.what, time.monotonic())
        else:
            self.run.apply(event)
        self._show()

    def on_done(self, result) -> None:
        _shown[result.run_id] = self.shell.execution_count
        self._end({"text/html": result._repr_html_(), "text/plain": repr(result)})

    def bundle(self) -> dict[str, str]:
        """The output while the run goes on: the HTML below, and its status line as text."""
        return {"text/html": self.html(), "text/plain": f"wb.run() running · {self.line()}"}

    def html(self) -> str:
        """The status line (what runs, for how long) and, once planned, the node table."""
        return (f"<div class='workbench-live'>{_status('running', self.line())}"
                + (_table(self.run) if self.run.rows else "") + "</div>")

    def line(self) -> str:
        """Counts once a node has finished; until then what the run waits for, and since
        when."""
        if self.run.finished():
            return self.run.line()
        return f"{self._waiting()} · {time.monotonic() - self.run.started:.0f}s in all"

    def _waiting(self) -> str | None:
        """What nothing-finished-yet is waiting for: the server start, else the run's phase."""
        from ..service.shared import current_phase

        server = current_phase()
        if server is not None:
            return f"{server.what} · {server.elapsed:.0f}s"
        if self.run.rows:
            running = [r.name for r in self.run.rows.values() if r.state == "running"]
            if running:
                more = f" +{len(running) - 1}" if len(running) > 1 else ""
                return f"running {running[0]}{more}"
        if self.phase is not None:
            what, since = self.phase
            return f"{what} · {time.monotonic() - since:.0f}s"
        return "starting"

    def _tick(self) -> None:
        while not self.ended.wait(_TICK):
            self._show()

    def _show(self) -> None:
        with self.lock:
            if self.ended.is_set() or self.handle is None:
                return
            self.handle.update(self.bundle(), raw=True)

    def _end(self, bundle: dict[str, str]) -> None:
        with self.lock:
            if self.ended.is_set():
                return
            self.ended.set()
            if self.handle is not None:
                self.handle.update(bundle, raw=True)
        try:
            self.shell.events.unregister("post_run_cell", self._cell_ended)
        except ValueError:
            pass

    def _cell_ended(self, result=None) -> None:
        """The cell ended without ``on_done``: the run raised; say so with what it did."""
        error = getattr(result, "error_in_exec", None)
        why = f": {type(error).__name__}: {error}" if error else ""
        elapsed = time.monotonic() - self.run.started
        self.run.stop()
        state = "cancelled" if type(error).__name__ == "RunCancelled" else "error"
        said = f"the run stopped after {elapsed:.0f}s{why}"
        self._end({"text/html": f"<div class='workbench-live'>{_status(state, said)}"
                                + (_table(self.run) if self.run.rows else "") + "</div>",
                   "text/plain": f"wb.run() {state} · {said}"})
