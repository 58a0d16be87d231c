"""``workbench serve``: files arrive, sources load, each source's downstream is rebuilt.

End to end, with nothing faked: a real Prefect server on 127.0.0.1 (started by the test, its
own home and database). The warm path serves in a thread of the test process, as
``wb.serve(stop=...)`` would in a notebook; the work-pool path runs ``workbench serve
--pool`` and two ``prefect worker`` processes. The tests drop new landing files the way a
person would and wait, reading only the published warehouse, until the marts show them.
Every process and thread is stopped whatever happens.
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

from conftest import make_project
from helpers import edit_config, post, read_invoices_with, write_events

from workbench import Workbench
from workbench.executors import InlineExecutor
from workbench.service import serve

PYTHON = sys.executable
DEADLINE = 600.0     # seconds from a file's arrival to its rebuilt marts (a busy machine)


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


SLOW_READER = """
import os, time
from pathlib import Path

def read(con, path, options, types=None):
    # DuckDB's CSV reader; a "late-export" file is held until the test releases it:
    # a finance export that takes as long as the test needs it to.
    if "late-export" in path:
        release = Path(os.environ["WORKBENCH_TEST_RELEASE"])
        deadline = time.monotonic() + 300
        while not release.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
    return con.read_csv(path, **({"dtype": types} if types else {}))
