"""Service benchmark: from a file landing to its mart rebuilt and published, under ``serve``.

    .venv/bin/python benchmarks/service.py                  # scale 0.1, 10 files, 3 slow
    .venv/bin/python benchmarks/service.py --scale 1 --files 20 --rounds 5

In a throwaway copy of the project (data from ``demo.generate``), with a Prefect server of its
own on 127.0.0.1 (``service.LocalPrefectServer``, temporary home):

(1) ``delay``: ``workbench serve`` runs (warm: it loads and builds in its own process); one
    events file after another lands (written as ``*.part``, renamed into place), each timed
    from its rename until a reader of the published warehouse sees the service's build of
    ``sources: events`` (the events marts rebuilt, tested and published). Median and p95
    over ``--files`` files;
(2) ``delay_beside_slow``: the same, while an invoices file landed a moment before is held
    in its reader for the whole round (a custom reader that sleeps): the slow source must not
    delay the events; median of ``--rounds``. These rounds are spread among those of (1), so
    a noisy stretch of the machine weighs on both alike, and each is also compared with the
    plain round just before it (``paired_slow_over_plain``, the median of those ratios);
(3) ``cli``: the baseline, the serve process stopped: each round drops one new events file and
    times ``workbench run --source events`` as a fresh process (the same server, so no
    temporary one): what a person would run by hand. Median of ``--rounds``.

Each round also says where its time went, from the run's record: landing to the run's
start (watcher, batch, flow run start, staging), the run itself, and its end to the reader
seeing it published.

Targets: median delay < 5 s, p95 < 10 s, and ``delay_beside_slow / delay < 1.25``
(isolation); ``delay / cli`` is reported. Writes ``benchmarks/results/service-<scale>.json``.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import core  # noqa: E402  (benchmarks/core.py: stdlib only at module level)
from core import REPO, RESULTS_DIR  # noqa: E402

BIN = Path(sys.executable).parent
SLOW_SECONDS = 12.0        # how long the invoices reader holds its file in (2)
SLOW_READER = f"""
import time

def read(con, path, options, types=None):
    if "late-export" in path:
        time.sleep({SLOW_SECONDS})
    return con.read_csv(path, **({{"dtype": types}} if types else {{}}))
