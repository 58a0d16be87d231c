"""Python steps and actions: the parts of the graph dbt cannot see.

A **step** sits between dbt layers: it reads dbt models and writes one table in the ``steps``
schema, which downstream dbt models read as ``source('steps', '<table>')``, so dbt's lineage
stays whole. An **action** runs after dbt: it reads marts and does something outside the
warehouse (sends messages, writes exports). Both are declared in ``workbench.toml``::

    [steps.classify_messages]
    function = "workbench.community:classify_messages"   # module:function, or file.py:function
    inputs = ["stg_community_messages"]                   # dbt models it reads
    output = "message_labels"                             # table steps.message_labels
    [steps.classify_messages.options]                     # handed to the function as ctx.options
    backend = "sklearn"

    [actions.personalized_messages]
    function = "workbench.community:personalized_messages"
    inputs = ["recommendation_candidates"]

The function takes a ``StepContext`` and returns a ``StepReport`` (or None). A step runs in
one transaction: if it raises, its table stays as it was. An action's connection commits as
it goes, because what it did outside (a sent e-mail) cannot be rolled back: it must record
its own progress (see ``workbench.community.delivery``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any


# Declared with the rest of the configuration, resolved with every other user function;
# importable from here as before.
from .config import StepConfig
from .functions import import_function, resolve_function

if TYPE_CHECKING:
    import duckdb

__all__ = ["STEPS_SCHEMA", "StepConfig", "StepContext", "StepReport", "import_function",
           "resolve_function"]

STEPS_SCHEMA = "steps"


@dataclass
class StepContext:
    """What a step or action function gets."""

    name: str
    run_id: str
    con: duckdb.DuckDBPyConnection          # read-write, inside the run's write lock
    options: Mapping[str, Any]
    inputs: dict[str, str]                  # input name -> quoted "schema"."table"
    output: str | None                      # quoted "steps"."table" (steps only)
    root: Path                              # the project folder
    version: str = "1"
    dry_run: bool = False
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("workbench.steps"))


@dataclass(frozen=True)
class StepReport:
    """What a step or action did, for the run result."""

    rows: int | None = None
    message: str | None = None
    metrics: dict[str, float | int] = field(default_factory=dict)   # calls, cache_hits, ...
    frame: Any = None      # dry runs: a pandas DataFrame of what would be done
