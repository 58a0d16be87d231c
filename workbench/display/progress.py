"""Live progress of a run in Jupyter: one output that updates as the run goes.

Until the first node finishes it names what the run waits for and for how long ("starting
the project's Prefect server… 4s", else Prefect's import and dbt's parse), refreshed every
second, so a slow first run never looks frozen. Then it lists the latest nodes; at the end,
the summary. If the cell fails instead (a server that would not start), the output says
that the run stopped and why, in one line.

In a headless report the same output is saved in its final state; outside a kernel there is
no display and the CLI prints its own lines.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from html import escape

from .html import badge

_LATEST = 8         # most recent nodes listed while running
_TICK = 1.0         # seconds between refreshes of the elapsed time


def notebook_progress() -> tuple[Callable, Callable] | None:
    """``(on_node, on_done)`` callbacks updating one display, or None outside Jupyter."""
    try:
        from IPython import get_ipython
        from IPython.display import HTML, display
    except ImportError:
        return None
    shell = get_ipython()
    if shell is None or not hasattr(shell, "kernel"):
        return None
    live = _LiveProgress(shell, display(HTML(_waiting(0.0)), display_id=True), HTML)
    return live.on_node, live.on_done


class _LiveProgress:
    """One display handle, updated by the run's callbacks and, for a run on the cell's
    thread, by a one-second ticker that ends with the run, or with the cell if it raised."""

    def __init__(self, shell, handle, html: type) -> None:
        self.shell, self.handle, self.html = shell, handle, html
        self.started = time.monotonic()
        self.finished: list = []
        self.ended = threading.Event()
        self.lock = threading.Lock()
        if threading.current_thread() is threading.main_thread():   # the cell's own run:
            shell.events.register("post_run_cell", self._cell_ended)  # it ends with the cell
            threading.Thread(target=self._tick, name="workbench-progress", daemon=True).start()

    def on_node(self, node) -> None:
        with self.lock:
            self.finished.append(node)
        self._show()

    def on_done(self, result) -> None:
        self._end(f"<div>workbench: {escape(result.summary())}</div>")

    def _tick(self) -> None:
        while not self.ended.wait(_TICK):
            self._show()

    def _show(self) -> None:
        elapsed = time.monotonic() - self.started
        with self.lock:
            if self.ended.is_set():
                return
            finished = list(self.finished)
            if not finished:
                text = _waiting(elapsed)
            else:
                failed = sum(n.failed for n in finished)
                recent = "".join(f"<div>{badge(n.status)} {escape(n.kind)} {escape(n.name)}"
                                 f"</div>" for n in finished[-_LATEST:])
                text = (f"<div><b>workbench: running</b> &middot; {len(finished)} nodes done, "
                        f"{failed} failed &middot; {elapsed:.0f}s{recent}</div>")
            self.handle.update(self.html(text))

    def _end(self, text: str) -> None:
        with self.lock:
            if self.ended.is_set():
                return
            self.ended.set()
            self.handle.update(self.html(text))
        try:
            self.shell.events.unregister("post_run_cell", self._cell_ended)
        except ValueError:
            pass

    def _cell_ended(self, result=None) -> None:
        """The cell ended without ``on_done``: the run raised; say so here, in one line."""
        error = getattr(result, "error_in_exec", None)
        why = f": {escape(type(error).__name__)}: {escape(str(error))}" if error else ""
        self._end(f"<div>workbench: the run stopped after "
                  f"{time.monotonic() - self.started:.0f}s{why}</div>")


def _waiting(elapsed: float) -> str:
    from ..service.shared import current_phase

    phase = current_phase()
    if phase is not None:
        return f"<i>workbench: {escape(phase.what)}… {phase.elapsed:.0f}s</i>"
    return (f"<i>workbench: starting the run (importing Prefect, reading the dbt project)… "
            f"{elapsed:.0f}s</i>")
