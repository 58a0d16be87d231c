"""The workbench's own log lines in the Prefect UI, and Prefect's chatter kept out.

A flow run's logs in the UI are what an operator reads first. Prefect sends its own
loggers there; ``route_to_prefect()`` adds the ``workbench`` logger, at INFO, through
Prefect's API handler, but only for records made inside a flow or task run (outside one
there is no run to attach them to). Prefect's own lines stay at ``PREFECT_LOGGING_LEVEL``
(WARNING, ``environment.QUIET``) and the HTTP client's request lines at WARNING, so serve's
output is the workbench's. Flow-run processes started by serve inherit
``PREFECT_LOGGING_EXTRA_LOGGERS=workbench``; ``service.flows`` calls this at import too.
"""

from __future__ import annotations

import logging
import os

LOGGER = "workbench"


class _InRuns(logging.Filter):
    """Passes records made inside a Prefect flow or task run."""

    def filter(self, record: logging.LogRecord) -> bool:
        from prefect.context import FlowRunContext, TaskRunContext

        return FlowRunContext.get() is not None or TaskRunContext.get() is not None


def quiet_prefect() -> None:
    """Before Prefect is imported: flow-run processes send the workbench's lines to the API
    and say nothing about records made outside a run; HTTP request lines off."""
    os.environ.setdefault("PREFECT_LOGGING_EXTRA_LOGGERS", LOGGER)
    os.environ.setdefault("PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW", "ignore")
    for chatty in ("httpx", "httpcore", "uvicorn.access"):
        logging.getLogger(chatty).setLevel(logging.WARNING)


def route_to_prefect() -> None:
    """The ``workbench`` logger at INFO, and to Prefect's API inside runs (once)."""
    from prefect.logging.handlers import APILogHandler

    logger = logging.getLogger(LOGGER)
    if logger.level == logging.NOTSET or logger.level > logging.INFO:
        logger.setLevel(logging.INFO)
    handlers = [h for h in logger.handlers if isinstance(h, APILogHandler)]
    if not handlers:
        handlers = [APILogHandler()]
        logger.addHandler(handlers[0])
    for handler in handlers:
        if not any(isinstance(f, _InRuns) for f in handler.filters):
            handler.addFilter(_InRuns())
