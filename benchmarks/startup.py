"""Start-up benchmark: a fresh-process ``workbench run`` next to the dbt CLI, with and
without the project's Prefect server already up.

    .venv/bin/python benchmarks/startup.py                 # the sample, 100,000 events
    .venv/bin/python benchmarks/startup.py --repeats 3     # medians of three

In one run, on the sample data at ``--rows`` events, every command a new process on a new
copy of the project (no warehouse, no dbt ``target/``: dbt parses from scratch):

(b)     ``dbt build`` from the CLI on the loaded warehouse of (warm), with what dbt built
        dropped and dbt's partial-parse cache removed first: the baseline, what a dbt user
        pays;
(first) ``workbench run`` with a Prefect home never used before: it creates Prefect's
        database and starts the project's server: the very first run on a new machine.
        Target: ``first <= b + 15 s``;
(warm)  ``workbench run`` on another copy while the server (first) started is up: the
        everyday fresh process (a terminal command, a new kernel, a report).
        Target: ``warm <= b + 1 s``;
(noop)  ``workbench run`` again on (warm)'s project: nothing to do;
floors  a new Python process importing only Prefect, only dbt, only the workbench: what any
        fresh process pays before its first node; and ``prefect server start`` alone on a
        new Prefect home until ``/api/health`` answers (then stopped).

For each run it keeps the wall time, the run's own time as it reports it ("success in
11.5s"), the difference (start-up and exit), the server's start as the run printed it, and
the run's own node times (loads run side by side: their longest; steps and actions: their
sum). How close each case came, in the same run: its *floor* is what no fresh process can
go under for the same run, given Prefect and dbt as they are: it must import both (bare
processes, timed alone) before its flow, then do the run's own work (the run's reported
time); a first run also waits for the server, whose start overlaps the imports:

    floor(warm)  = import prefect + import dbt + the run's own time
    floor(first) = max(prefect server start alone on a new home, the imports) + the run's
    target(warm) = b + 1 s,   target(first) = b + 15 s

``cases`` in the JSON (and the printed table) gives, per case, ``wall_s``, ``floor_s``,
``gap_to_floor_s``, ``target_s`` and whether it passed. A target under its floor cannot be
met by the workbench alone. Results go to ``results/startup.json``; the servers started are
stopped at the end.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import json
import os
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import core  # noqa: E402  (benchmarks/core.py: stdlib only at module level)
from core import PYTHON, REPO, RESULTS_DIR  # noqa: E402

WORKBENCH = PYTHON.parent / "workbench"
TARGETS = (("warm within b + 1 s", "warm_minus_b_s", 1.0),
           ("first within b + 15 s", "first_minus_b_s", 15.0))
LIMITS = {"warm": 1.0, "first": 15.0}      # seconds over (b) each case may take
FLOORS = {"import_prefect": "import prefect", "import_dbt": "import dbt.cli.main",
          "import_workbench": "import workbench"}
NODE_LINE = re.compile(r"^\s+\S+ (source|step|action)\s+(\S+)\s.*?([\d.]+)s$", re.MULTILINE)
SERVER_START_TIMEOUT = 600.0


def workbench_run(project: Path, home: Path) -> dict[str, Any]:
    """``workbench run`` in a new process with Prefect home ``home``: wall, own and start-up
    seconds, and the server's start if this run waited for one."""
    env = {**os.environ, "PREFECT_HOME": str(home)}
    cpu = children_cpu_s()
    child = core.run_child([str(WORKBENCH), "--project", str(project), "run"], env)
    cpu = round(children_cpu_s() - cpu, 3)
    own = re.search(r"^run \S+ (\w+) in ([\d.]+)s", child.stdout, re.MULTILINE)
    if own is None or own[1] != "success":
        raise SystemExit(f"workbench run did not succeed:\n{child.stdout[-3000:]}")
    server = re.search(r"starting the project's Prefect server: done in ([\d.]+)s",
                       child.stdout)
    return {"wall_s": round(child.seconds, 3), "run_s": float(own[2]),
            "start_up_and_exit_s": round(child.seconds - float(own[2]), 3),
            "server_start_s": float(server[1]) if server else None,
            "not_dbt_s": not_dbt_seconds(child.stdout), "cpu_s": cpu,
            "peak_rss_mb": child.peak_rss_mb}


def not_dbt_seconds(output: str) -> float:
    """The run's own work that the dbt CLI does not do, from its node lines: the loads (run
    side by side: the longest), the Python steps and the actions (their sum)."""
    took: dict[str, list[float]] = {"source": [], "step": [], "action": []}
    for kind, _, seconds in NODE_LINE.findall(output):
        took[kind].append(float(seconds))
    return round(max(took["source"], default=0.0) + sum(took["step"]) + sum(took["action"]), 3)


