"""A Prefect server process: ``prefect server start`` on 127.0.0.1 and a free port.

Run by the supervisor of a Prefect home's shared server (``supervisor.py``, found through
``shared.py``), and by the tests and benchmarks that want a server of their own.

A server this class starts is stopped by whoever started it, whatever happens to the start:
a start that times out, fails, or is interrupted (Ctrl-C, a signal turned into an exception)
stops the process before the exception leaves ``start()``. The server stays in its starter's
process group, so killing a supervisor's group (``shared``) takes its server with it.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

from ..errors import ServiceError
from . import prefect_server

START_TIMEOUT = 300.0       # seconds: a first start migrates its database, slow on 2 busy cores


class LocalPrefectServer:
    """``prefect server start`` on 127.0.0.1 and a free port, home under ``home``.

    Example::

        server = LocalPrefectServer(tmp_path / "prefect-home")
        api_url = server.start()          # "http://127.0.0.1:<port>/api", once it answers
        ...
        server.stop()
    """

    def __init__(self, home: Path) -> None:
        self.home = home
        self.process: subprocess.Popen | None = None
        self.url: str | None = None
        self.port: int | None = None

    @property
    def log(self) -> Path:
        """The server's output: where to look when it does not start."""
        return self.home / "server.log"

    def start(self, timeout: float = START_TIMEOUT) -> str:
        """Start the server and return its API URL once ``/ready`` says its database answers.

        Raises:
            ServiceError: the server exited, or did not answer within ``timeout`` seconds
                (it is stopped); ``log`` names its log file.
        """
        self.home.mkdir(parents=True, exist_ok=True)
        port = free_port()
        self.port = port
        logged_before = self.log.stat().st_size if self.log.exists() else 0
        env = {**os.environ, "PREFECT_HOME": str(self.home)}
        env.pop("PREFECT_API_URL", None)
        env.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
        # The UI asks this server's own API, not Prefect's default port 4200 (another
        # server, or nothing).
        env.pop("PREFECT_SERVER_UI_API_URL", None)
        env["PREFECT_UI_API_URL"] = f"http://127.0.0.1:{port}/api"
        with open(self.log, "ab") as log_file:      # the child keeps its own descriptor
            self.process = subprocess.Popen(   # Prefect's CLI, IRI grammar on first use
                prefect_server.command(port), env=env, stdout=log_file,
                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.url = f"http://127.0.0.1:{port}/api"
        try:
            return self._wait_until_ready(timeout, logged_before)
        except BaseException:
            self.stop()
            raise

    def _wait_until_ready(self, timeout: float, logged_before: int) -> str:
        import httpx

        port, deadline = self.port, time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                if port_in_use(self.log, logged_before):
                    raise ServiceError(f"prefect server could not listen on 127.0.0.1:{port}: "
                                       f"the port is in use; see {self.log}", log=self.log,
                                       port=port)
                raise ServiceError(f"prefect server exited at start-up (code "
                                   f"{self.process.returncode}); see {self.log}", log=self.log)
            try:
                if httpx.get(f"{self.url}/ready", timeout=2).status_code == 200:
                    return self.url
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise ServiceError(f"prefect server did not answer in {timeout:g}s and was "
                                   f"stopped; see {self.log}", log=self.log)
            time.sleep(0.3)

    def stop(self) -> None:
        """Terminate the server (killed if it has not stopped within 20 seconds); reaped, so
        no zombie is left either."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_in_use(log: Path, offset: int = 0) -> bool:
    """Whether the server's output since ``offset`` says its port was taken (another
    process bound it between ``free_port()`` and the server's own bind)."""
    try:
        with open(log, "rb") as file:
            file.seek(offset)
            text = file.read().decode(errors="replace").lower()
    except OSError:
        return False
    return "address already in use" in text or "errno 98" in text or "is already in use" in text
