"""Process environment the workbench needs before Prefect or dbt is imported.

Prefect reads its settings when it is first imported, so these defaults are applied by
``prepare()`` at the top of every entry point (``Workbench()``, the CLI, tests' conftest).
Values already in the environment always win.
"""

from __future__ import annotations

import gc
import importlib
import importlib.util
import os
import sys
import types
import warnings
from pathlib import Path

TELEMETRY_OFF = {
    "DO_NOT_TRACK": "1",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
}
QUIET = {
    # Prefect's INFO lines ("Created task run ...") drown a notebook; we report progress
    # ourselves. Set PREFECT_LOGGING_LEVEL=INFO to see them.
    "PREFECT_LOGGING_LEVEL": "WARNING",
    # Runs report to PREFECT_API_URL or the project's shared server (service/shared.py),
    # never to a temporary server Prefect would start by itself, one per process, that a
    # kill or a slow start leaves running: anything reaching Prefect outside a run fails.
    "PREFECT_SERVER_EPHEMERAL_ENABLED": "false",
}


def prepare(state_dir: Path) -> None:
    """Turn telemetry off and give Prefect a home inside the project, never ``~/.prefect``."""
    for key, value in {**TELEMETRY_OFF, **QUIET}.items():
        os.environ.setdefault(key, value)
    home = str(state_dir / "prefect")
    if "PREFECT_HOME" not in os.environ:
        if "prefect" in sys.modules:
            warnings.warn("prefect was imported before the workbench set PREFECT_HOME; it "
                          "will use its own default home", stacklevel=3)
        os.environ["PREFECT_HOME"] = home
    Path(os.environ["PREFECT_HOME"]).mkdir(parents=True, exist_ok=True)
    defer_iri_grammar()


def defer_iri_grammar(name: str = "rfc3987_syntax") -> None:
    """Import ``rfc3987_syntax`` when an IRI is first checked, not at start-up.

    jsonschema, which Prefect and dbt both import, imports it for its "iri" format
    checker, and it compiles a Lark grammar as it is imported: 1.4-2.2 s of every fresh
    process (a ``workbench run``, a kernel's first run) for a format nothing on the
    workbench's path checks. A stand-in module takes its place until one of its names is
    used, then imports the real one, so behaviour is unchanged. Nothing happens when the
    module is missing or already imported.
    """
    spec = None if name in sys.modules else importlib.util.find_spec(name)
    if spec is None:
        return
    stand_in = types.ModuleType(name, "imported on first use (workbench/environment.py)")
    stand_in.__spec__ = spec

    def real() -> types.ModuleType:
        if sys.modules.get(name) is stand_in:
            del sys.modules[name]
        return importlib.import_module(name)

    def is_valid_syntax(*args, **kwargs):       # jsonschema binds this name at import
        return real().is_valid_syntax(*args, **kwargs)

    def any_other(attribute: str):
        if attribute.startswith("__"):          # the import system probing: not a use
            raise AttributeError(attribute)
        return getattr(real(), attribute)

    stand_in.is_valid_syntax = is_valid_syntax
    stand_in.__getattr__ = any_other
    sys.modules[name] = stand_in


def has_prefect_server() -> bool:
    """True when ``PREFECT_API_URL`` names the server runs report to; it always wins over
    the Prefect home's shared local server (``service/shared.py``)."""
    return bool(os.environ.get("PREFECT_API_URL"))


_frozen = False


def freeze_long_lived() -> None:
    """Once per process, after its first run: move what is alive then (the modules of
    Prefect, dbt, pandas and pydantic, dbt's manifest; about 400,000 objects) out of the
    garbage collector's sight (``gc.freeze``).

    Otherwise every full collection walks them all again: about 0.25 s, landing in every
    other run of a warm kernel's edit loop (``benchmarks/loop.py``), and in the user's own
    code too. With them frozen, a full collection takes 0.01-0.04 s. A frozen object is
    freed by reference counting only, never as part of a cycle; most of what is frozen
    (modules) lives as long as the process anyway. So this is done once, not after every
    run: a re-parsed manifest's garbage stays collectable."""
    global _frozen
    if not _frozen:
        _frozen = True
        gc.freeze()
