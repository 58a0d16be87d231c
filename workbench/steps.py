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

import hashlib
import importlib
import importlib.util
import logging
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import duckdb

from .errors import ConfigError

STEPS_SCHEMA = "steps"


@dataclass(frozen=True)
class StepConfig:
    """A step or an action as declared in workbench.toml."""

    name: str
    kind: str                       # "step" or "action"
    function: str                   # "package.module:function" or "path/file.py:function"
    inputs: tuple[str, ...]         # dbt model names (or other steps' outputs)
    output: str | None = None       # steps only: the table written in schema `steps`
    options: dict[str, Any] = field(default_factory=dict)
    version: str = "1"              # bump to invalidate caches keyed on the step's logic


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


def resolve_function(spec: StepConfig, root: Path) -> Callable[[StepContext], StepReport | None]:
    """The step's function (see ``import_function``)."""
    return import_function(spec.function, root, where=f"[{spec.kind}s.{spec.name}]")


def import_function(reference: str, root: Path, *, where: str) -> Callable:
    """Import ``module:function``; a module path ending in .py is read from the project."""
    module_name, _, attribute = reference.partition(":")
    if not attribute:
        raise ConfigError(f"{where} {reference!r}: write it as 'module:function' or "
                          f"'file.py:function'", reference=reference)
    try:
        if module_name.endswith(".py"):
            path = (root / module_name).resolve()
            if not path.is_file():
                raise FileNotFoundError(path)
            # One module per file and version: two projects' "reader.py" never mix, and a
            # file edited in a notebook session is read again.
            version = hashlib.sha1(f"{path}\0{path.stat().st_mtime_ns}".encode()).hexdigest()
            unique = f"workbench_project_{path.stem}_{version[:12]}"
            module = sys.modules.get(unique)
            if module is None:
                loader_spec = importlib.util.spec_from_file_location(unique, path)
                if loader_spec is None:
                    raise FileNotFoundError(path)
                module = importlib.util.module_from_spec(loader_spec)
                sys.modules[unique] = module
                loader_spec.loader.exec_module(module)
        else:
            module = importlib.import_module(module_name)
        return getattr(module, attribute)
    except (ImportError, FileNotFoundError, AttributeError) as exc:
        raise ConfigError(f"{where}: cannot load {reference!r}: {exc}",
                          reference=reference) from exc
