"""Never two Prefect servers on one project's database (issue 15): ``workbench serve``
SIGKILLed, then also its server's supervisor (the server orphaned), each time started
again, while a thread lists the processes every fifth of a second. Real processes: the
project's own Prefect home, its shared server, serve in a subprocess.
"""

from __future__ import annotations

import os
import signal
import threading
import time

from leftovers import server_processes, wait_until_gone
from operator_kit import project_copy, start_serve, stop_with

from workbench.service import shared
from workbench.service.record import alive


class _Census(threading.Thread):
    """The Prefect server processes of one home, counted until stopped: the most seen at
    once, and every pid seen."""

    def __init__(self, home) -> None:
        super().__init__(daemon=True)
        self.home, self.most, self.seen = home, 0, set()
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            servers = [p.pid for p in server_processes(home=self.home)
                       if "prefect server start" in p.command]
            self.most = max(self.most, len(servers))
            self.seen.update(servers)
            time.sleep(0.2)


def test_a_restarted_serve_reuses_its_server_or_replaces_an_orphaned_one_never_two(
        built_project, tmp_path):
    """About 3 min on 2 busy cores (two server starts, three serve starts)."""
    root = project_copy(built_project, tmp_path, "one-server")
    home = root / ".workbench" / "prefect"
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env["PREFECT_HOME"] = str(home)
    log = tmp_path / "serve.log"
    census = _Census(home)
    census.start()
    process = None
    try:
        process = start_serve(root, env, log)
        first = shared.read(home)
        process.kill()
        process.wait(30)

        process = start_serve(root, env, log)         # its server still serves: reused
        assert shared.read(home) == first, shared.read(home)
        process.kill()
        process.wait(30)
        os.kill(first.pid, signal.SIGKILL)            # the supervisor: the server orphaned
        assert alive(first.server_pid)

        process = start_serve(root, env, log)         # the orphan stopped, a new one started
        second = shared.read(home)
        assert second.server_pid != first.server_pid and not alive(first.server_pid)
        running = [p.pid for p in server_processes(home=home)
                   if "prefect server start" in p.command]
        assert running == [second.server_pid], running
        assert census.most == 1, f"{census.most} servers at once: {census.seen}"
    finally:
        census.done.set()
        if process is not None and process.poll() is None:
            stop_with(process, signal.SIGTERM)
        shared.stop(home)
        assert not wait_until_gone(120, home=home)
