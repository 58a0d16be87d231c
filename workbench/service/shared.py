"""The local Prefect server that every process of a Prefect home shares.

Without ``PREFECT_API_URL`` a run needs a Prefect server, and starting one costs seconds
(a first start also creates its database). So the first run of a Prefect home starts
``prefect server start`` on 127.0.0.1 in the background, under a small supervisor
(``supervisor.py``) that outlives it, and every later process of that home (CLI calls,
kernels, reports, ``workbench serve``) finds it and reports there. The workbench gives each
project its own home (``.workbench/prefect/``), so in practice: one server per project.

The record, ``$PREFECT_HOME/workbench-server.json``, is written by the supervisor once the
server answers and removed when it stops (``workbench server stop``, an idle stop after
``[service] server_idle``, or SIGTERM). A record whose supervisor has gone, or whose server
does not answer, is stale and replaced. A ``FileLock`` next to it makes "find or start"
one step across processes, so two runs starting at once start one server.

``current_phase()`` says what a start is doing right now, for progress displays.

Example::

    server = shared.ensure()      # found, or started (seconds); ServiceError if it cannot
    server.url                    # "http://127.0.0.1:<port>/api"
    shared.stop()                 # what `workbench server stop` does
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from ..errors import ServiceError
from .record import alive

RECORD = "workbench-server.json"
LOCK = "workbench-server.lock"
LOG = "server.log"                  # the supervisor's and the server's output, one start
START_TIMEOUT = 300.0               # seconds: a first start migrates the database
TIMEOUT_VARIABLE = "WORKBENCH_SERVER_START_TIMEOUT"    # seconds, for a slower machine
ANSWER_GRACE = 30.0                 # seconds a live but silent server gets before it is stale
STOP_TIMEOUT = 60.0                 # seconds a stop waits before it kills
DEFAULT_IDLE = timedelta(hours=2)
IDLE_VARIABLE = "WORKBENCH_SERVER_IDLE"    # e.g. "30m"; "0" never stops


@dataclass(frozen=True)
class SharedServer:
    """What ``workbench-server.json`` says about the running shared server."""

    url: str                        # the API, "http://127.0.0.1:<port>/api"
    pid: int                        # the supervisor: signal it to stop the server
    server_pid: int | None          # ``prefect server start`` itself
    port: int
    started: datetime               # UTC, when it first answered
    idle_seconds: float | None      # stops itself after this long without a flow run
    home: Path                      # the Prefect home it serves

    @property
    def ui(self) -> str:
        return self.url.removesuffix("/api")

    @property
    def log(self) -> Path:
        return self.home / LOG


@dataclass(frozen=True)
class Phase:
    """Something slow a run is waiting for, for a progress display to name."""

    what: str                       # "starting the project's Prefect server"
    since: float                    # time.monotonic() when it began

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.since


_phase: Phase | None = None
_in_process = threading.Lock()      # the FileLock keeps processes apart, this threads
_children: dict[int, subprocess.Popen] = {}     # supervisors this process started
_ahead: tuple[threading.Thread, list[Exception]] | None = None  # ensure_ahead()'s look
_ahead_lock = threading.Lock()


def current_phase() -> Phase | None:
    """What finding or starting the server is waiting for now, if anything slow."""
    return _phase


def home() -> Path:
    """The Prefect home in use: ``PREFECT_HOME`` (the workbench sets it to the project's
    ``.workbench/prefect/``), else Prefect's own default."""
    return Path(os.environ.get("PREFECT_HOME") or Path.home() / ".prefect").expanduser()


def read(where: Path | None = None) -> SharedServer | None:
    """The record as written, or None (no record, or unreadable); not checked."""
    where = where or home()
    try:
        data = json.loads((where / RECORD).read_text())
        return SharedServer(url=str(data["url"]), pid=int(data["pid"]),
                            server_pid=data.get("server_pid"), port=int(data["port"]),
                            started=datetime.fromisoformat(data["started"]),
                            idle_seconds=data.get("idle_seconds"), home=where)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write(server: SharedServer) -> None:
    """Record ``server`` atomically: a reader never sees half of it (the supervisor's)."""
    target = server.home / RECORD
    partial = target.with_suffix(".part")
    partial.write_text(json.dumps({
        "url": server.url, "pid": server.pid, "server_pid": server.server_pid,
        "port": server.port, "started": server.started.isoformat(),
        "idle_seconds": server.idle_seconds}))
    partial.replace(target)


def remove(where: Path, pid: int) -> None:
    """Remove the record if supervisor ``pid`` wrote it; a newer server's record stays."""
    record = read(where)
    if record is not None and record.pid == pid:
        (where / RECORD).unlink(missing_ok=True)


