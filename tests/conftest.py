"""Test fixtures: each test gets its own project copy, DuckDB file and data.

Prefect gets a home of its own for the whole session (never ~/.prefect) and no server URL,
so every run of the session, in this process or in the CLI, kernel and report processes it
starts, reports to that home's one shared local server (``workbench.service.shared``),
started by the first run and stopped when the session ends.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

# Before anything imports prefect: its settings are read at import.
os.environ["PREFECT_HOME"] = tempfile.mkdtemp(prefix="workbench-tests-prefect-")
atexit.register(shutil.rmtree, os.environ["PREFECT_HOME"], ignore_errors=True)


# A session killed before its clean-up leaves its server behind for half an hour at most.
os.environ["WORKBENCH_SERVER_IDLE"] = "30m"


@atexit.register        # registered after rmtree, so it runs before: stop, then delete
def _stop_the_sessions_shared_server(home: Path = Path(os.environ["PREFECT_HOME"])) -> None:
    from workbench.service import shared

    shared.stop(home)


os.environ.pop("PREFECT_API_URL", None)
os.environ.update({"DO_NOT_TRACK": "1", "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                   "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"})

import pytest  # noqa: E402

from workbench import demo  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
SMALL = 0.02   # 2,000 events, 20 users: enough for every model and test to mean something


def make_project(dest: Path, *, scale: float = SMALL, data: bool = True) -> Path:
    """Copy the repo's project (config, dbt, notebooks) to ``dest`` with fresh sample data."""
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "workbench.toml", dest)
    shutil.copytree(REPO / "dbt", dest / "dbt",
                    ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
    if (REPO / "notebooks").is_dir():
        shutil.copytree(REPO / "notebooks", dest / "notebooks",
                        ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    if data:
        demo.generate(dest, scale=scale)
    return dest


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A fresh project with sample data and no warehouse yet."""
    return make_project(tmp_path / "project")


@pytest.fixture
def prefect_server(tmp_path):
    """A real Prefect server on 127.0.0.1 with its own home; its API URL. Stopped after."""
    from workbench.service import LocalPrefectServer

    server = LocalPrefectServer(tmp_path / "server-home")
    try:
        yield server.start(timeout=300)
    finally:
        server.stop()


@pytest.fixture(scope="session")
def built_project(tmp_path_factory) -> Path:
    """A project after one successful run. Read-only: tests must not change it."""
    from workbench import Workbench

    root = make_project(tmp_path_factory.mktemp("built") / "project")
    Workbench(root).run().raise_for_failures()
    return root
