"""Workbench: local files -> DuckDB -> dbt -> pandas, orchestrated by Prefect.

    >>> from workbench import Workbench
    >>> wb = Workbench()            # finds workbench.toml from the working directory
    >>> result = wb.run()           # loads what changed, builds what is stale
    >>> df = wb.table("user_engagement")

In Jupyter, ``%load_ext workbench`` adds the ``%%sql`` magic.

Importing the package imports neither Prefect, dbt, IPython nor scikit-learn: each is
imported where it is first needed, so a CLI call or a flow-run process pays only for what it
uses (``benchmarks/imports.py`` measures it).
"""

from .api import Workbench
from .catalogue import Catalogue
from .errors import (
    ConfigError,
    ReportFailed,
    RunCancelled,
    RunFailed,
    SourceError,
    TableNotFoundError,
    WarehouseBusyError,
    WorkbenchError,
)
from .executors import Executor, InlineExecutor
from .pipeline import RunRequest
from .progress import CancelToken
from .report import ReportResult
from .results import NodeResult, RunResult
from .run_plan import RunPlan
from .steps import StepContext, StepReport
from .warehouse import TableInfo

__all__ = [
    "CancelToken",
    "Catalogue",
    "ConfigError",
    "Executor",
    "InlineExecutor",
    "NodeResult",
    "ReportFailed",
    "ReportResult",
    "RunCancelled",
    "RunFailed",
    "RunPlan",
    "RunRequest",
    "RunResult",
    "SourceError",
    "StepContext",
    "StepReport",
    "TableInfo",
    "TableNotFoundError",
    "WarehouseBusyError",
    "Workbench",
    "WorkbenchError",
    "load_ipython_extension",
]
__version__ = "0.1.0"


def load_ipython_extension(ipython) -> None:
    """``%load_ext workbench``: adds the ``%%sql`` magic (IPython is imported only now)."""
    from .magic import load_ipython_extension as load

    load(ipython)
