"""Prefect servers the workbench starts are always stopped, except the project's shared one.

Real servers, real processes, no mocks: a start that times out (a timeout of a second or two
stands in for a busy machine) leaves no process behind, and says so in one line; a
``workbench run`` killed with SIGKILL leaves only the shared server, which ``workbench server
stop`` ends. Processes are found in /proc by their Prefect home (``leftovers.py``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from leftovers import server_processes, wait_until_gone

from workbench.errors import ServiceError
from workbench.service import LocalPrefectServer, shared

WORKBENCH = str(Path(sys.executable).parent / "workbench")
DEADLINE = 300.0        # seconds for a server to start or stop on a busy machine


@pytest.fixture
def home(tmp_path):
    """A Prefect home of the test's own; anything still running under it is stopped after."""
    where = tmp_path / "prefect-home"
    where.mkdir()
    yield where
    shared.stop(where)


def environment(home: Path, **extra: str) -> dict[str, str]:
    env = {**os.environ, "PREFECT_HOME": str(home), **extra}
    env.pop("PREFECT_API_URL", None)
    return env


def test_a_local_server_that_does_not_answer_in_time_is_stopped(home):
    server = LocalPrefectServer(home)

    with pytest.raises(ServiceError, match="did not answer in 1s and was stopped"):
        server.start(timeout=1)

    assert server.process.poll() is not None
    assert server_processes(home=home) == []


def test_a_shared_start_that_times_out_leaves_no_process(home):
    with pytest.raises(ServiceError, match="did not answer within 2s and was stopped") as raised:
        shared.ensure(home, timeout=2)

    assert shared.TIMEOUT_VARIABLE in str(raised.value)
    assert wait_until_gone(DEADLINE, home=home) == []
    assert shared.read(home) is None


def test_a_run_whose_server_start_times_out_says_so_in_one_line_and_leaves_nothing(
        project, home):
    done = subprocess.run([WORKBENCH, "run"], cwd=project, capture_output=True, text=True,
                          timeout=1200,
                          env=environment(home, **{shared.TIMEOUT_VARIABLE: "1"}))

    assert done.returncode != 0
    errors = [line for line in done.stderr.splitlines() if line.strip()]
    assert "Traceback" not in done.stderr, done.stderr
    assert len(errors) == 1 and "did not answer within 1s and was stopped" in errors[0], errors
    assert wait_until_gone(DEADLINE, home=home) == []


def test_a_killed_run_leaves_only_the_shared_server_which_server_stop_ends(project, home):
    env = environment(home)
    run = subprocess.Popen([WORKBENCH, "run"], cwd=project, env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        end = time.monotonic() + DEADLINE
        while shared.find(home) is None:
            assert run.poll() is None, "the run ended before its server started"
            assert time.monotonic() < end, "the shared server did not start"
            time.sleep(0.5)
        time.sleep(2)                   # into the run's flow
    finally:
        run.send_signal(signal.SIGKILL)
        run.wait()

    kept = shared.find(home)
    assert kept is not None
    assert {p.pid for p in server_processes(home=home)} == {kept.pid, kept.server_pid}

    stopped = subprocess.run([WORKBENCH, "server", "stop"], cwd=project, env=env,
                             capture_output=True, text=True, timeout=600)

    assert stopped.returncode == 0 and kept.url in stopped.stdout, stopped.stderr
    assert wait_until_gone(DEADLINE, home=home) == []
