"""The executor seam: *how* a run and each of its units of work are carried out.

``Pipeline.run`` decides *what* runs and in what order; an executor wraps the whole run (a
Prefect flow, or nothing) and each unit of work in it (a Prefect task, or a plain call)::

    pipeline.run(request, InlineExecutor())     # tests, benchmarks, a warm process: no Prefect
    pipeline.run(request, PrefectExecutor())    # the same run as the ``workbench-run`` flow

``PrefectExecutor`` lives in ``workbench.flows`` (Prefect stays at the edge); this module
imports neither Prefect nor dbt.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol, TypeVar

from .errors import WorkbenchError
from .progress import Work

if TYPE_CHECKING:
    from .results import NodeResult

T = TypeVar("T")
RETRY_DELAY_SECONDS = 1.0


class Executor(Protocol):
    """How a run and its units of work are carried out."""

    def warm_up(self) -> None:
        """Start anything slow (a server) in the background, before the run needs it."""

    def run(self, label: str, body: Callable[[], T]) -> T:
        """Carry out the whole run (``body``), named ``label`` for a person to read."""

    def execute(self, work: Work, function: Callable[[], list[NodeResult]]
                ) -> list[NodeResult]:
        """Carry out one unit of work; may retry it up to ``work.retries`` times (see
        ``retryable``). Called from the run's worker threads; raises what ``function``
        raised last."""


def retryable(error: BaseException) -> bool:
    """Worth another attempt: an I/O hiccup may pass, a bad file will be just as bad."""
    return not isinstance(error, WorkbenchError)


class InlineExecutor:
    """Plain calls in this process: no Prefect, no server, nothing to start."""

    def warm_up(self) -> None:
        pass

    def run(self, label: str, body: Callable[[], T]) -> T:
        return body()

    def execute(self, work: Work, function: Callable[[], list[NodeResult]]
                ) -> list[NodeResult]:
        attempt = 0
        while True:
            try:
                return function()
            except Exception as error:
                if attempt >= work.retries or not retryable(error):
                    raise
                attempt += 1
                time.sleep(RETRY_DELAY_SECONDS)

    def __repr__(self) -> str:
        return "InlineExecutor()"
