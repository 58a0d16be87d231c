"""``python -m workbench.service.supervisor --home H --idle SECONDS``: keeps a Prefect
home's shared server, and stops it.

Started detached by ``shared.ensure()`` (its own session, so it outlives the run that
started it). It runs ``prefect server start`` as its child (``LocalPrefectServer``), writes
the home's record once the server answers, then stops the server and removes the record when

* it receives SIGTERM or SIGINT (``workbench server stop``, the tests' clean-up);
* the server has been idle for ``--idle`` seconds (0: never): no flow run running, started or
  ended, no deployment or work queue polled (a ``workbench serve`` or worker alive), and no
  process reusing it (they touch the record), for that long;
* its record is gone or names another supervisor (the home was deleted, or replaced it);
* the server exits on its own.

It says what it does on its output (the home's ``server.log``), in lines that start with
``workbench: ``, the last of which ``shared.ensure()`` quotes when a start fails.
"""

from __future__ import annotations

import argparse
import os
import signal
import time
from datetime import datetime, timezone
from pathlib import Path

from ..errors import ServiceError
from . import shared
from .server import START_TIMEOUT, LocalPrefectServer

PORT_ATTEMPTS = 3       # a free port can be taken before the server binds it
ACTIVE_STATES = ["RUNNING", "PENDING", "CANCELLING"]


class _Stop(Exception):
    """A signal asked the supervisor to stop."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--home", type=Path, required=True, help="the Prefect home")
    parser.add_argument("--idle", type=float, default=shared.DEFAULT_IDLE.total_seconds(),
                        help="stop after this many seconds without a flow run; 0: never")
    args = parser.parse_args(argv)
    where = args.home.resolve()
    server = LocalPrefectServer(where)

    def on_signal(number, frame):
        raise _Stop(signal.Signals(number).name)

    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, on_signal)
    try:
        url = _start(server)
        record = shared.SharedServer(
            url=url, pid=os.getpid(), server_pid=server.process.pid, port=server.port,
            started=datetime.now(timezone.utc), idle_seconds=args.idle or None, home=where)
        shared.write(record)
        _say(f"serving {url} for Prefect home {where}"
             + (f"; stops after {args.idle:.0f}s idle" if args.idle else ""))
        _say(f"stopping: {_watch(server, record, args.idle)}")
        return 0
    except _Stop as stop:
        _say(f"stopping: {stop} received")
        return 0
    except ServiceError as error:
        _say(str(error))
        return 1
    finally:
        for number in (signal.SIGTERM, signal.SIGINT):   # a second signal must not cut
            signal.signal(number, signal.SIG_IGN)        # the clean-up short
        shared.remove(where, os.getpid())
        server.stop()


def _start(server: LocalPrefectServer) -> str:
    """Start the server, on another free port when the one chosen was taken meanwhile."""
    for attempt in range(1, PORT_ATTEMPTS + 1):
        try:
            return server.start(timeout=START_TIMEOUT)
        except ServiceError as error:
            if getattr(error, "port", None) is None or attempt == PORT_ATTEMPTS:
                raise
            _say(f"port {error.port} was taken; trying another")
    raise AssertionError("unreachable")


def _watch(server: LocalPrefectServer, record: shared.SharedServer, idle: float) -> str:
    """Wait until the server should stop; say why."""
    every = max(1.0, min(60.0, idle / 10))     # how often idleness is asked of the API
    asked = time.monotonic()
    while True:
        time.sleep(1.0)
        if server.process.poll() is not None:
            return f"prefect server exited (code {server.process.returncode})"
        current = shared.read(record.home)
        if current is None or current.pid != record.pid:
            return "its record was removed or replaced"
        if idle and time.monotonic() - asked >= every:
            asked = time.monotonic()
            if time.time() - last_activity(record) >= idle and _release(record, idle):
                return f"idle for {idle:.0f}s"


def _release(record: shared.SharedServer, idle: float) -> bool:
    """Remove the record if the server is still idle, under the home's lock, so that no
    process is halfway through finding it; False when a process holds the lock (it is
    about to use the server)."""
    from filelock import FileLock, Timeout

    try:
        with FileLock(str(record.home / shared.LOCK), timeout=0):
            if time.time() - last_activity(record) < idle:
                return False
            shared.remove(record.home, record.pid)
            return True
    except Timeout:
        return False


def last_activity(record: shared.SharedServer) -> float:
    """When the server was last in use (epoch seconds): its start, a process reusing it, a
    flow run's start or end (now, while one runs), a deployment or work queue polled. Now,
    when the API cannot say: never stop a server on a guess."""
    import httpx

    now = time.time()
    marks = [record.started.timestamp()]
    try:
        marks.append((record.home / shared.RECORD).stat().st_mtime)
    except OSError:
        pass
    try:
        with httpx.Client(base_url=record.url, timeout=10) as client:
            def latest(path: str, body: dict, *fields: str) -> None:
                response = client.post(path, json=body)
                response.raise_for_status()
                for item in response.json():
                    marks.extend(_epoch(item.get(field)) for field in fields)

            active = client.post("/flow_runs/filter", json={
                "flow_runs": {"state": {"type": {"any_": ACTIVE_STATES}}}, "limit": 1})
            active.raise_for_status()
            if active.json():
                return now
            latest("/flow_runs/filter", {"sort": "START_TIME_DESC", "limit": 1,
                                         "flow_runs": {"start_time": {"is_null_": False}}},
                   "start_time", "end_time")
            latest("/flow_runs/filter", {"sort": "END_TIME_DESC", "limit": 1,
                                         "flow_runs": {"end_time": {"is_null_": False}}},
                   "end_time")
            latest("/deployments/filter", {"limit": 200}, "last_polled")
            latest("/work_queues/filter", {"limit": 200}, "last_polled")
    except (httpx.HTTPError, ValueError):
        return now
    return max(marks)


def _epoch(value: str | None) -> float:
    if not value:
        return 0.0
    parsed = datetime.fromisoformat(value)
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)).timestamp()


def _say(text: str) -> None:
    print(f"workbench: {text}", flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
