"""Workbench: local files -> DuckDB -> dbt -> pandas, orchestrated by Prefect.

    >>> from workbench import Workbench
    >>> wb = Workbench()            # finds workbench.toml from the working directory
    >>> result = wb.run()           # loads what changed, builds what is stale
    >>> df = wb.table("user_engagement")

In Jupyter, ``%load_ext workbench`` adds the ``%%sql`` magic.
"""

from .api import Workbench
from .catalogue import Catalogue
from .errors import (
    ConfigError,
    RunFailed,
    SourceError,
    TableNotFoundError,
    WarehouseBusyError,
    WorkbenchError,
)
from .magic import load_ipython_extension
from .report import ReportFailed, ReportResult
from .results import NodeResult, RunResult
from .steps import StepContext, StepReport
from .warehouse import TableInfo

__all__ = [
    "Catalogue",
    "ConfigError",
    "NodeResult",
    "ReportFailed",
    "ReportResult",
    "RunFailed",
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
