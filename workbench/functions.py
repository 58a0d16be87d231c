"""User functions named in workbench.toml: ``"package.module:function"`` or
``"path/file.py:function"`` (a file in the project).

Steps, actions and custom readers all name their code this way, and all are resolved here,
so each says the same thing when a name is wrong: the config section at fault and why.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import ConfigError

if TYPE_CHECKING:
    from .config import StepConfig
    from .steps import StepContext, StepReport


def import_function(reference: str, root: Path, *, where: str) -> Callable:
    """Import ``module:function``; a module path ending in .py is read from the project.

    Args:
        reference: ``"package.module:function"`` or ``"path/file.py:function"``.
        root: the project folder, which a ``.py`` path is relative to.
        where: the config section it came from (``"[steps.classify]"``), for messages.

    Raises ConfigError naming ``where`` and the reference if it cannot be imported.
    """
    module_name, _, attribute = reference.partition(":")
    if not attribute:
        raise ConfigError(f"{where} {reference!r}: write it as 'module:function' or "
                          f"'file.py:function'", reference=reference)
    try:
        module = (_project_module(root / module_name) if module_name.endswith(".py")
                  else importlib.import_module(module_name))
        return getattr(module, attribute)
    except (ImportError, FileNotFoundError, AttributeError) as exc:
        raise ConfigError(f"{where}: cannot load {reference!r}: {exc}",
                          reference=reference) from exc


def _project_module(file: Path):
    """One module per file and version: two projects' "reader.py" never mix, and a file
    edited in a notebook session is read again."""
    path = file.resolve()
    if not path.is_file():
        raise FileNotFoundError(path)
    version = hashlib.sha1(f"{path}\0{path.stat().st_mtime_ns}".encode()).hexdigest()
    unique = f"workbench_project_{path.stem}_{version[:12]}"
    module = sys.modules.get(unique)
    if module is None:
        spec = importlib.util.spec_from_file_location(unique, path)
        if spec is None:
            raise FileNotFoundError(path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[unique] = module
        spec.loader.exec_module(module)
    return module


def resolve_function(spec: StepConfig, root: Path) -> Callable[[StepContext], StepReport | None]:
    """A step's or action's function, as its ``function = "..."`` names it."""
    return import_function(spec.function, root, where=f"[{spec.kind}s.{spec.name}]")
