"""A project's runs share one local Prefect server: started by the first run, found by the
next process, replaced when stale, stopped when told or idle.

Every test here uses a Prefect home of its own (not the session's), so that it knows who
started which server, and stops what it started whatever happens. Server starts get
generous deadlines: a first start migrates a database, slow on two busy cores.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import post

from workbench.errors import ServiceError
from workbench.service import shared
from workbench.service.record import alive

WORKBENCH = str(Path(sys.executable).parent / "workbench")
DEADLINE = 300.0    # seconds for a server to start or stop itself on a busy machine


def cli(*args: str, cwd: Path, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([WORKBENCH, *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=1200)


def environment(home: Path | None, **extra: str) -> dict[str, str]:
    """The session's environment with another Prefect home (None: the project's own)."""
    env = {**os.environ, **extra}
    env.pop("PREFECT_API_URL", None)
    if home is None:
        env.pop("PREFECT_HOME", None)
    else:
        env["PREFECT_HOME"] = str(home)
    return env


def wait_for(condition, what: str, deadline: float = DEADLINE) -> None:
    end = time.monotonic() + deadline
    while not condition():
        if time.monotonic() > end:
            raise AssertionError(f"not within {deadline:.0f}s: {what}")
        time.sleep(0.5)


@pytest.fixture
def home(tmp_path):
    """A Prefect home of the test's own; its shared server is stopped after the test."""
    where = tmp_path / "prefect-home"
    where.mkdir()
    yield where
    shared.stop(where)


def test_a_second_process_reports_to_the_server_the_first_started(project, home):
    env = environment(home)

    first = cli("run", cwd=project, env=env)

    assert first.returncode == 0, first.stdout + first.stderr
    assert "starting the project's Prefect server" in first.stdout
    started = shared.find(home)
    assert started is not None, (home / shared.LOG).read_text()

    second = cli("run", cwd=project, env=env)       # nothing new: a no-op run, still a flow

    assert second.returncode == 0, second.stdout + second.stderr
    assert "starting the project's Prefect server" not in second.stdout
    assert shared.find(home) == started             # same server, same supervisor
    flows = post(f"{started.url}/flow_runs/filter", {}).json()
    assert [f["state_type"] for f in flows] == ["COMPLETED", "COMPLETED"]

    stopped = cli("server", "stop", cwd=project, env=env)

    assert stopped.returncode == 0 and started.url in stopped.stdout, stopped.stderr
    assert not (home / shared.RECORD).exists()
    wait_for(lambda: not alive(started.pid) and not alive(started.server_pid),
             "the supervisor and the server exit")
    assert "no Prefect server running" in cli("server", "status", cwd=project, env=env).stdout


START = """
import json, sys
from pathlib import Path
from workbench.service import shared
server = shared.ensure(Path(sys.argv[1]))
print(json.dumps({"url": server.url, "pid": server.pid}))
"""


def test_a_stale_record_is_replaced_by_one_server_for_two_processes_at_once(home):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    (home / shared.RECORD).write_text(json.dumps({
        "url": "http://127.0.0.1:9/api", "pid": int(dead.stdout), "server_pid": None,
        "port": 9, "started": "2026-01-01T00:00:00+00:00", "idle_seconds": None}))

    starters = [subprocess.Popen([sys.executable, "-c", START, str(home)],
                                 env=environment(home), stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True) for _ in range(2)]
    said = [starter.communicate(timeout=DEADLINE + 120) for starter in starters]

    assert all(starter.returncode == 0 for starter in starters), said
    first, second = (json.loads(out.strip().splitlines()[-1]) for out, _ in said)
    assert first == second                       # one server, found by both
    assert first["pid"] != int(dead.stdout) and first["url"] != "http://127.0.0.1:9/api"
    assert shared.find(home).url == first["url"]


def test_the_server_stops_itself_after_the_projects_idle_time(project):
    config = project / "workbench.toml"
    config.write_text(config.read_text() + '\n[service]\nserver_idle = "3s"\n')
    env = environment(None)                      # the project's own .workbench/prefect
    env.pop(shared.IDLE_VARIABLE, None)
    own_home = project / ".workbench" / "prefect"
    try:
        started = cli("server", "start", cwd=project, env=env)

        assert started.returncode == 0, started.stdout + started.stderr
        assert "stops after 3s without a flow run" in started.stdout
        record = shared.read(own_home)
        assert record is not None and alive(record.pid)
        wait_for(lambda: not (own_home / shared.RECORD).exists(), "the record goes")
        wait_for(lambda: not alive(record.pid) and not alive(record.server_pid),
                 "the supervisor and the server exit")
        assert "stopping: idle for 3s" in (own_home / shared.LOG).read_text()
    finally:
        shared.stop(own_home)


def test_a_server_that_will_not_start_is_an_error_naming_its_log(home, monkeypatch):
    # A database Prefect cannot open: the server exits during start-up.
    monkeypatch.setenv("PREFECT_SERVER_DATABASE_CONNECTION_URL",
                       f"sqlite+aiosqlite:///{home / 'missing' / 'folder' / 'prefect.db'}")

    with pytest.raises(ServiceError) as raised:
        shared.ensure(home, timeout=DEADLINE)

    assert str(home / shared.LOG) in str(raised.value)
    assert raised.value.log == home / shared.LOG
    assert "did not start" in str(raised.value)
    assert shared.read(home) is None


def test_port_in_use_is_read_from_the_servers_log(tmp_path):
    from workbench.service.server import port_in_use

    log = tmp_path / "server.log"
    log.write_text("old start: [Errno 98] address already in use\n")
    offset = log.stat().st_size
    with open(log, "a") as file:
        file.write("INFO: Started server process\n")

    assert port_in_use(log) and not port_in_use(log, offset)


def test_a_start_begun_ahead_is_waited_for_and_its_failure_raised_once(home, monkeypatch):
    # What `wb.run()` does before importing Prefect: the start runs beside the imports, and
    # the flow's own ensure() waits for it and reports its error (never a second start).
    monkeypatch.setenv("PREFECT_HOME", str(home))
    monkeypatch.setenv("PREFECT_SERVER_DATABASE_CONNECTION_URL",
                       f"sqlite+aiosqlite:///{home / 'missing' / 'folder' / 'prefect.db'}")

    shared.ensure_ahead()
    with pytest.raises(ServiceError) as raised:
        shared.ensure(home, timeout=DEADLINE)

    assert "did not start" in str(raised.value)
    assert shared.read(home) is None
    assert shared._ahead is None                 # consumed: the next run looks afresh
