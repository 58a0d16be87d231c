"""Live progress of a run in Jupyter: one output that updates as nodes finish.

In a headless report the same output is saved in its final state; outside a kernel there is
no display and the CLI prints its own lines.
"""

from __future__ import annotations

from collections.abc import Callable
from html import escape

from .html import badge

_LATEST = 8     # most recent nodes listed while running


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
    handle = display(HTML("<i>workbench: starting run (the first run of a kernel also "
                          "starts Prefect, a few seconds)…</i>"), display_id=True)
    finished: list = []

    def on_node(node) -> None:
        finished.append(node)
        failed = sum(n.failed for n in finished)
        recent = "".join(f"<div>{badge(n.status)} {escape(n.kind)} {escape(n.name)}</div>"
                         for n in finished[-_LATEST:])
        handle.update(HTML(f"<div><b>workbench: running</b> &middot; {len(finished)} nodes "
                           f"done, {failed} failed{recent}</div>"))

    def on_done(result) -> None:
        handle.update(HTML(f"<div>workbench: {escape(result.summary())}</div>"))

    return on_node, on_done
