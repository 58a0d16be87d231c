"""Edit-loop benchmark: what an analyst waits for between two looks at a mart.

    .venv/bin/python benchmarks/loop.py --scale 1
    .venv/bin/python benchmarks/loop.py --scale 10

On the sample company's data at ``--scale`` (``demo.generate``), in a throwaway copy of the
repo's project with its own ``PREFECT_HOME`` (``core.isolate_environment``):

(a) ``workbench status`` in a fresh process, the median of ``--status-rounds``, next to
    ``python -c pass`` and ``python -c "import duckdb"`` in the same rounds (the floors a
    fresh process cannot go under), with ``workbench tables`` alongside and the imports that
    cost ``status`` the most (``python -X importtime``);
(b) in one warm process (a warm-up run on a tiny project, then the project's full build):
    append a comment line to ``dbt/models/marts/user_engagement.sql``, then time ``wb.run()``
    and ``wb.table("user_engagement")`` together, ``--rounds`` times with each executor
    (``InlineExecutor()`` and the default Prefect one), with where the time went
    (``core.StepTimer``: dbt's re-parse, the build, publish, Prefect's machinery) and a check
    that the edit rebuilt that mart and nothing else of dbt's models;
(c) the same loop as a share of the full build's time (the target is set at scale 10);
(d) the loop's floor, measured alone in the same process: after the same edit, dbt re-reading
    the project and one ``dbt build`` of the mart and its tests (the workbench's own dbt call,
    under the write lock: no plan, ledger, publish or Prefect), plus the loops' table read;
    ``floor / full`` beside the loops' share, and each loop over the floor.

Writes ``benchmarks/results/loop-<scale>.json`` and prints the numbers against the targets.
Only the standard library is imported at module level: ``core.isolate_environment`` must run
before Prefect or dbt is imported.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import json
import os
import shutil
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
import pipeline as pipeline_bench  # noqa: E402  (benchmarks/pipeline.py: by_kind, slowest)
from core import PYTHON, REPO, RESULTS_DIR, seconds  # noqa: E402

WORKBENCH = PYTHON.parent / "workbench"     # the CLI a user types, same environment
MART = "user_engagement"
MART_SQL = Path("dbt/models/marts/user_engagement.sql")
EXECUTORS = ("inline", "prefect")

# Targets: (label, key, passes, the scale the target is set at or None for every scale).
TARGETS = (
    ("status < 1 s in a fresh process", "status_s", lambda r: r["status_s"] < 1.0, None),
    ("edit loop <= 1 s, inline", "loop_inline_s", lambda r: r["loop_inline_s"] <= 1.0, 1.0),
    ("edit loop <= 1 s, Prefect", "loop_prefect_s", lambda r: r["loop_prefect_s"] <= 1.0,
     1.0),
    ("edit loop <= 10% of full, inline", "loop_inline_over_full",
     lambda r: r["loop_inline_over_full"] <= 0.10, 10.0),
    ("edit loop <= 10% of full, Prefect", "loop_prefect_over_full",
     lambda r: r["loop_prefect_over_full"] <= 0.10, 10.0),
)


# --------------------------------------------------------------------------------------------
# (a) fresh processes


def fresh_processes(project: Path, rounds: int) -> dict[str, Any]:
    """Each command's wall time in a new process, rounds interleaved so that a busy moment of
    the machine weighs on all of them alike; medians, and every sample."""
    env = {**os.environ}
    commands = {
        "python_pass": [str(PYTHON), "-c", "pass"],
        "import_duckdb": [str(PYTHON), "-c", "import duckdb"],
        "status": [str(WORKBENCH), "status"],
        "tables": [str(WORKBENCH), "tables"],
    }
    samples: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(rounds):
        for name, command in commands.items():
            started = time.perf_counter()
            done = subprocess.run(command, cwd=project, env=env, capture_output=True,
                                  text=True)
            samples[name].append(time.perf_counter() - started)
            if done.returncode:
                raise SystemExit(f"{' '.join(command)} failed ({done.returncode}):\n"
                                 f"{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
            if name == "status" and "last runs:" not in done.stdout:
                raise SystemExit(f"workbench status lists no run:\n{done.stdout}")
    out: dict[str, Any] = {f"{name}_s": round(statistics.median(values), 3)
                           for name, values in samples.items()}
    out["samples_s"] = {name: [round(v, 3) for v in values] for name, values in samples.items()}
    out["status_imports_s"] = status_imports(project, env)
    return out


def status_imports(project: Path, env: dict[str, str], top: int = 8) -> dict[str, float]:
    """The top-level imports of one ``workbench status`` and their cumulative seconds, the
    largest first (``python -X importtime``): where a fresh process's time goes."""
    done = subprocess.run([str(PYTHON), "-X", "importtime", "-m", "workbench.cli", "status"],
                          cwd=project, env=env, capture_output=True, text=True)
    found: dict[str, float] = {}
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cumulative, name = line.split("|")
        if name.startswith(" ") and not name.startswith("  "):     # depth 0: one space
            with contextlib.suppress(ValueError):
                found[name.strip()] = int(cumulative) / 1e6
    biggest = sorted(found.items(), key=lambda item: -item[1])[:top]
    return {name: round(value, 3) for name, value in biggest}


