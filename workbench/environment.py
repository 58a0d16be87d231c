"""Process environment the workbench needs before Prefect or dbt is imported.

Prefect reads its settings when it is first imported, so these defaults are applied by
``prepare()`` at the top of every entry point (``Workbench()``, the CLI, tests' conftest).
Values already in the environment always win.
"""

from __future__ import annotations

import os
import sys
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


def has_prefect_server() -> bool:
    """True when ``PREFECT_API_URL`` names the server runs report to; it always wins over
    the Prefect home's shared local server (``service/shared.py``)."""
    return bool(os.environ.get("PREFECT_API_URL"))