def server_start_alone(home: Path) -> float:
    """``prefect server start`` on a new Prefect home, as the shared server runs it, until
    ``/api/health`` answers; then stopped (its process group killed if it lingers)."""
    import httpx

    from workbench.service import prefect_server
    from workbench.service.server import free_port

    port = free_port()
    env = {**os.environ, "PREFECT_HOME": str(home)}
    env.pop("PREFECT_API_URL", None)
    home.mkdir(parents=True)
    started = time.perf_counter()
    with open(home / "server.log", "wb") as log:
        process = subprocess.Popen(
            prefect_server.command(port, str(PYTHON)), env=env, stdout=log,
            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        while True:
            if process.poll() is not None:
                raise SystemExit(f"prefect server start exited; see {home / 'server.log'}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=2).is_success:
                    return round(time.perf_counter() - started, 3)
            if time.perf_counter() - started > SERVER_START_TIMEOUT:
                raise SystemExit(f"prefect server start did not answer in "
                                 f"{SERVER_START_TIMEOUT:.0f}s; see {home / 'server.log'}")
            time.sleep(0.05)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def dbt_cli(project: Path) -> tuple[float, float]:
    """(b): the CLI's ``dbt build`` parsing from scratch, as the fresh copies do; its wall
    and CPU seconds."""
    (project / "dbt" / "target" / "partial_parse.msgpack").unlink(missing_ok=True)
    cpu = children_cpu_s()
    seconds, _ = core.dbt_cli_build(project, project / "data" / "warehouse.duckdb")
    return round(seconds, 3), round(children_cpu_s() - cpu, 3)


def children_cpu_s() -> float:
    """CPU seconds of the child processes waited for so far. A process's CPU time hardly
    moves with the load of the machine, unlike its wall time: on a busy machine the CPU
    ratios (``cpu_over_b``) are the ones to read. (A run's detached server is not its child:
    not counted.)"""
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def floor(statement: str) -> float:
    started = time.perf_counter()
    subprocess.run([str(PYTHON), "-c", statement], check=True, env=os.environ.copy())
    return round(time.perf_counter() - started, 3)


def stop_server(home: Path) -> None:
    from workbench.service import shared

    shared.stop(home)


def one_round(workdir: Path, landing: Path, index: int) -> dict[str, Any]:
    """(first), (warm), (noop) and (b) with a new Prefect home; its server stopped after."""
    home = workdir / f"prefect-home-{index}"
    fresh = [core.make_project(workdir / f"round-{index}-{name}", landing_from=landing)
             for name in ("first", "warm")]
    try:
        first = workbench_run(fresh[0], home)
        warm = workbench_run(fresh[1], home)
        noop = workbench_run(fresh[1], home)
    finally:
        stop_server(home)
    b_wall, b_cpu = dbt_cli(fresh[1])
    return {"first": first, "warm": warm, "noop": noop, "b_dbt_cli_s": b_wall,
            "b_dbt_cli_cpu_s": b_cpu,
            "import_prefect_s": floor(FLOORS["import_prefect"]),
            "server_start_alone_s": server_start_alone(workdir / f"bare-home-{index}")}


def benchmark(rows: int, repeats: int, workdir: Path, idle_wait: float) -> dict[str, Any]:
    r: dict[str, Any] = {"rows": rows, "scale": rows / core.EVENTS_AT_SCALE_1,
                         "timestamp": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                         "code": core.measured_code(), "repeats": repeats}
    sample = core.make_project(workdir / "sample", scale=r["scale"])
    for statement in FLOORS.values():      # untimed: the page cache, as on a used machine
        floor(statement)
    r["machine_busy_share_before"] = core.wait_for_idle_machine(idle_wait)
    started, busy, own = time.perf_counter(), core.machine_busy_s(), core.own_cpu_s()
    r["floors_s"] = {name: floor(statement) for name, statement in FLOORS.items()}
    rounds = [one_round(workdir, sample / "data" / "landing", i) for i in range(repeats)]
    r["rounds"] = rounds
    median = lambda pick: round(statistics.median(pick(x) for x in rounds), 3)  # noqa: E731
    r["b_dbt_cli_s"] = median(lambda x: x["b_dbt_cli_s"])
    r["b_dbt_cli_cpu_s"] = median(lambda x: x["b_dbt_cli_cpu_s"])
    for kind in ("first", "warm", "noop"):
        for key in ("wall_s", "run_s", "start_up_and_exit_s", "cpu_s"):
            r[f"{kind}_{key}"] = median(lambda x: x[kind][key])
        r[f"{kind}_cpu_over_b"] = round(r[f"{kind}_cpu_s"] / r["b_dbt_cli_cpu_s"], 3)
    r["first_server_start_s"] = median(lambda x: x["first"]["server_start_s"] or 0.0)
    r["first_minus_b_s"] = round(r["first_wall_s"] - r["b_dbt_cli_s"], 3)
    r["warm_minus_b_s"] = round(r["warm_wall_s"] - r["b_dbt_cli_s"], 3)
    for key in ("import_prefect_s", "server_start_alone_s"):
        r[key] = median(lambda x: x[key])
    r["cases"] = cases(r)
    other = (core.machine_busy_s() - busy) - (core.own_cpu_s() - own)
    r["other_cpu_share_during"] = round(
        other / ((time.perf_counter() - started) * (os.cpu_count() or 1)), 3)
    r["peak_rss_mb"] = core.peak_rss_mb(resource.RUSAGE_SELF)
    r["versions"] = core.versions()
    r["targets"] = {label: {"value": r[key], "limit_s": limit, "pass": r[key] <= limit}
                    for label, key, limit in TARGETS}
    return r


def cases(r: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per case: its wall time, its floor (module docstring), the gap, the target."""
    out = {}
    for kind in ("warm", "first"):
        imports = r["floors_s"]["import_prefect"] + r["floors_s"]["import_dbt"]
        waited = max(imports, r["server_start_alone_s"]) if kind == "first" else imports
        floor_s = waited + r[f"{kind}_run_s"]
        target_s = r["b_dbt_cli_s"] + LIMITS[kind]
        wall = r[f"{kind}_wall_s"]
        out[kind] = {"wall_s": wall, "floor_s": round(floor_s, 3),
                     "gap_to_floor_s": round(wall - floor_s, 3), "target_s": round(target_s, 3),
                     "pass": wall <= target_s, "target_under_floor": target_s < floor_s}
    return out


def print_report(r: dict[str, Any]) -> None:
    print(f"\nworkbench start-up benchmark: {r['rows']:,} events, median of {r['repeats']}")
    print(f"  (b) dbt build, CLI                 {r['b_dbt_cli_s']:7.2f} s   "
          f"(CPU {r['b_dbt_cli_cpu_s']:.2f} s)")
    for kind, label in (("first", "(first) new Prefect home"), ("warm", "(warm) server up"),
                        ("noop", "(noop) nothing to do")):
        print(f"  {label:<34} {r[f'{kind}_wall_s']:7.2f} s   (run {r[f'{kind}_run_s']:.2f} s, "
              f"start-up and exit {r[f'{kind}_start_up_and_exit_s']:.2f} s; CPU "
              f"{r[f'{kind}_cpu_s']:.2f} s, {r[f'{kind}_cpu_over_b']:.2f}x b's)")
    print(f"  the server's first start           {r['first_server_start_s']:7.2f} s   "
          f"(prefect server start alone, to /api/health: {r['server_start_alone_s']:.2f} s)")
    print("  floors: " + ", ".join(f"{name} {value:.2f} s"
                                   for name, value in r["floors_s"].items())
          + f"; import prefect in the rounds {r['import_prefect_s']:.2f} s")
    print(f"  {'case':<10} {'wall':>8} {'floor':>8} {'gap':>8} {'target':>8}")
    for kind, case in r["cases"].items():
        print(f"  {kind:<10} {case['wall_s']:8.2f} {case['floor_s']:8.2f} "
              f"{case['gap_to_floor_s']:+8.2f} {case['target_s']:8.2f}  "
              f"{'PASS' if case['pass'] else 'MISS'}"
              + ("  (target under the floor)" if case["target_under_floor"] else ""))
    for label, verdict in r["targets"].items():
        print(f"  {'PASS' if verdict['pass'] else 'MISS'} {label}: "
              f"{verdict['value']:+.2f} s (limit {verdict['limit_s']:+.0f} s)")
    busy = max(r["machine_busy_share_before"], r["other_cpu_share_during"])
    if busy > 0.15:
        print(f"  warning: other processes used {busy:.0%} of the CPUs: times are inflated")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=core.EVENTS_AT_SCALE_1,
                        help="events in the sample data (default: %(default)s)")
    parser.add_argument("--repeats", type=int, default=1,
                        help="rounds, each with a new Prefect home; medians reported")
    parser.add_argument("--keep", action="store_true", help="keep the temporary projects")
    parser.add_argument("--idle-wait", type=float, default=300, metavar="SECONDS",
                        help="wait up to this long for other processes to leave the CPUs")
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="workbench-bench-startup-"))
    if args.keep:
        print(f"working in {workdir}")
    else:
        atexit.register(shutil.rmtree, workdir, ignore_errors=True)
    core.isolate_environment(workdir)
    with contextlib.redirect_stdout(sys.stderr):
        report = benchmark(args.rows, args.repeats, workdir, args.idle_wait)
    print_report(report)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    out = RESULTS_DIR / "startup.json"
    out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(f"wrote {out.relative_to(REPO)}")


if __name__ == "__main__":
    main()
