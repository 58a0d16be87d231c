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
                   "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
                   # As workbench.environment does: never a temporary server of Prefect's own.
                   "PREFECT_SERVER_EPHEMERAL_ENABLED": "false"})
# Every process the session starts inherits this marker, so that the session's end can find
# the servers it left (leftovers.py). Per process: an xdist worker marks its own.
os.environ["WORKBENCH_TEST_SESSION"] = f"{os.getpid()}-{os.urandom(4).hex()}"

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


LEFTOVER_DEADLINE = 120.0   # seconds for servers being stopped to exit on a busy machine


def pytest_sessionfinish(session, exitstatus):
    """No Prefect server outlives the session: stop the session's shared server, wait for
    every server process the session started to exit, kill and name those that do not, and
    fail the session for them."""
    from leftovers import kill, wait_until_gone

    from workbench.service import shared

    home = Path(os.environ["PREFECT_HOME"])
    try:
        shared.stop(home)
    except Exception as error:          # reported below with what it left
        print(f"\nthe session's shared Prefect server did not stop: {error}")
    left = wait_until_gone(LEFTOVER_DEADLINE, marker=os.environ["WORKBENCH_TEST_SESSION"])
    left += [p for p in wait_until_gone(0, home=home) if p not in left]
    if not left:
        return
    kill(left)
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    lines = [f"{len(left)} Prefect server process(es) left running by the tests (killed now):",
             *(f"  {process}" for process in left)]
    if reporter is not None:
        reporter.write_sep("=", "leftover servers", red=True)
        reporter.write_line("\n".join(lines))
    else:
        print("\n".join(lines))
    if session.exitstatus == 0:
        session.exitstatus = 1
