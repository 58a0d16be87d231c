"""Prefect's log lines that repeat, worse, what the workbench already says.

When a task or flow raises one of our own errors (a bad landing file, the write lock held
past ``lock_timeout``), Prefect logs it at ERROR, the flow with a traceback, before the
workbench reports the same failure once, in its own words: the node's message, or the CLI's
one line. Those Prefect records are dropped; any other exception keeps Prefect's log (and
its traceback), and the task or flow's state in the Prefect UI still says Failed, with the
message.
"""

from __future__ import annotations

import logging
import re

from . import errors

_LOGGERS = ("prefect.task_runs", "prefect.flow_runs")
_OURS = re.compile(r"\b(?:%s)\b" % "|".join(errors.__all__))


class _DropOurFailures(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.ERROR:
            return True
        if record.exc_info and isinstance(record.exc_info[1], errors.WorkbenchError):
            return False
        message = record.getMessage()
        return not (("exception" in message or "Failed(" in message) and _OURS.search(message))


_FILTER = _DropOurFailures()


def quiet_known_failures() -> None:
    """Install the filter on Prefect's task-run and flow-run loggers (idempotent)."""
    for name in _LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