"""
TARGETS = (
    ("file to mart published, median < 5 s", "delay_s", lambda r: r["delay_s"] < 5),
    ("file to mart published, p95 < 10 s", "delay_p95_s", lambda r: r["delay_p95_s"] < 10),
    ("slow source costs the others < 25%", "slow_over_plain",
     lambda r: r["slow_over_plain"] < 1.25),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.1)
    parser.add_argument("--files", type=int, default=10, help="files landed for (1)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of (2) and (3)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary project")
    parser.add_argument("--idle-wait", type=float, default=300.0)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="workbench-bench-service-"))
    core.isolate_environment(workdir)
    from workbench.service import LocalPrefectServer

    busy_before = core.wait_for_idle_machine(args.idle_wait)
    root = core.make_project(workdir / "project", scale=args.scale)
    (root / "slow_reader.py").write_text(SLOW_READER)
    config = root / "workbench.toml"
    config.write_text(config.read_text().replace(
        'path = "invoices/*.csv"\nformat = "csv"',
        'path = "invoices/*.csv"\nreader = "slow_reader.py:read"'))
    server = LocalPrefectServer(workdir / "server-home")
    env = {**os.environ, "PREFECT_API_URL": server.start()}
    result: dict = {"scale": args.scale, "files": args.files, "rounds": args.rounds,
                    "machine_busy_share_before": busy_before}
    try:
        _cli(root, env)                                    # the first, full build
        service, started = _serve(root, env, workdir / "serve.log")
        result["serve_start_s"] = round(started, 2)
        try:
            plain, beside = _rounds(root, args.files, args.rounds)
        finally:
            service.terminate()
            service.wait(timeout=60)
        cli = []
        for n in range(args.rounds):
            _new_events(root, 200 + n)
            started = time.perf_counter()
            _cli(root, env, "--source", "events")
            cli.append(time.perf_counter() - started)
    finally:
        server.stop()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    delays = [r["delay_s"] for r in plain]
    beside_delays = [r["delay_s"] for r in beside]
    result.update({
        "delay_s": round(statistics.median(delays), 2),
        "delay_p95_s": round(_p95(delays), 2), "delays_s": delays,
        "delay_beside_slow_s": round(statistics.median(beside_delays), 2),
        "delays_beside_slow_s": beside_delays,
        "paired_slow_over_plain": round(statistics.median(
            r["delay_s"] / r["plain_before_s"] for r in beside), 2),
        "parts_median_s": _parts_median(plain), "parts_beside_slow_median_s":
        _parts_median(beside), "rounds_plain": plain, "rounds_beside_slow": beside,
        "cli_s": round(statistics.median(cli), 2), "cli_runs_s": _rounded(cli)})
    result["slow_over_plain"] = round(result["delay_beside_slow_s"] / result["delay_s"], 2)
    result["delay_over_cli"] = round(result["delay_s"] / result["cli_s"], 2)
    result["versions"] = core.versions()
    _report(result, RESULTS_DIR / f"service-{args.scale:g}.json")


def _p95(values: list[float]) -> float:
    """The 95th percentile, interpolated between the closest ranks (the maximum of fewer
    than 20 values is not taken as it is)."""
    return statistics.quantiles(values, n=20, method="inclusive")[18]


def _serve(root: Path, env: dict, log: Path) -> tuple[subprocess.Popen, float]:
    """``workbench serve`` started, and the seconds until it said it watches (its start,
    dbt's parse included)."""
    started = time.perf_counter()
    with log.open("w") as out:
        process = subprocess.Popen([str(BIN / "workbench"), "--project", str(root), "serve"],
                                   env=env, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 180
    while "watching" not in log.read_text():
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"serve did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.2)
    return process, time.perf_counter() - started


def _rounds(root: Path, files: int, slow_rounds: int) -> tuple[list[dict], list[dict]]:
    """``files`` plain rounds, with ``slow_rounds`` rounds beside a slow source spread
    evenly among them (each after a plain one, which it is paired with)."""
    slow_after = {round((i + 1) * files / slow_rounds) - 1 for i in range(slow_rounds)}
    plain, beside = [], []
    for n in range(files):
        plain.append(_round(root, n, slow=False))
        if n in slow_after:
            beside.append({**_round(root, 100 + n, slow=True),
                           "plain_before_s": plain[-1]["delay_s"]})
    return plain, beside


def _parts_median(rounds: list[dict]) -> dict:
    return {part: round(statistics.median(r[part] for r in rounds), 2)
            for part in ("to_start_s", "run_s", "to_seen_s")}


def _round(root: Path, n: int, *, slow: bool) -> dict:
    """A new events file landing to the service's build of it published: the seconds, and
    where they went (from the run's record in ``_workbench.runs``)."""
    before, invoices_before = _service_builds(root, "events"), _service_builds(root, "invoices")
    if slow:
        invoices = root / "data" / "landing" / "invoices"
        first = sorted(invoices.glob("*.csv"))[0]
        (invoices / f"2027-{n:03d}-late-export.csv").write_text(
            first.read_text().replace("INV-", f"L{n}-"))
    started = _new_events(root, n)        # timed from the rename into place
    landed = time.time()
    _wait(lambda: _service_builds(root, "events") > before, f"round {n}: events marts")
    delay = time.perf_counter() - started
    seen = time.time()
    run_started, run_finished = _latest_run(root, "events")
    if slow:        # the held invoices finish before the next round, untimed
        _wait(lambda: _service_builds(root, "invoices") > invoices_before,
              f"round {n}: invoices marts")
    print(f"round {n}{' (beside a slow source)' if slow else ''}: {delay:.1f}s", flush=True)
    return {"delay_s": round(delay, 2), "to_start_s": round(run_started - landed, 2),
            "run_s": round(run_finished - run_started, 2),
            "to_seen_s": round(seen - run_finished, 2)}


def _wait(check, what: str, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} not rebuilt in {timeout:.0f}s")
        time.sleep(0.1)


def _service_builds(root: Path, source: str) -> int:
    """The service's successful builds downstream of ``source``, as published."""
    return int(_reader(root).sql(
        "select count(*) from _workbench.runs where trigger = 'service' "
        "and status = 'success' and selection = ?", [f"sources: {source}"]).iloc[0, 0])


def _latest_run(root: Path, source: str) -> tuple[float, float]:
    """The start and end (epoch seconds) of the service's latest build of ``source``."""
    started, finished = _reader(root).sql(
        "select epoch(started_at), epoch(finished_at) from _workbench.runs "
        "where trigger = 'service' and selection = ? order by started_at desc limit 1",
        [f"sources: {source}"]).iloc[0]
    return float(started), float(finished)


@functools.cache
def _reader(root: Path):
    """One Workbench for the benchmark's reads: a reader of the published warehouse, light
    enough to ask every 0.1 s without slowing the service down."""
    from workbench import Workbench

    return Workbench(root)


def _new_events(root: Path, n: int) -> float:
    """A copy of the first events file with new ids, written under a temporary name and
    renamed, as an export job would."""
    import duckdb

    events = root / "data" / "landing" / "events"
    first = sorted(events.glob("*.parquet"))[0]
    target = events / f"2027-{n:03d}.parquet"
    partial = target.with_suffix(".parquet.part")
    offset = 1_000_000_000 * (n + 1)
    with duckdb.connect() as con:
        con.execute(f"copy (select * replace (event_id + {offset} as event_id) "
                    f"from read_parquet('{first}')) to '{partial}' (format parquet)")
    partial.rename(target)
    return time.perf_counter()


def _cli(root: Path, env: dict, *args: str) -> None:
    done = subprocess.run([str(BIN / "workbench"), "--project", str(root), "run", *args],
                          env=env, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"workbench run {' '.join(args)} failed:\n"
                           f"{done.stdout[-3000:]}{done.stderr[-3000:]}")


def _rounded(values: list[float]) -> list[float]:
    return [round(v, 2) for v in values]


def _report(result: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    for label, key, passes in TARGETS:
        print(f"{label:<40} {key} = {result[key]:<6} {'pass' if passes(result) else 'MISS'}")
    print(f"written to {path.relative_to(REPO)}")


if __name__ == "__main__":
    main()