def find(where: Path | None = None, *, grace: float = 0.0) -> SharedServer | None:
    """The running shared server of this home, if its supervisor lives and it answers
    (within ``grace`` seconds: a busy server may be slow to say so)."""
    record = read(where)
    if record is None or not _alive(record.pid):
        return None
    deadline = time.monotonic() + grace
    while not answers(record.url):
        if time.monotonic() >= deadline or not _alive(record.pid):
            return None
        time.sleep(1.0)
    return record


def answers(url: str, timeout: float = 3.0) -> bool:
    """Whether the Prefect API at ``url`` says it is healthy."""
    import httpx

    try:
        return httpx.get(f"{url}/health", timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False


def ensure(where: Path | None = None, *, idle_seconds: float | None = None,
           timeout: float | None = None) -> SharedServer:
    """The home's shared server: found, or started in the background and waited for.

    Args:
        where: the Prefect home (default: ``home()``).
        idle_seconds: for a server started now, stop after this long without a flow run
            (0: never). Default: ``WORKBENCH_SERVER_IDLE``, else the ``[service]
            server_idle`` of the project whose ``.workbench/prefect`` this home is, else 2h.
        timeout: seconds to wait for a new server to answer; default
            ``WORKBENCH_SERVER_START_TIMEOUT``, else 300.

    Raises:
        ServiceError: the server did not start (port in use, exited, no answer in time),
            and every process of that start was stopped; ``log`` names its log file.
    """
    global _phase
    _join_ahead()
    where = where or home()
    timeout = _start_timeout() if timeout is None else timeout
    where.mkdir(parents=True, exist_ok=True)
    if (found := find(where)) is not None:     # the everyday case: no lock, one request
        _touch(found)
        return found
    from filelock import FileLock, Timeout

    with _in_process:
        _phase = Phase("waiting for the project's Prefect server", time.monotonic())
        lock = FileLock(str(where / LOCK), timeout=timeout + STOP_TIMEOUT)
        try:
            with lock:
                # Another process may have started it while this one waited for the lock.
                if (found := find(where, grace=ANSWER_GRACE)) is not None:
                    _touch(found)
                    return found
                stale = read(where)
                if stale is not None:
                    _stop(stale)
                _phase = Phase("starting the project's Prefect server", time.monotonic())
                return _start(where, _idle(where, idle_seconds), timeout)
        except Timeout:
            raise _error(f"another process has been starting the local Prefect server (home "
                         f"{where}) for over {lock.timeout:.0f}s; see {where / LOG}",
                         log=where / LOG) from None
        finally:
            _phase = None


def ensure_ahead() -> None:
    """Begin ``ensure()`` in a thread now, for a run that needs the server once its flow
    starts: a first start (a new home creates its database) then runs beside Prefect's
    import and dbt's parse. The next ``ensure()`` waits for it and raises what it raised."""
    global _ahead
    with _ahead_lock:
        if _ahead is not None and _ahead[0].is_alive():
            return
        errors: list[Exception] = []

        def look() -> None:
            try:
                ensure()
            except Exception as error:      # raised again by the run's own ensure()
                errors.append(error)

        thread = threading.Thread(target=look, name="workbench-server-ahead", daemon=True)
        _ahead = (thread, errors)
        thread.start()


def _join_ahead() -> None:
    """Wait for ``ensure_ahead()``'s look, if one is under way, and raise its error once."""
    global _ahead
    with _ahead_lock:
        ahead = _ahead
        if ahead is None or ahead[0] is threading.current_thread():
            return      # none, or this is the look itself
        _ahead = None
    ahead[0].join()
    if ahead[1]:
        raise ahead[1][0]


def stop(where: Path | None = None, *, timeout: float = STOP_TIMEOUT) -> SharedServer | None:
    """Stop the home's shared server and remove its record; the record stopped, or None
    when there was none. A record whose processes are gone is just removed."""
    from filelock import FileLock

    where = where or home()
    if not (where / RECORD).exists():
        return None
    with _in_process, FileLock(str(where / LOCK), timeout=START_TIMEOUT + timeout):
        record = read(where)
        if record is not None:
            _stop(record, timeout)
        return record


def _start(where: Path, idle_seconds: float, timeout: float) -> SharedServer:
    """Spawn the supervisor, detached (it outlives this process), and wait for its record."""
    log = where / LOG
    env = {**os.environ, "PREFECT_HOME": str(where)}
    env.pop("PREFECT_API_URL", None)
    command = [sys.executable, "-m", "workbench.service.supervisor", "--home", str(where),
               "--idle", str(idle_seconds)]
    with open(log, "wb") as output:     # one start's output: the log of the server now up
        process = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, stdout=output,
                                   stderr=subprocess.STDOUT, start_new_session=True,
                                   cwd=str(where))
    _children[process.pid] = process
    try:
        return _wait_for_record(where, process, timeout)
    except BaseException:
        # A start that failed or was interrupted leaves nothing: the supervisor stops its
        # server on SIGTERM, and whatever is left of its process group is killed.
        _terminate(process.pid, timeout=STOP_TIMEOUT)
        _kill_group(process.pid)
        remove(where, process.pid)
        raise


