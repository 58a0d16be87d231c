"""What the operator tests share: a project copy under test, serve in a thread or a
process, signals, and the two checks every fault test ends with (every mart current, every
landed file loaded once)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

from helpers import edit_config

from workbench import Workbench
from workbench.config import load_config
from workbench.service import serve
from workbench.service.catchup import pending

DEADLINE = 600.0     # seconds for a busy 2-core machine to catch up
WATCHING = ", watching "      # serve's last line of start-up
HOLD_READER = """
import os, time
from pathlib import Path

def read(con, path, options, types=None):
    # A file named *held* is held until the test releases it: a load in progress.
    if "held" in path:
        hold = Path(os.environ["WORKBENCH_TEST_HOLD"])
        (hold / "reached-load").write_text(str(os.getpid()))
        while not (hold / "release-load").exists():
            time.sleep(0.2)
    return con.read_parquet(path)
"""


def project_copy(built_project: Path, tmp_path: Path, name: str, *edits) -> Path:
    root = tmp_path / name
    shutil.copytree(built_project, root, ignore=shutil.ignore_patterns("prefect",
                                                                       "service.json"))
    if edits:
        edit_config(root, *edits)
    return root


def current(root: Path) -> dict:
    """What is left to do; {} when every mart is current."""
    return pending(load_config(root))


def loaded_once(root: Path) -> None:
    wb = Workbench(root)
    twice = wb.sql("select path, count(*) as loads from _workbench.files where status = "
                   "'loaded' group by path having count(*) > 1")
    assert twice.empty, twice
    assert wb.sql("select count(*) - count(distinct event_id) from raw.events").iloc[0, 0] \
        == 0


def events_total(root: Path) -> int:
    return int(Workbench(root).sql("select sum(events) from user_engagement").iloc[0, 0])


def wait_for(check, timeout: float, what: str, log: Path | None = None):
    deadline = time.monotonic() + timeout
    while not (value := check()):
        if time.monotonic() > deadline:
            tail = log.read_text()[-4000:] if log and log.exists() else ""
            raise AssertionError(f"{what}: not within {timeout:.0f}s\n{tail}")
        time.sleep(0.5)
    return value


def caught_up(root: Path, events: int, log: Path | None = None) -> None:
    wait_for(lambda: not current(root) and events_total(root) == events, DEADLINE,
              f"marts not current ({current(root)})", log)
    loaded_once(root)


@contextmanager
def serving(root: Path, api_url: str):
    """``serve`` in a thread of this process, until the block ends."""
    stop, ready, failed = threading.Event(), threading.Event(), []

    def run() -> None:
        try:
            serve(root, api_url=api_url, stop=stop, ready=ready)
        except BaseException as error:      # noqa: BLE001 - reported by the test
            failed.append(error)
            ready.set()
    thread = threading.Thread(target=run, name="test-operator-serve")
    thread.start()
    try:
        assert ready.wait(DEADLINE) and not failed, failed
        yield
    finally:
        stop.set()
        thread.join(120)
    assert not failed, failed


# -- serve in a process of its own (only a process can be killed) ------------------------------
def start_serve(root: Path, env: dict, log: Path, *options: str) -> subprocess.Popen:
    """``workbench serve *options``, once it says it watches (its output appended to
    ``log``, which may hold earlier starts')."""
    started = log.read_text().count(WATCHING) if log.exists() else 0
    cli = str(Path(sys.executable).parent / "workbench")
    with log.open("a") as out:
        process = subprocess.Popen([cli, "--project", str(root), "serve", *options], env=env,
                                   stdout=out, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL)
    wait_for(lambda: process.poll() is not None or log.read_text().count(WATCHING) > started,
             DEADLINE, "serve did not start", log)
    assert process.poll() is None, log.read_text()[-4000:]
    return process


def stop_with(process: subprocess.Popen, number: int) -> None:
    process.send_signal(number)
    try:
        process.wait(timeout=90)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=30)
        raise AssertionError(f"serve did not stop within 90s of {number!r}") from None
