"""``workbench serve`` under faults, as an operator meets them (issue 15).

Each test ends the same way: every mart current (``catchup.pending`` finds no file left to
load and no source whose data is newer than its last build, and the marts show the new
rows) and every landed file loaded once (one "loaded" record per file in the ledger, no
duplicate event ids in the raw table). Nothing is faked: a real Prefect server on 127.0.0.1
(one for the module), real DuckDB and dbt; the 503s come from a real HTTP proxy in front of
that server. Serve runs in a subprocess only where the test kills it; elsewhere in a thread.

A load is held in place by a reader of the test's own (it waits for a file the test
creates), a build by a mart model whose query runs for as long as another file exists (its
pre-hook says when dbt is inside it), so a signal lands at a known stage without a race
against the clock.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from helpers import post, write_events
from operator_kit import (DEADLINE, HOLD_READER, caught_up, current, events_total,
                          project_copy, serving, start_serve, stop_with, wait_for)

from workbench import Workbench
from workbench.config import load_config

# A mart model that stays in DuckDB while the test asks for it (the file hold-build exists):
# the cross join runs forever then, and is empty (instant) otherwise. Its pre-hook writes the
# hold's name to reached-model.csv first, so the test knows dbt is inside this model.
HOLD_MODEL = """
{{{{ config(materialized="table", pre_hook="copy (select file from glob('{hold}/hold-build'))
    to '{hold}/reached-model.csv' (header false)") }}}}
select count(*) as users, max(s.n) as held
from {{{{ ref("user_engagement") }}}}
cross join (select count(*) as n from glob('{hold}/hold-build'), range(1000000) a,
            range(1000000) b) s
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """One real Prefect server for the module's tests (each project has its own name)."""
    from workbench.service import LocalPrefectServer

    running = LocalPrefectServer(tmp_path_factory.mktemp("operator-server"))
    try:
        yield running.start(timeout=300)
    finally:
        running.stop()


def _workbench_logs(api: str, root: Path) -> list[dict]:
    runs = [f["id"] for f in post(f"{api}/flow_runs/filter", {}).json()
            if f["parameters"].get("root") == str(root)]
    found = post(f"{api}/logs/filter", {"logs": {"flow_run_id": {"any_": runs}},
                                        "limit": 200}).json()
    return [line for line in found
            if line["name"].startswith("workbench.") and line["level"] == 20]


@pytest.mark.parametrize("number", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_serve_stopped_during_a_load_and_during_a_build_catches_up_when_restarted(
        built_project, tmp_path, server, number):
    """Slow (about 2 min on 2 busy cores): three starts of ``workbench serve`` in a
    subprocess, because only a process can be killed. A signal during a load (reader held),
    a restart, a signal while dbt runs a model (the model held in DuckDB), a restart: each
    restart finds the work left in the ledger and does it."""
    root = project_copy(built_project, tmp_path, f"kill-{number.name.lower()}", (
        'path = "events/*.parquet"\nformat = "parquet"',
        'path = "events/*.parquet"\nreader = "hold_reader.py:read"'))
    (root / "hold_reader.py").write_text(HOLD_READER)
    hold = tmp_path / "hold"
    hold.mkdir()
    (root / "dbt" / "models" / "marts" / "held_engagement.sql").write_text(
        HOLD_MODEL.format(hold=hold))
    Workbench(root).run().raise_for_failures()      # the new model, built once
    env = {**os.environ, "PREFECT_API_URL": server, "WORKBENCH_TEST_HOLD": str(hold),
           "PREFECT_HOME": str(tmp_path / "client-home")}
    log = tmp_path / "serve.log"
    events = events_total(root)
    process = start_serve(root, env, log)
    try:
        write_events(root, "2026-11-held.parquet", [(80_000_000 + i, 1, "sql_cells")
                                                     for i in range(5)])
        wait_for((hold / "reached-load").exists, DEADLINE, "load not reached", log)
        stop_with(process, number)
        print(f"{number.name} at load: left {current(root)}")
        (hold / "release-load").touch()

        process = start_serve(root, env, log)
        caught_up(root, events + 5, log)

        (hold / "reached-model.csv").unlink(missing_ok=True)
        (hold / "hold-build").touch()
        write_events(root, "2026-12.parquet", [(81_000_000 + i, 1, "sql_cells")
                                               for i in range(3)])
        wait_for(lambda: (hold / "reached-model.csv").exists()
                 and "hold-build" in (hold / "reached-model.csv").read_text(), DEADLINE,
                 "dbt not inside the held model", log)
        stop_with(process, number)
        print(f"{number.name} in a dbt model: left {current(root)}")
        assert "events" in current(root)       # nothing of that run was published
        (hold / "hold-build").unlink()

        process = start_serve(root, env, log)
        caught_up(root, events + 8, log)
        # The workbench's own lines are in the runs' logs in the UI; serve's are not HTTP.
        wait_for(lambda: _workbench_logs(server, root), 120, "no workbench log lines", log)
        assert "HTTP Request" not in log.read_text()
    finally:
        (hold / "release-load").touch()
        (hold / "hold-build").unlink(missing_ok=True)
        if process.poll() is None:
            stop_with(process, signal.SIGTERM)


# -- a burst of files through a server that answers 503 ------------------------------------------
class _Flaky(BaseHTTPRequestHandler):
    """Forwards to the real Prefect server and answers 503 to every ``every``-th write
    (creating flow runs, setting states, sending logs...). Websockets (events, the runner's
    event stream) are tunnelled as they are."""

    upstream = ""
    every = 4
    calls = 0
    refused = 0
    lock = threading.Lock()

    def _forward(self) -> None:
        cls = type(self)
        if self.headers.get("Upgrade"):
            return self._tunnel()
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with cls.lock:
            cls.calls += 1
            fail = self.command != "GET" and cls.calls % cls.every == 0
            cls.refused += fail
        if fail:
            self.send_response(503)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        headers = {k: v for k, v in self.headers.items()
                   if k.lower() not in ("host", "content-length", "connection")}
        answer = httpx.request(self.command, cls.upstream + self.path, content=body,
                               headers=headers, timeout=60)
        self.send_response(answer.status_code)
        for key, value in answer.headers.items():
            if key.lower() not in ("content-length", "transfer-encoding", "connection",
                                   "content-encoding"):
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(answer.content)))
        self.end_headers()
        self.wfile.write(answer.content)

    def _tunnel(self) -> None:
        """Pass the upgrade request and then every byte both ways, until either side ends."""
        import socket

        host, port = type(self).upstream.removeprefix("http://").split(":")
        upstream = socket.create_connection((host, int(port)), timeout=None)
        head = f"{self.command} {self.path} {self.request_version}\r\n" + "".join(
            f"{k}: {v}\r\n" for k, v in self.headers.items()) + "\r\n"
        upstream.sendall(head.encode())

        def pipe(source, target) -> None:
            try:
                while data := source.recv(65536):
                    target.sendall(data)
            except OSError:
                pass
            finally:
                for end in (source, target):
                    try:
                        end.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
        back = threading.Thread(target=pipe, args=(upstream, self.connection), daemon=True)
        back.start()
        pipe(self.connection, upstream)
        back.join(5)
        upstream.close()
        self.close_connection = True

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _forward

    def log_message(self, *args) -> None:
        pass


def test_a_burst_of_files_through_a_server_answering_503_is_loaded_once(
        built_project, tmp_path, server):
    """Twelve files at once; every fourth write to the API answered 503."""
    root = project_copy(built_project, tmp_path, "burst")
    origin = server.removesuffix("/api")
    handler = type("Flaky", (_Flaky,), {"upstream": origin, "calls": 0, "refused": 0})
    proxy = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    events = events_total(root)
    try:
        with serving(root, f"http://127.0.0.1:{proxy.server_address[1]}/api"):
            for n in range(12):
                write_events(root, f"2026-11-{n:02d}.parquet",
                             [(90_000_000 + n * 10 + i, 1, "sql_cells") for i in range(2)])
            caught_up(root, events + 24)
        print(f"proxy: {handler.calls} calls, {handler.refused} answered 503")
        assert handler.refused > 0
    finally:
        proxy.shutdown()


# -- stale while down; three restarts within one freshness_every ------------------------------
def _episode(root: Path) -> str | None:
    """The stale episode of users the last check announced (``freshness.remember``, written
    under the check's lock right after the events are emitted)."""
    import json

    try:
        return json.loads((root / ".workbench" / "freshness.json").read_text()).get("users")
    except (OSError, ValueError):
        return None


def _checks(api: str, root: Path) -> int:
    return len([f for f in post(f"{api}/flow_runs/filter", {}).json()
                if f["name"] == "check freshness" and f["parameters"].get("root") == str(root)
                and f["state_type"] == "COMPLETED"])


def test_restarts_check_at_start_announce_a_source_gone_stale_while_down_and_load_files(
        built_project, tmp_path, server):
    """Three starts within one ``freshness_every`` (an hour): each checks at start. Between
    the first and second, users is loaded by hand and goes stale again (a new episode,
    announced by the second start); between the second and third a file lands (loaded at
    the third start). Serve in a thread; about a minute on 2 busy cores."""
    root = project_copy(built_project, tmp_path, "restarts", (
        'primary_key = "user_id"\nwarn_after = "2d"\nerror_after = "7d"',
        'primary_key = "user_id"\nwarn_after = "1s"\nerror_after = "2s"'), (
        "[steps.classify_messages]",
        '[service]\nfreshness_every = "1h"\non_stale = []\n\n[steps.classify_messages]'))
    time.sleep(2.5)     # users is past its SLA
    with serving(root, server):
        wait_for(lambda: _checks(server, root) == 1, 120, "first start: no check")
    first = _episode(root)
    assert first and first.startswith("stale since the load of "), first

    (root / "data" / "landing" / "users" / "users-2026-12.csv").write_text(
        "user_id,email,name,company,country,plan,signed_up_at\n"      # a new user
        "99999,new@example.com,New User,Example,US,team,2026-12-01 09:00:00\n")
    Workbench(root).run().raise_for_failures()           # by hand, serve down
    time.sleep(2.5)
    with serving(root, server):
        wait_for(lambda: _checks(server, root) == 2, 120, "second start: no check")
    second = _episode(root)
    assert second != first and second.startswith("stale since the load of "), second

    events = events_total(root)
    write_events(root, "2026-11.parquet", [(95_000_000 + i, 1, "sql_cells")
                                           for i in range(4)])
    with serving(root, server):
        caught_up(root, events + 4)
        wait_for(lambda: _checks(server, root) == 3, 120, "third start: no check")
    assert _episode(root) == second      # the same episode is not announced twice


# -- the UI and start-up ---------------------------------------------------------------------
def test_the_ui_at_the_printed_address_asks_its_own_server(server):
    """Not Prefect's default port 4200, where another server (or nothing) answers."""
    settings = httpx.get(f"{server.removesuffix('/api')}/ui-settings", timeout=30).json()
    assert settings["api_url"] == server


def test_a_serve_that_cannot_start_says_why_in_one_line_with_the_config_exit_code(
        built_project, tmp_path):
    from workbench.service import free_port

    root = project_copy(built_project, tmp_path, "nowhere")
    cli = str(Path(sys.executable).parent / "workbench")
    done = subprocess.run([cli, "--project", str(root), "serve"], capture_output=True,
                          text=True, timeout=300, stdin=subprocess.DEVNULL, env={
                              **os.environ, "PREFECT_HOME": str(tmp_path / "home"),
                              "PREFECT_API_URL": f"http://127.0.0.1:{free_port()}/api"})
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: workbench serve cannot start: "
                                                   "the Prefect server at "), lines
    assert lines[0].endswith("(PREFECT_API_URL) does not answer"), lines


def test_status_finds_the_projects_server_when_nothing_serves_and_when_orphaned(
        built_project, tmp_path, server, monkeypatch):
    """The record of the project's local server names a supervisor that was SIGKILLed; its
    server still runs (here: the module's server, and this process standing for it)."""
    from datetime import datetime, timezone

    from workbench.service import shared
    from workbench.service import status as server_status

    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    root = project_copy(built_project, tmp_path, "orphan")
    home = root / ".workbench" / "prefect"
    home.mkdir(parents=True, exist_ok=True)
    gone = subprocess.Popen(["true"])
    gone.wait()
    shared.write(shared.SharedServer(
        url=server, pid=gone.pid, server_pid=os.getpid(),
        port=int(server.rsplit(":", 1)[1].split("/")[0]), started=datetime.now(timezone.utc),
        idle_seconds=None, home=home))

    found = server_status.read(load_config(root))

    assert found is not None and found.api_url == server and found.reachable
    assert found.found_by.startswith("workbench-server.json (orphaned: supervisor")