def _wait_for_record(where: Path, process: subprocess.Popen, timeout: float) -> SharedServer:
    log = where / LOG
    deadline = time.monotonic() + timeout
    while True:
        record = read(where)
        if record is not None and record.pid == process.pid:
            return record
        if process.poll() is not None:
            raise _error(f"the local Prefect server (home {where}) did not start: "
                         f"{_reason(log)}; see {log}", log=log)
        if time.monotonic() > deadline:
            raise _error(f"the local Prefect server (home {where}) did not answer within "
                         f"{timeout:g}s and was stopped (set {TIMEOUT_VARIABLE} to wait "
                         f"longer on a busy machine); see {log}", log=log)
        time.sleep(0.2)


def _kill_group(leader: int) -> None:
    """SIGKILL what is left of the process group ``leader`` led (a supervisor's: it and its
    server); nothing when the group is gone."""
    try:
        os.killpg(leader, signal.SIGKILL)
    except OSError:
        pass


def _stop(record: SharedServer, timeout: float = STOP_TIMEOUT) -> None:
    """Stop a record's supervisor (it stops its server and removes the record); kill what
    is left after ``timeout``; remove the record if it is still there."""
    if _alive(record.pid) and _is_ours(record.pid):
        _terminate(record.pid, timeout=timeout)
    if record.server_pid and _alive(record.server_pid) and _is_ours(record.server_pid):
        _terminate(record.server_pid, timeout=timeout)
    remove(record.home, record.pid)


def _terminate(pid: int, timeout: float) -> None:
    """SIGTERM, then SIGKILL to its whole process group (the supervisor leads one)."""
    try:
        os.kill(pid, signal.SIGTERM)
    except OSError:
        return
    deadline = time.monotonic() + timeout
    while _alive(pid):
        if time.monotonic() > deadline:
            for kill in (lambda: os.killpg(pid, signal.SIGKILL),
                         lambda: os.kill(pid, signal.SIGKILL)):
                try:
                    kill()
                except OSError:
                    pass
            deadline = time.monotonic() + 10
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.1)
            return
        time.sleep(0.1)


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs; a supervisor this process started is reaped, not a zombie."""
    child = _children.get(pid)
    if child is not None:
        return child.poll() is None
    return alive(pid)


def _is_ours(pid: int) -> bool:
    """Whether ``pid`` is a supervisor or Prefect server (never an unrelated process that
    reused a dead supervisor's pid). Where /proc cannot tell, assume so."""
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return True
    return "workbench.service.supervisor" in command or "prefect" in command


def _touch(server: SharedServer) -> None:
    """Tell the supervisor the server is in use: a run is about to start (idle stop)."""
    try:
        os.utime(server.home / RECORD)
    except OSError:
        pass


def _start_timeout() -> float:
    text = os.environ.get(TIMEOUT_VARIABLE)
    try:
        return float(text) if text else START_TIMEOUT
    except ValueError:
        raise _error(f"{TIMEOUT_VARIABLE}={text!r} is not a number of seconds") from None


def _idle(where: Path, idle_seconds: float | None) -> float:
    if idle_seconds is not None:
        return idle_seconds
    from ..config import load_config, parse_duration

    if text := os.environ.get(IDLE_VARIABLE):
        try:
            return max(0.0, float(text))        # seconds
        except ValueError:
            return parse_duration(text, where=IDLE_VARIABLE).total_seconds()
    root = where.parent.parent
    if where.name == "prefect" and where.parent.name == ".workbench" and (
            root / "workbench.toml").is_file():
        idle = load_config(root).service.server_idle
        return idle.total_seconds() if idle else 0.0
    return DEFAULT_IDLE.total_seconds()


def _reason(log: Path) -> str:
    """The supervisor's last word (it prints "workbench: <why>" before it exits)."""
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError:
        return "no log"
    said = [line.removeprefix("workbench: ").removesuffix(f"; see {log}")
            for line in lines if line.startswith("workbench: ")]
    return said[-1] if said else (lines[-1] if lines else "it exited without a word")


def _error(message: str, **facts) -> ServiceError:
    error = ServiceError(message, **facts)
    # In a notebook, IPython shows this one line instead of a traceback through the run
    # core: the fault is in the server's log, not in the user's cell.
    error._render_traceback_ = lambda: [f"ServiceError: {message}"]
    return error
