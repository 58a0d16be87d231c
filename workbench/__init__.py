"""Workbench: local files -> DuckDB -> dbt -> pandas, orchestrated by Prefect.

    >>> from workbench import Workbench
    >>> wb = Workbench()            # finds workbench.toml from the working directory
    >>> result = wb.run()           # loads what changed, builds what is stale
    >>> df = wb.table("user_engagement")
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
from .results import NodeResult, RunResult
from .steps import StepContext, StepReport
from .warehouse import TableInfo

__all__ = [
    "Catalogue",
    "ConfigError",
    "NodeResult",
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
]
__version__ = "0.1.0"
