"""``workbench serve --pool`` under a SIGKILL (issue 15): serve, its worker and the flow-run
process of a load killed at once, as a crash of the machine would, then everything started
again. The load's run is left "running" in Prefect, holding its deployment's one slot; the
restarted serve's catch-up finds it silent (no heartbeat), marks it Crashed and runs the
work again. Real Prefect server and process worker, DuckDB and dbt.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from helpers import post, write_events
from operator_kit import (DEADLINE, HOLD_READER, caught_up, events_total, project_copy,
                          start_serve, stop_with, wait_for)


def _worker(env: dict, log: Path, cwd: Path) -> subprocess.Popen:
    prefect = str(Path(sys.executable).with_name("prefect"))
    with log.open("a") as out:
        return subprocess.Popen([prefect, "worker", "start", "--pool", "workbench"], env=env,
                                stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, cwd=cwd)


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def test_serve_and_worker_killed_during_a_load_on_a_pool_catch_up_when_restarted(
        built_project, tmp_path, prefect_server):
    """Slow (about 4 min on 2 busy cores): two starts of serve and a worker, and the
    ``pooled.SILENT`` seconds (90) a killed run needs to count as dead."""
    root = project_copy(built_project, tmp_path, "pool-kill", (
        'path = "events/*.parquet"\nformat = "parquet"',
        'path = "events/*.parquet"\nreader = "hold_reader.py:read"'))
    (root / "hold_reader.py").write_text(HOLD_READER)
    hold = tmp_path / "hold"
    hold.mkdir()
    env = {**os.environ, "PREFECT_API_URL": prefect_server, "WORKBENCH_TEST_HOLD": str(hold),
           "PREFECT_HOME": str(tmp_path / "client-home"),
           "PREFECT_WORKER_QUERY_SECONDS": "1", "PREFECT_WORKER_PREFETCH_SECONDS": "1"}
    serve_log, worker_log = tmp_path / "serve.log", tmp_path / "worker.log"
    events = events_total(root)
    started = []
    try:
        started += [start_serve(root, env, serve_log, "--pool", "workbench"),
                    _worker(env, worker_log, tmp_path)]
        write_events(root, "2026-11-held.parquet", [(82_000_000 + i, 1, "sql_cells")
                                                     for i in range(5)])
        flow_run = int(wait_for(lambda: (hold / "reached-load").exists()
                                and (hold / "reached-load").read_text(), DEADLINE,
                                "load not reached", worker_log))
        for process in started:
            process.kill()
            process.wait(30)
        _kill(flow_run)
        (hold / "release-load").touch()

        started += [start_serve(root, env, serve_log, "--pool", "workbench"),
                    _worker(env, worker_log, tmp_path)]
        caught_up(root, events + 5, serve_log)
        crashed = [f for f in post(f"{prefect_server}/flow_runs/filter", {}).json()
                   if f["name"] == "load events" and f["state_type"] == "CRASHED"]
        assert len(crashed) == 1 and "no heartbeat" in crashed[0]["state"]["message"], crashed
    finally:
        (hold / "release-load").touch()
        for process in started:
            if process.poll() is None:
                stop_with(process, signal.SIGINT)
