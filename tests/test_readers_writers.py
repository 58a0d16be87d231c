"""A reader (a notebook kernel) and writers (runs from a terminal) in separate processes.

Readers use the published snapshot, writers take turns on the writers' file: no process
fails on DuckDB's file lock, and a reader sees either the old or the new build, never one
in between.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from helpers import write_events

from workbench import Workbench

READER = """
import json, sys, time
from pathlib import Path
from workbench import Workbench

root, out = Path(sys.argv[1]), Path(sys.argv[2])
wb = Workbench(root)
seen, errors = [], []
while not (root / "stop").exists():
    try:
        # One query, so one snapshot: two calls could straddle a publish.
        row = wb.sql("select (select count(*) from raw.events) as events, "
                     "(select sum(events) from user_engagement) as engaged").iloc[0]
        seen.append([int(row["events"]), int(row["engaged"])])
    except Exception as exc:
        errors.append(f"{type(exc).__name__}: {exc}")
    (root / "reading").touch()
out.write_text(json.dumps({"seen": seen, "errors": errors}))
"""


@pytest.fixture
def loaded(built_project, tmp_path) -> Path:
    root = tmp_path / "copy"
    shutil.copytree(built_project, root)
    return root


def wait_for(path: Path, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} did not appear"
        time.sleep(0.05)


def test_reader_process_never_blocks_a_run_nor_sees_a_half_built_table(loaded, tmp_path):
    wb = Workbench(loaded)
    before = (len(wb.table("raw.events")), int(wb.table("user_engagement")["events"].sum()))
    user = int(wb.table("stg_users")["user_id"][0])
    write_events(loaded, "2026-11.parquet", [(30_000_000 + i, user, "sql_cells")
                                             for i in range(50)])
    script, out = tmp_path / "reader.py", tmp_path / "seen.json"
    script.write_text(READER)
    reader = subprocess.Popen([sys.executable, str(script), str(loaded), str(out)])
    try:
        wait_for(loaded / "reading")
        result = wb.run()
        for _ in range(2):      # the second full read began after the publish: it sees it
            (loaded / "reading").unlink()
            wait_for(loaded / "reading")
    finally:
        (loaded / "stop").touch()
        reader.wait(timeout=300)

    assert result.ok, result
    after = (before[0] + 50, before[1] + 50)
    observed = json.loads(out.read_text())
    assert observed["errors"] == []
    assert {tuple(s) for s in observed["seen"]} <= {before, after}
    assert tuple(observed["seen"][-1]) == after
    assert len(observed["seen"]) > 5


def test_concurrent_terminal_runs_take_turns_while_a_notebook_reads(loaded):
    wb = Workbench(loaded)                  # the "notebook": holds a Workbench, keeps reading
    before = len(wb.table("raw.events"))
    user = int(wb.table("stg_users")["user_id"][0])
    write_events(loaded, "2026-11.parquet", [(40_000_000 + i, user, "alerts")
                                             for i in range(20)])
    errors: list[str] = []
    stop = threading.Event()

    def read_continuously() -> None:
        while not stop.is_set():
            try:
                wb.table("user_engagement")
            except Exception as exc:  # noqa: BLE001 - any failure is what we look for
                errors.append(repr(exc))

    reader = threading.Thread(target=read_continuously)
    reader.start()
    cli = [str(Path(sys.executable).parent / "workbench"), "--project", str(loaded), "run"]
    try:
        runs = [subprocess.Popen(cli, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 text=True) for _ in range(2)]
        outputs = [run.communicate(timeout=1200)[0] for run in runs]
    finally:
        stop.set()
        reader.join()

    assert [run.returncode for run in runs] == [0, 0], outputs
    assert errors == []
    assert len(wb.table("raw.events")) == before + 20    # loaded once, not twice
    assert sum("dbt skipped" in output for output in outputs) == 1, outputs


def test_a_notebook_that_ran_the_pipeline_does_not_block_a_terminal_run(loaded):
    wb = Workbench(loaded)                  # this process plays the notebook kernel
    user = int(wb.table("stg_users")["user_id"][0])
    write_events(loaded, "2026-11.parquet", [(60_000_000 + i, user, "alerts")
                                             for i in range(5)])
    assert wb.run().ok                      # dbt ran in this process; the kernel lives on
    write_events(loaded, "2026-12.parquet", [(61_000_000 + i, user, "alerts")
                                             for i in range(5)])

    done = subprocess.run([str(Path(sys.executable).parent / "workbench"), "--project",
                           str(loaded), "run"], capture_output=True, text=True, timeout=1200)

    assert done.returncode == 0, done.stdout + done.stderr
    assert wb.sql("select count(*) as n from raw.events where _source_file = ?",
                  ["events/2026-12.parquet"])["n"][0] == 5
