"""Prefect server processes left running: found in /proc by their command and environment.

A process counts when its command line is a Prefect server (``prefect server start``,
Prefect's temporary ``uvicorn`` server) or a shared server's supervisor, and its environment
carries the test session's marker or a Prefect home under the given folder. Zombies (exited,
not yet reaped) do not count: they hold no port and no memory.
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

MARKER = "WORKBENCH_TEST_SESSION"     # set by conftest; inherited by what the tests start
COMMANDS = ("prefect server start", "uvicorn", "workbench.service.supervisor")


@dataclass(frozen=True)
class ServerProcess:
    pid: int
    command: str
    home: str | None            # its PREFECT_HOME

    def __str__(self) -> str:
        return f"pid {self.pid} (PREFECT_HOME {self.home}): {self.command[:200]}"


def server_processes(*, marker: str | None = None, home: Path | None = None
                     ) -> list[ServerProcess]:
    """Live server processes whose environment has ``MARKER=marker`` or whose Prefect home
    is ``home`` or under it. Empty where there is no /proc."""
    found = []
    proc = Path("/proc")
    for entry in proc.iterdir() if proc.is_dir() else ():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(
                errors="replace").strip()
            if not any(name in command for name in COMMANDS):
                continue
            if _state(entry) == "Z":
                continue
            environ = dict(item.split("=", 1) for item in (entry / "environ").read_bytes()
                           .decode(errors="replace").split("\0") if "=" in item)
        except OSError:             # gone meanwhile, or not ours to read
            continue
        prefect_home = environ.get("PREFECT_HOME")
        if (marker is not None and environ.get(MARKER) == marker) or (
                home is not None and prefect_home is not None
                and Path(prefect_home).is_relative_to(home)):
            found.append(ServerProcess(int(entry.name), command, prefect_home))
    return found


def wait_until_gone(deadline: float, **which) -> list[ServerProcess]:
    """``server_processes(**which)`` once it is empty, or what is left after ``deadline``."""
    end = time.monotonic() + deadline
    while (left := server_processes(**which)) and time.monotonic() < end:
        time.sleep(0.5)
    return left


def kill(processes: list[ServerProcess]) -> None:
    for process in processes:
        try:
            os.kill(process.pid, signal.SIGKILL)
        except OSError:
            pass


def _state(entry: Path) -> str:
    for line in (entry / "status").read_text().splitlines():
        if line.startswith("State:"):
            return line.split()[1]
    return "?"