# --------------------------------------------------------------------------------------------
# (b) and (c): the warm edit loop


def edit_mart(project: Path, mark: str) -> None:
    """Append a comment line: the model's SQL, hence its definition key, changes; its
    result does not."""
    path = project / MART_SQL
    path.write_text(path.read_text() + f"\n-- edited by benchmarks/loop.py: {mark}\n")


def one_loop(wb, project: Path, executor_name: str, mark: str) -> dict[str, Any]:
    """Edit, then ``wb.run()`` and ``wb.table(MART)``: seconds and where they went."""
    from workbench import InlineExecutor

    executor = InlineExecutor() if executor_name == "inline" else None
    edit_mart(project, mark)
    with core.StepTimer() as timer:
        run_s, result = seconds(lambda: wb.run(executor=executor, on_node=lambda node: None))
    table_s, frame = seconds(lambda: wb.table(MART))
    if not result.ok:
        raise SystemExit(f"the edit loop's run failed:\n{result.summary()}")
    models = sorted(n.name for n in result.nodes if n.kind == "model" and n.status != "skipped")
    if models != [MART]:
        raise SystemExit(f"editing {MART_SQL} rebuilt the models {models}, not [{MART!r}]")
    steps = timer.breakdown("x", run_s)
    return {"total_s": round(run_s + table_s, 3), "run_s": round(run_s, 3),
            "table_s": round(table_s, 3), "rows": len(frame),
            "ran": sorted(n.name for n in result.nodes
                          if n.status != "skipped" and n.kind != "source"),
            "by_step": {k[2:-2] if k.endswith("_s") else k[2:]: v for k, v in steps.items()},
            "by_kind": pipeline_bench.by_kind(result, run_s)}


