"""With PREFECT_API_URL set, the same run reports to that Prefect server.

The test starts a real ``prefect server`` on 127.0.0.1 with its own home and database, runs
``workbench run`` against it, reads the flow and task runs back from the server's API, and
stops the server whatever happens.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def prefect_server(tmp_path):
    port = free_port()
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "server-home"),
           "PREFECT_UI_ENABLED": "false", "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    env.pop("PREFECT_API_URL", None)
    server = subprocess.Popen(
        [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/api"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, "prefect server exited at start-up"
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "prefect server did not start in 120 s"
            time.sleep(0.5)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()


def test_run_reports_its_flow_and_named_tasks_to_the_server(project, prefect_server, tmp_path):
    env = {**os.environ, "PREFECT_API_URL": prefect_server,
           "PREFECT_HOME": str(tmp_path / "client-home")}

    done = subprocess.run([str(BIN / "workbench"), "run"], cwd=project, env=env,
                          capture_output=True, text=True, timeout=300)

    assert done.returncode == 0, done.stdout + done.stderr
    flows = httpx.post(f"{prefect_server}/flow_runs/filter", json={}, timeout=10).json()
    assert [f["state_type"] for f in flows] == ["COMPLETED"]
    tasks = httpx.post(f"{prefect_server}/task_runs/filter", json={}, timeout=10).json()
    names = {t["name"] for t in tasks}
    assert {"load users", "load events", "load community_messages", "load invoices"} <= names
    assert any(name.startswith("dbt build") for name in names)
    assert all(t["state_type"] == "COMPLETED" for t in tasks)