"""


def _served_project(tmp_path: Path, prefect_server: str, prepare=None):
    """A project (changed by ``prepare(root)`` first) built once, in a subprocess, as a
    person would, and the environment to serve it with: the test's Prefect server, a client
    home of its own."""
    root = make_project(tmp_path / "project")
    if prepare is not None:
        prepare(root)
    env = {**os.environ, "PREFECT_API_URL": prefect_server,
           "PREFECT_HOME": str(tmp_path / "client-home"),
           "WORKBENCH_TEST_RELEASE": str(tmp_path / "release")}
    built = subprocess.run(
        [PYTHON, "-c", "import sys; from workbench import Workbench; "
                       "Workbench(sys.argv[1]).run().raise_for_failures()", str(root)],
        env=env, capture_output=True, text=True, timeout=1200)
    assert built.returncode == 0, built.stdout + built.stderr
    return root, env


def _start(command: list[str], env: dict, log: Path, cwd: Path | None = None):
    with log.open("w") as out:
        return subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, cwd=cwd)


def _drop_new_month(root: Path, user: int) -> None:
    """A new month of community messages and of product events, written as a person would:
    the watcher must wait until each file is complete."""
    messages = root / "data" / "landing" / "community_messages" / "2026-11.jsonl"
    messages.write_text(json.dumps({
        "message_id": "svc-1", "channel": "help", "user_id": user,
        "ts": "2026-11-02T10:00:00", "thread_id": None,
        "text": "How do I schedule a dashboard export every morning?"}) + "\n")
    write_events(root, "2026-11.parquet", [(70_000_000 + i, user, "sql_cells") for i in range(7)])


def _marts_show_new_month(root: Path, events_before: int):
    def check() -> bool:
        questions = _query(root, "select count(*) from community_questions "
                                 "where message_id = 'svc-1'")
        events = _query(root, "select sum(events) from user_engagement")
        return questions == 1 and int(events) == events_before + 7
    return check


def _flow_runs(api: str) -> list[dict]:
    return post(f"{api}/flow_runs/filter", {}).json()


def _wait_completed(api: str, expected: set[str], log: Path) -> set[str]:
    """The names of completed flow runs, once they include ``expected`` (a mart is
    published a moment before the flow run that built it reports back)."""
    def completed() -> set[str]:
        names = {f["name"] for f in _flow_runs(api) if f["state_type"] == "COMPLETED"}
        return names if expected <= names else set()
    return _wait_for(completed, 60, f"flow runs {sorted(expected)} not completed", log)


def _print_timeline(flows: list[dict], since: float) -> None:
    for run in sorted(flows, key=lambda f: f["start_time"] or f["expected_start_time"] or ""):
        start, end = (_epoch(run[k]) - since if run[k] else float("nan")
                      for k in ("start_time", "end_time"))
        print(f"  {run['name']:<45} {start:6.1f}s -> {end:6.1f}s  {run['state_name']}")


def test_served_project_rebuilds_each_sources_marts_while_a_slow_source_loads(
        tmp_path, prefect_server, monkeypatch):
    """``serve`` in a thread of this process, as ``wb.serve(stop=...)`` in a notebook: each
    batch of arrivals is loaded and built in the warm process, as one flow run."""
    root = make_project(tmp_path / "project")
    read_invoices_with(root, "slow_reader.py", SLOW_READER)
    edit_config(root, (
        'primary_key = "user_id"\nwarn_after = "2d"\nerror_after = "7d"',
        'primary_key = "user_id"\nwarn_after = "1s"\nerror_after = "2s"'), (
        "[steps.classify_messages]",
        '[service]\nfreshness_every = "10s"\nnotify_to = "ops@example.com"\n\n'
        "[steps.classify_messages]"))
    Workbench(root).run(executor=InlineExecutor()).raise_for_failures()
    monkeypatch.setenv("WORKBENCH_TEST_RELEASE", str(tmp_path / "release"))
    user = int(_query(root, "select min(user_id) from user_engagement"))
    events_before = int(_query(root, "select sum(events) from user_engagement"))
    revenue_before = float(_query(root, "select sum(invoices) from revenue_by_month"))

    stop, ready, failed = threading.Event(), threading.Event(), []

    def serving() -> None:
        try:
            serve(root, api_url=prefect_server, stop=stop, ready=ready)
        except BaseException as error:      # noqa: BLE001 - reported by the test
            failed.append(error)
            ready.set()
    service = threading.Thread(target=serving, name="test-serve")
    service.start()
    try:
        assert ready.wait(600) and not failed, failed
        deployments = post(f"{prefect_server}/deployments/filter", {}).json()
        assert {d["name"] for d in deployments} == {f"{name}@project" for name in (
            "load-users", "load-events", "load-community_messages", "load-invoices",
            "build-downstream", "check-freshness", "answer-stale")}
        assert json.loads((root / ".workbench" / "service.json").read_text())[
            "api_url"] == prefect_server
        # Served on a built project: nothing was announced, so nothing loads.
        assert not [f for f in _flow_runs(prefect_server) if f["name"].startswith("load")]

        # Finance's export first, held by its reader: the marts of the others must not wait.
        invoices = root / "data" / "landing" / "invoices"
        late = (invoices / "2026-05.csv").read_text().replace("INV-", "LATE-")
        (invoices / "2026-11-late-export.csv").write_text(late)
        arrived, arrived_at = time.monotonic(), time.time()
        _drop_new_month(root, user)
        write_events(root, "2026-11-b.parquet",      # beside the first: one load for both
                     [(71_000_000 + i, user, "sql_cells") for i in range(3)])

        try:
            _wait_for(_marts_show_new_month(root, events_before + 3), DEADLINE,
                      "marts not rebuilt from the new files")
        finally:
            _print_timeline(_flow_runs(prefect_server), arrived_at)
        print(f"files to rebuilt marts: {time.monotonic() - arrived:.1f}s")
        # The invoices run is held in its reader until released: it may not have been
        # named and started yet on a busy machine, but it must show as running, not done.
        _wait_for(lambda: {f["name"]: f["state_type"] for f in _flow_runs(prefect_server)}
                  .get("load and build invoices") == "RUNNING", DEADLINE,
                  "the held invoices run never showed as running")
        assert float(_query(root, "select sum(invoices) from revenue_by_month")) \
            == revenue_before

        (tmp_path / "release").touch()
        _wait_for(lambda: float(_query(root, "select sum(invoices) from revenue_by_month"))
                  > revenue_before, DEADLINE, "invoices' mart not rebuilt once released")

        runs = Workbench(root).sql("select selection, status from _workbench.runs "
                                   "where trigger = 'service' order by started_at")
        assert sorted(runs["selection"]) == [       # one load-and-build per source
            "sources: community_messages", "sources: events", "sources: invoices"]
        assert set(runs["status"]) == {"success"}, runs

        # users went past its 2-second SLA: the scheduled check announced it, the automation
        # reloaded it (nothing new) and wrote an alert to the outbox, once.
        outbox = root / "data" / "outbox"

        def alerts() -> list[dict]:
            lines = [json.loads(line) for f in sorted(outbox.glob("*.jsonl"))
                     for line in f.read_text().splitlines()]
            return [m for m in lines if m["campaign"] == "stale-source"]
        _wait_for(alerts, DEADLINE, "no stale alert in the outbox")
        assert [(a["email"], a["subject"].split(":")[0]) for a in alerts()] == [
            ("ops@example.com", "[workbench] source users is stale")]
        expected = {"load and build events", "load and build community_messages",
                    "load and build invoices", "check freshness", "answer stale users",
                    "load users"}
        _wait_completed(prefect_server, expected, None)
        flows = _flow_runs(prefect_server)
        _print_timeline(flows, arrived_at)
        events_runs = [f for f in flows if f["name"] == "load and build events"]
        assert [sorted(f["parameters"]["files"]) for f in events_runs] == [
            ["events/2026-11-b.parquet", "events/2026-11.parquet"]]
        assert not [f for f in flows if f["name"].startswith("build downstream")]
        assert not [f for f in flows if f["state_type"] in ("FAILED", "CRASHED")]
        assert "users" in Workbench(root).freshness().late()
    finally:
        (tmp_path / "release").touch()
        stop.set()
        service.join(120)
    assert not service.is_alive() and not failed, failed
    assert not (root / ".workbench" / "service.json").exists()


def test_two_workers_on_a_process_pool_run_the_same_deployments(tmp_path, prefect_server):
    root, env = _served_project(tmp_path, prefect_server)
    env = {**env, "PREFECT_WORKER_QUERY_SECONDS": "1", "PREFECT_WORKER_PREFETCH_SECONDS": "1"}
    user = int(_query(root, "select min(user_id) from user_engagement"))
    events_before = int(_query(root, "select sum(events) from user_engagement"))
    workbench_cli = str(Path(PYTHON).with_name("workbench"))
    prefect_cli = str(Path(PYTHON).with_name("prefect"))

    processes = []
    serve_log = tmp_path / "serve.log"
    try:
        processes.append(_start([workbench_cli, "--project", str(root), "serve",
                                 "--pool", "workbench"], env, serve_log))
        _wait_for(lambda: "watching" in serve_log.read_text()
                  or processes[0].poll() is not None, 600, "serve did not start", serve_log)
        assert processes[0].poll() is None, serve_log.read_text()[-4000:]
        for n in (1, 2):
            processes.append(_start([prefect_cli, "worker", "start", "--pool", "workbench",
                                     "--name", f"worker-{n}"], env,
                                    tmp_path / f"worker-{n}.log", cwd=tmp_path))

        def workers() -> set[str]:
            found = post(f"{prefect_server}/work_pools/workbench/workers/filter", {}).json()
            return {w["name"] for w in found if w["status"] == "ONLINE"}
        _wait_for(lambda: workers() == {"worker-1", "worker-2"}, 90,
                  "two workers not online", tmp_path / "worker-2.log")

        arrived_at = time.time()
        _drop_new_month(root, user)
        _wait_for(_marts_show_new_month(root, events_before), DEADLINE,
                  "marts not rebuilt by the workers", serve_log)
        print(f"files to rebuilt marts (2 workers): {time.time() - arrived_at:.1f}s")

        _wait_completed(prefect_server, {
            "load events", "load community_messages", "build downstream of events",
            "build downstream of community_messages"}, serve_log)
        flows = [f for f in _flow_runs(prefect_server) if f["state_type"] == "COMPLETED"]
        _print_timeline(flows, arrived_at)
        assert {f["work_pool_name"] for f in flows if f["deployment_id"]} == {"workbench"}
        logs = "".join((tmp_path / f"worker-{n}.log").read_text() for n in (1, 2))
        assert "Traceback" not in logs, logs[-4000:]
    finally:
        for process in reversed(processes):
            _stop(process, signal.SIGINT)
    assert processes[0].returncode == 0, serve_log.read_text()[-4000:]


def test_a_load_of_one_source_never_imports_or_parses_dbt(project):
    """The load deployment's flow run (``select="loader:<name>"``) pays no dbt start-up."""
    done = subprocess.run([PYTHON, "-c", """
import sys
from workbench import Workbench
from workbench.executors import InlineExecutor
result = Workbench(sys.argv[1]).run(select="loader:events", executor=InlineExecutor())
result.raise_for_failures()
print(result.node("events").status, result.node("events").rows,
      sorted(m for m in sys.modules if m == "dbt" or m.startswith("dbt.")))
""", str(project)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    status, rows, imported = done.stdout.split(maxsplit=2)
    assert (status, int(rows) > 0, imported.strip()) == ("success", True, "[]")
