"""The benchmarks' shared harness: an isolated environment, projects to measure, child
processes with their wall time and memory, how busy the machine was, what was measured.

Only the standard library is imported at module level: ``workbench``, Prefect and dbt read
their settings when imported, so ``isolate_environment()`` must run before any of them.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RESULTS_DIR = REPO / "benchmarks" / "results"
PYTHON = Path(sys.executable)
DBT = PYTHON.parent / "dbt"          # the dbt CLI of the same environment as this Python
EVENTS_AT_SCALE_1 = 100_000          # demo.generate(scale=1) writes this many events
WARM_UP_SCALE = 0.01                 # the smallest sample: every model and test has rows


# Set-up


def isolate_environment(workdir: Path) -> None:
    """Keep Prefect and dbt off the user's home and the network, before either is imported.

    PREFECT_HOME in the temp dir: the benchmark must never touch ~/.prefect. No
    PREFECT_API_URL: runs use the home's shared local server, as a fresh install does; the
    first run starts it, and it is stopped at exit (before the temp dir is removed).
    """
    os.environ["PREFECT_HOME"] = str(workdir / "prefect-home")
    atexit.register(_stop_shared_server, workdir / "prefect-home")
    os.environ.pop("PREFECT_API_URL", None)
    os.environ.update({"DO_NOT_TRACK": "1", "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                       "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"})


def _stop_shared_server(home: Path) -> None:
    from workbench.service import shared

    shared.stop(home)


def make_project(dest: Path, *, scale: float | None = None, landing_from: Path | None = None,
                 actions: bool = True) -> Path:
    """Copy the repo's config and dbt project to ``dest``, then generate or copy the data.

    Like tests/conftest.py: dbt's ``target/`` and ``logs/`` are left behind so every project
    starts unparsed, as a fresh checkout does. Copying the landing files (not regenerating
    them) gives (f) byte-identical data without paying for generation twice.
    """
    dest.mkdir(parents=True)
    config = (REPO / "workbench.toml").read_text()
    (dest / "workbench.toml").write_text(config if actions else without_actions(config))
    shutil.copytree(REPO / "dbt", dest / "dbt",
                    ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
    if landing_from is not None:
        shutil.copytree(landing_from, dest / "data" / "landing")
    else:
        from workbench import demo

        demo.generate(dest, scale=scale)
    return dest


def without_actions(toml: str) -> str:
    """``workbench.toml`` without its ``[actions.*]`` tables (``--no-actions``).

    Actions deliver one message per candidate, a cost that grows with the audience rather
    than with the data (about 11 minutes for 97,000 messages at 10M rows): measuring the
    pipeline at scale within minutes means leaving them out, and saying so in the results.
    """
    kept, skipping = [], False
    for line in toml.splitlines(keepends=True):
        header = line.strip()
        if header.startswith("["):
            skipping = header.startswith("[actions.") or header == "[actions]"
        if not skipping:
            kept.append(line)
    return "".join(kept)


def seconds(fn: Callable[[], Any]) -> tuple[float, Any]:
    """Wall-clock seconds of one call, and what it returned."""
    started = time.perf_counter()
    value = fn()
    return time.perf_counter() - started, value


def best_of(repeats: int, fn: Callable[[], Any]) -> float:
    """The fastest of ``repeats`` calls: the least disturbed by the rest of the machine."""
    return min(seconds(fn)[0] for _ in range(repeats))


def peak_rss_mb(who: int) -> float:
    """Peak resident memory in MB (Linux reports ru_maxrss in KB).

    For RUSAGE_CHILDREN this is at least this process's own peak: Linux carries a process's
    high-water mark across fork and exec, so every child starts with its parent's. Hence
    ``run_child`` below, which reads each child's own peak.
    """
    return round(resource.getrusage(who).ru_maxrss / 1024, 1)


@dataclass(frozen=True)
class ChildRun:
    """A finished subprocess: wall seconds, stdout, and peak RSS in MB."""

    seconds: float
    stdout: str
    peak_rss_mb: float
    descendants_peak_rss_mb: float   # the largest process it started (Prefect's server)


def run_child(command: list[str], env: dict[str, str]) -> ChildRun:
    """Run a subprocess to the end and measure its wall time and memory.

    Peaks are the kernel's VmHWM of the child and of every process it starts (Prefect's
    server), sampled every 20 ms while they run: VmHWM belongs to the process's own memory
    map, so unlike RUSAGE_CHILDREN it does not include ours. Raises with the output's tail if
    the command fails.
    """
    peaks: dict[int, float] = {}
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        process = subprocess.Popen(command, env=env, stdout=out, stderr=err, text=True)
        while True:
            try:
                process.wait(timeout=0.02)
                break
            except subprocess.TimeoutExpired:
                for pid in _process_tree(process.pid):
                    peaks[pid] = max(peaks.get(pid, 0.0), _vm_hwm_mb(pid))
        took = time.perf_counter() - started
        out.seek(0), err.seek(0)
        stdout, stderr = out.read(), err.read()
    if process.returncode:
        raise SystemExit(f"{command[0]} failed ({process.returncode}):\n"
                         f"{stdout[-3000:]}\n{stderr[-3000:]}")
    own = peaks.pop(process.pid, 0.0)
    return ChildRun(took, stdout, own, max(peaks.values(), default=0.0))


def _process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants, from /proc (empty once it has exited)."""
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{current}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
    return tree


def _vm_hwm_mb(pid: int) -> float:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    return 0.0


# --------------------------------------------------------------------------------------------
# How busy the rest of the machine was


def machine_busy_s() -> float:
    """CPU seconds the whole machine has spent busy since boot (all cores, /proc/stat)."""
    ticks = [int(t) for t in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")   # less idle, iowait


def own_cpu_s() -> float:
    """CPU seconds of this process and of the children it has waited for."""
    own, children = (resource.getrusage(w) for w in (resource.RUSAGE_SELF,
                                                     resource.RUSAGE_CHILDREN))
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def wait_for_idle_machine(max_wait: float, *, below: float = 0.15,
                          sample: float = 2.0) -> float:
    """Wait (up to ``max_wait`` s) until other processes use under ``below`` of the CPUs.

    On a small shared machine another job's tests can triple every number here; waiting
    costs little, and the share found is recorded either way. Returns that share.
    """
    deadline = time.monotonic() + max_wait
    while True:
        before = machine_busy_s()
        time.sleep(sample)
        share = (machine_busy_s() - before) / (sample * (os.cpu_count() or 1))
        if share < below or time.monotonic() >= deadline:
            return round(share, 3)


def _require_success(result, what: str) -> None:
    if not result.ok:
        raise SystemExit(f"{what} failed, so its time means nothing:\n{result.summary()}")


def measured_code() -> dict[str, str]:
    """Which package code was measured: the commit, and a hash of the working tree's
    ``workbench/`` (it may hold uncommitted changes)."""
    import hashlib

    digest = hashlib.sha256()
    for path in sorted((REPO / "workbench").rglob("*.py")):
        digest.update(path.relative_to(REPO).as_posix().encode() + path.read_bytes())
    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    return {"commit": commit, "workbench_sources_sha256": digest.hexdigest()[:16]}


def versions() -> dict[str, str]:
    import dbt.version
    import duckdb
    import pandas
    import prefect
    import pyarrow

    return {"python": platform.python_version(), "duckdb": duckdb.__version__,
            "dbt": dbt.version.__version__, "prefect": prefect.__version__,
            "pandas": pandas.__version__, "pyarrow": pyarrow.__version__,
            "machine": f"{platform.machine()}, {os.cpu_count()} cpus"}
