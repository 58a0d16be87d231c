"""A failed load or build of ``workbench serve`` reaches the operator (issue 15): an alert
through the channel of staleness alerts (``[service] notify``, the outbox here), once per
failure; bad input is never tried again, a transient error is tried ``warm.ATTEMPTS`` times
first. Real serve (in a thread), Prefect server, DuckDB and dbt; the transient error is the
real one of a warehouse whose write lock another process keeps past ``lock_timeout``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from helpers import post, write_events
from operator_kit import DEADLINE, caught_up, events_total, project_copy, serving, wait_for

from workbench.service.warm import ATTEMPTS

# Another process's run, as far as the warehouse can tell: its write lock, held until told.
LOCKER = """
import sys, time
from pathlib import Path
from filelock import FileLock

path, held, release = sys.argv[1:]
lock = FileLock(path, thread_local=False)       # kept: a lock collected is a lock released
lock.acquire()
Path(held).touch()
while not Path(release).exists():
    time.sleep(0.2)
"""


def _alerts(root: Path) -> list[dict]:
    """The failed-run alerts in the project's outbox, in the order they were written."""
    found = []
    for file in sorted((root / "data" / "outbox").glob("outbox-*.jsonl"),
                       key=lambda f: f.stat().st_mtime_ns):
        found += [m for m in map(json.loads, file.read_text().splitlines())
                  if m["campaign"] == "failed-run"]
    return found


def _failed_runs(api: str, root: Path) -> int:
    return len([f for f in post(f"{api}/flow_runs/filter", {}).json()
                if f["name"] == "load and build events" and f["state_type"] == "FAILED"
                and f["parameters"].get("root") == str(root)])


def test_a_failed_load_alerts_at_once_for_bad_input_and_after_its_retries_when_transient(
        built_project, tmp_path, prefect_server):
    """About 2 min on 2 busy cores: one serve session, a corrupt file (one run, one alert;
    the operator removes it), then a warehouse kept locked (``ATTEMPTS`` runs, one alert),
    then the lock let go: the catch-up loads the good file with no further alert."""
    root = project_copy(built_project, tmp_path, "alerts", (
        'landing = "data/landing"', 'landing = "data/landing"\nlock_timeout = 2'))
    held, release = tmp_path / "held", tmp_path / "release"
    events = events_total(root)
    locker = None
    with serving(root, prefect_server):
        corrupt = root / "data" / "landing" / "events" / "2026-11-bad.parquet"
        corrupt.write_bytes(b"PAR1 this is not a parquet file")
        bad = wait_for(lambda: _alerts(root), DEADLINE, "no alert for the corrupt file")
        assert bad[0]["subject"] == "[workbench] load and build of source events failed"
        assert "2026-11-bad.parquet" in bad[0]["body"], bad[0]["body"]
        assert _failed_runs(prefect_server, root) == 1          # bad input: not tried again
        corrupt.unlink()                # as the alert says: the source waits for it

        locker = subprocess.Popen([sys.executable, "-c", LOCKER,
                                   str(root / "data" / "warehouse.duckdb.lock"), str(held),
                                   str(release)])
        try:
            wait_for(held.exists, 120, "the lock was not taken")
            write_events(root, "2026-11.parquet", [(96_000_000, 1, "sql_cells"),
                                                   (96_000_001, 1, "sql_cells")])
            busy = wait_for(lambda: _alerts(root)[1:], DEADLINE, "no alert for the busy lock")
            assert "WarehouseBusyError" in busy[0]["body"], busy[0]["body"]
            assert _failed_runs(prefect_server, root) == 1 + ATTEMPTS
        finally:
            release.touch()
            locker.wait(60)
        caught_up(root, events + 2)            # the catch-up after the failure loads it
    assert len(_alerts(root)) == 2, _alerts(root)
