"""``workbench serve``: files arrive, sources load, each source's downstream is rebuilt.

End to end, with nothing faked: a real Prefect server on 127.0.0.1 (started by the test, its
own home and database), the project built once by ``workbench run`` in a subprocess, then
``serve`` in another subprocess. The test drops new landing files the way a person would and
waits, reading only the published warehouse, until the marts show them. Every process is
stopped whatever happens.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
from conftest import make_project
from helpers import write_events

from workbench import Workbench
from workbench.config import load_config
from workbench.watch import LandingWatcher

PYTHON = sys.executable
DEADLINE = 120.0     # seconds from a file's arrival to its rebuilt marts


def _stop(process: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    if process.poll() is not None:
        return
    process.send_signal(sig)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def _wait_for(check, timeout: float, what: str, log: Path | None = None):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            tail = log.read_text()[-4000:] if log and log.exists() else ""
            raise AssertionError(f"{what}: not within {timeout:.0f}s\n{tail}")
        time.sleep(0.5)


def _epoch(iso: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def _query(root: Path, sql: str, params=None):
    return Workbench(root).sql(sql, params).iloc[0, 0]


def test_served_project_rebuilds_each_sources_marts_when_its_files_arrive(
        tmp_path, prefect_server):
    root = make_project(tmp_path / "project")
    env = {**os.environ, "PREFECT_API_URL": prefect_server,
           "PREFECT_HOME": str(tmp_path / "client-home")}
    built = subprocess.run(
        [PYTHON, "-c", "import sys; from workbench import Workbench; "
                       "Workbench(sys.argv[1]).run().raise_for_failures()", str(root)],
        env=env, capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stdout + built.stderr
    user = int(_query(root, "select min(user_id) from user_engagement"))
    events_before = int(_query(root, "select sum(events) from user_engagement"))

    log = tmp_path / "serve.log"
    with log.open("w") as out:
        service = subprocess.Popen(
            [PYTHON, "-c", "import sys; from workbench.service import serve; "
                           "serve(sys.argv[1])", str(root)],
            env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        _wait_for(lambda: "watching" in log.read_text() or service.poll() is not None,
                  120, "serve did not start", log)
        assert service.poll() is None, log.read_text()[-4000:]
        deployments = httpx.post(f"{prefect_server}/deployments/filter", json={},
                                 timeout=10).json()
        assert {d["name"] for d in deployments} == {
            "load-users", "load-events", "load-community_messages", "load-invoices",
            "build-downstream"}

        # A new month of community messages and of product events, written as a person
        # would: the watcher must wait until each file is complete.
        arrived, arrived_at = time.monotonic(), time.time()
        messages = root / "data" / "landing" / "community_messages" / "2026-11.jsonl"
        messages.write_text(json.dumps({
            "message_id": "svc-1", "channel": "help", "user_id": user,
            "ts": "2026-11-02T10:00:00", "thread_id": None,
            "text": "How do I schedule a dashboard export every morning?"}) + "\n")
        write_events(root, "2026-11.parquet",
                     [(70_000_000 + i, user, "sql_cells") for i in range(7)])

        def marts_rebuilt() -> bool:
            questions = _query(root, "select count(*) from community_questions "
                                     "where message_id = 'svc-1'")
            events = _query(root, "select sum(events) from user_engagement")
            return questions == 1 and int(events) == events_before + 7

        _wait_for(marts_rebuilt, DEADLINE, "marts not rebuilt from the new files", log)
        seconds = time.monotonic() - arrived
        print(f"files to rebuilt marts: {seconds:.1f}s")

        runs = Workbench(root).sql("select selection, status from _workbench.runs "
                                   "where trigger = 'service' order by started_at")
        selections = list(runs["selection"])
        assert "source:events" in selections and "source:community_messages" in selections
        assert "sources: events" in selections
        assert "sources: community_messages" in selections
        assert set(runs["status"]) == {"success"}, runs
        flows = httpx.post(f"{prefect_server}/flow_runs/filter", json={}, timeout=10).json()
        names = {f["name"] for f in flows}
        for run in sorted(flows, key=lambda f: f["start_time"] or ""):
            if run["start_time"] and run["end_time"]:
                start, end = (_epoch(run[k]) - arrived_at for k in ("start_time", "end_time"))
                print(f"  {run['name']:<45} {start:6.1f}s -> {end:6.1f}s")
        assert {"load events", "load community_messages", "build downstream of events",
                "build downstream of community_messages"} <= names, names
        assert not any(n in names for n in ("load users", "load invoices"))
    finally:
        _stop(service, signal.SIGINT)
    assert service.returncode == 0, log.read_text()[-4000:]


def test_watcher_reports_each_complete_file_once(tmp_path):
    root = make_project(tmp_path / "project", data=False)
    landing = root / "data" / "landing"
    for name in ("events", "users"):
        (landing / name).mkdir(parents=True)
    arrivals = []
    watcher = LandingWatcher(load_config(root), arrivals.append, interval=0.05,
                             known={("users", "users/old.csv"): (3, 0)})
    old = landing / "users" / "old.csv"
    old.write_text("a\n1")
    os.utime(old, ns=(0, 0))
    (landing / "events" / ".hidden.parquet").write_bytes(b"x")
    (landing / "events" / "2026-11.parquet.part").write_bytes(b"x")
    growing = landing / "events" / "2026-11.parquet"
    growing.write_bytes(b"x")

    watcher.poll()
    growing.write_bytes(b"xx")          # still being written
    watcher.poll()
    watcher.poll()
    assert arrivals == []               # not yet unchanged for two polls
    watcher.poll()
    assert [(a.source, a.relative, a.size) for a in arrivals] == [
        ("events", "events/2026-11.parquet", 2)]
    for _ in range(3):
        watcher.poll()
    assert len(arrivals) == 1           # once per (path, size, mtime)

    growing.write_bytes(b"xxx")         # changed later: reported again
    for _ in range(3):
        watcher.poll()
    assert [a.size for a in arrivals] == [2, 3]

    stop = threading.Event()
    thread = threading.Thread(target=watcher.run, args=(stop,))
    thread.start()
    (landing / "users" / "new.csv").write_text("a\n1\n")
    _wait_for(lambda: len(arrivals) == 3, 10, "threaded watcher missed a file")
    stop.set()
    thread.join(5)
    assert not thread.is_alive()
    assert arrivals[-1].relative == "users/new.csv"
