"""With PREFECT_API_URL set, the same run reports to that Prefect server.

The test starts a real ``prefect server`` on 127.0.0.1 with its own home and database, runs
``workbench run`` against it, reads the flow and task runs back from the server's API, and
stops the server whatever happens.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx

BIN = Path(sys.executable).parent


def test_run_reports_its_flow_and_named_tasks_to_the_server(project, prefect_server, tmp_path):
    env = {**os.environ, "PREFECT_API_URL": prefect_server,
           "PREFECT_HOME": str(tmp_path / "client-home")}

    done = subprocess.run([str(BIN / "workbench"), "run"], cwd=project, env=env,
                          capture_output=True, text=True, timeout=1200)

    assert done.returncode == 0, done.stdout + done.stderr
    flows = httpx.post(f"{prefect_server}/flow_runs/filter", json={}, timeout=10).json()
    assert [f["state_type"] for f in flows] == ["COMPLETED"]
    tasks = httpx.post(f"{prefect_server}/task_runs/filter", json={}, timeout=10).json()
    names = {t["name"] for t in tasks}
    assert {"load users", "load events", "load community_messages", "load invoices"} <= names
    assert any(name.startswith("dbt build") for name in names)
    assert all(t["state_type"] == "COMPLETED" for t in tasks)
