"""Errors meant for a person, shown in a notebook as their message, without our frames.

A ``TableNotFoundError`` already says what went wrong and what to try ("Did you mean
'user_engagement'?"); three frames of the workbench's internals above it only bury that.
``short_tracebacks()`` registers an IPython custom exception handler (``set_custom_exc``)
for ``WorkbenchError``: the cell fails as before (a report stops there, ``ename`` and
``evalue`` are the same) but shows one line. Errors that are bugs rather than messages
(``WarehouseUsageError``, and every non-workbench exception) keep their full traceback.
``Workbench()`` in a kernel and ``%load_ext workbench`` register it.
"""

from __future__ import annotations

from ..errors import WarehouseUsageError, WorkbenchError

_RED, _RESET = "\x1b[0;31m", "\x1b[0m"


def short_tracebacks(shell=None) -> bool:
    """Show WorkbenchErrors as one message in this IPython shell; False outside IPython."""
    if shell is None:
        try:
            from IPython import get_ipython
        except ImportError:
            return False
        shell = get_ipython()
    if shell is None:
        return False
    if WorkbenchError not in shell.custom_exceptions:
        shell.set_custom_exc((*shell.custom_exceptions, WorkbenchError), _show)
    return True


def _show(shell, etype, value, tb, tb_offset=None):
    """IPython's custom exception handler: the message alone for an error meant for users."""
    if not isinstance(value, WarehouseUsageError):
        value._render_traceback_ = lambda: [f"{_RED}{etype.__name__}{_RESET}: {value}"]
    shell.showtraceback((etype, value, tb), tb_offset=tb_offset)