def edit_loops(wb, project: Path, rounds: int) -> dict[str, Any]:
    """``rounds`` loops per executor, alternating executors; the median round of each."""
    loops: dict[str, list[dict[str, Any]]] = {name: [] for name in EXECUTORS}
    for i in range(rounds):
        for name in EXECUTORS:
            loops[name].append(one_loop(wb, project, name, f"{name} {i}"))
    out: dict[str, Any] = {}
    for name, done in loops.items():
        median = sorted(done, key=lambda loop: loop["total_s"])[len(done) // 2]
        out[f"loop_{name}_s"] = median["total_s"]
        out[f"loop_{name}_run_s"] = median["run_s"]
        out[f"loop_{name}_table_s"] = median["table_s"]
        out[f"loop_{name}_median_round"] = median
        out[f"loop_{name}_rounds_s"] = [loop["total_s"] for loop in done]
    return out


def edit_floor(wb, project: Path, rounds: int, table_s: float) -> dict[str, Any]:
    """(d): the least the edit loop could cost here; medians of ``rounds`` edits.

    Leaves the mart's new definition unrecorded, so the next ``wb.run()`` rebuilds it: run
    it after the loops.
    """
    pipeline = wb.pipeline
    graph = wb.graph()
    mart = next(i for i, n in graph.nodes.items() if n.kind == "model" and n.name == MART)
    names = [MART, *sorted(graph.nodes[t].name for t in graph.tests_of({mart}))]
    parse, build = [], []
    for i in range(rounds):
        edit_mart(project, f"floor {i}")
        with pipeline.warehouse.writing():
            parse_s, _ = seconds(pipeline.dbt.manifest)
            build_s, nodes = seconds(lambda: pipeline.dbt.build(names, exact=True))
        if sorted(n.name for n in nodes) != sorted(names) or any(n.failed for n in nodes):
            raise SystemExit(f"the floor's build of {names} did not succeed: {nodes}")
        parse.append(parse_s)
        build.append(build_s)
    parse_s, build_s = statistics.median(parse), statistics.median(build)
    return {"loop_floor_s": round(parse_s + build_s + table_s, 3),
            "loop_floor_parts": {"dbt_reread_s": round(parse_s, 3),
                                 "dbt_build_s": round(build_s, 3), "table_s": table_s,
                                 "built": names, "rounds_parse_s": parse,
                                 "rounds_build_s": build}}


# --------------------------------------------------------------------------------------------
# The whole benchmark


def benchmark(scale: float, workdir: Path, rounds: int, status_rounds: int) -> dict[str, Any]:
    from workbench import Workbench

    r: dict[str, Any] = {"scale": scale,
                         "timestamp": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                         "code": core.measured_code()}
    r["warm_up_s"] = round(core.warm_up(workdir), 2)
    r["generate_s"], project = seconds(lambda: core.make_project(workdir / "project",
                                                                  scale=scale))
    wb = Workbench(project)
    full_s, full, full_breakdown = pipeline_bench.timed_run(wb, "full")
    r["full_build_s"] = round(full_s, 3)
    r["full_build_breakdown"] = full_breakdown
    r["events"] = next(n.rows for n in full.nodes if n.name == "events")

    busy_before, own_before = core.machine_busy_s(), core.own_cpu_s()
    started = time.perf_counter()
    r.update(fresh_processes(project, status_rounds))
    r.update(edit_loops(wb, project, rounds))
    r.update(edit_floor(wb, project, rounds, r["loop_inline_table_s"]))
    elapsed = time.perf_counter() - started
    other = (core.machine_busy_s() - busy_before) - (core.own_cpu_s() - own_before)
    r["other_cpu_share_during"] = round(max(0.0, other) / (elapsed * (os.cpu_count() or 1)), 3)

    r["status_over_import_duckdb"] = round(r["status_s"] / r["import_duckdb_s"], 2)
    r["loop_floor_over_full"] = round(r["loop_floor_s"] / full_s, 4)
    for name in EXECUTORS:
        r[f"loop_{name}_over_full"] = round(r[f"loop_{name}_s"] / full_s, 4)
        r[f"loop_{name}_over_floor"] = round(r[f"loop_{name}_s"] / r["loop_floor_s"], 2)
    r["versions"] = core.versions()
    r["targets"] = {label: {"key": key, "value": r[key], "met": bool(passes(r)),
                            "set_at_scale": at}
                    for label, key, passes, at in TARGETS}
    return r


def print_report(r: dict[str, Any]) -> None:
    print(f"\nedit loop, scale {r['scale']:g} ({r['events']:,} events); full build "
          f"{r['full_build_s']:.2f}s")
    print(f"  fresh process (median of {len(r['samples_s']['status'])}): python -c pass "
          f"{r['python_pass_s']:.2f}s · import duckdb {r['import_duckdb_s']:.2f}s · "
          f"workbench status {r['status_s']:.2f}s · workbench tables {r['tables_s']:.2f}s")
    for name in EXECUTORS:
        loop = r[f"loop_{name}_median_round"]
        steps = loop["by_step"]
        print(f"  edit -> wb.run() + wb.table(), {name:<7}: {r[f'loop_{name}_s']:.2f}s "
              f"(run {loop['run_s']:.2f}s, table {loop['table_s']:.2f}s; dbt parse "
              f"{steps['dbt_parse']:.2f}s, build {steps['dbt_build']:.2f}s, publish "
              f"{steps['publish']:.2f}s, other {steps['prefect_other']:.2f}s) = "
              f"{r[f'loop_{name}_over_full']:.1%} of the full build")
    floor = r["loop_floor_parts"]
    print(f"  floor (alone: dbt re-read {floor['dbt_reread_s']:.2f}s + build of {MART} and "
          f"{len(floor['built']) - 1} tests {floor['dbt_build_s']:.2f}s + table "
          f"{floor['table_s']:.2f}s): {r['loop_floor_s']:.2f}s = "
          f"{r['loop_floor_over_full']:.1%} of the full build; loops over the floor: inline "
          f"{r['loop_inline_over_floor']:.2f}x, Prefect {r['loop_prefect_over_floor']:.2f}x")
    for label, target in r["targets"].items():
        scope = "" if target["set_at_scale"] in (None, r["scale"]) else \
            f" (target set at scale {target['set_at_scale']:g})"
        print(f"  {'met ' if target['met'] else 'MISS'} {label}: {target['value']}{scope}")
    if r["other_cpu_share_during"] > 0.15:
        print(f"  note: other processes used {r['other_cpu_share_during']:.0%} of the CPUs "
              f"meanwhile; the times are inflated")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0,
                        help="demo data scale: 1 = 100,000 events (default: %(default)s)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="edit loops per executor (default: %(default)s)")
    parser.add_argument("--status-rounds", type=int, default=5,
                        help="fresh processes per command (default: %(default)s)")
    parser.add_argument("--idle-wait", type=float, default=300.0,
                        help="seconds to wait for other processes to leave the CPUs")
    parser.add_argument("--keep", action="store_true",
                        help="keep the temporary project (path printed) for inspection")
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix=f"workbench-bench-loop-{args.scale:g}-"))
    if args.keep:
        print(f"working in {workdir}")
    else:   # registered first, so it runs last: after the shared server has stopped
        atexit.register(shutil.rmtree, workdir, ignore_errors=True)
    core.isolate_environment(workdir)
    busy = core.wait_for_idle_machine(args.idle_wait)
    with contextlib.redirect_stdout(sys.stderr):   # keep stdout for the report
        report = benchmark(args.scale, workdir, args.rounds, args.status_rounds)
    report["machine_busy_share_before"] = busy
    print_report(report)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    out = RESULTS_DIR / f"loop-{args.scale:g}.json"
    out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(f"wrote {out.relative_to(REPO)}")


if __name__ == "__main__":
    main()
