"""Core benchmark: what a workbench run costs, next to dbt's CLI and plain DuckDB SQL.

    .venv/bin/python benchmarks/core.py --rows 100000

One process measures, on the sample data at ``--rows`` events (``demo.generate`` at
``scale = rows / 100_000``), in a throwaway copy of the repo's project:

(a) ``wb.run()`` end to end in a warm process: loads, dbt, Python steps and actions, publish;
(b) ``dbt build`` from the CLI on the same loaded data: what a dbt user pays today;
(c) the same SQL run by DuckDB alone (load, models, tests): the floor no tool can beat
    (Python steps are not SQL: their output is copied in untimed; ``a_steps_s`` is their
    share of (a), and ``a_without_steps_over_c`` the ratio without them);
(d) a second ``wb.run()`` with nothing changed: the price of "just make sure it's fresh";
(e) ``wb.table()`` of the largest mart next to DuckDB's ``.df()`` and its Arrow route;
(f) a first ``wb.run()`` in a fresh Python process, with where its time goes;
(g) a warm build of every dbt node without loads, steps or actions, next to the dbt CLI and
    prefect-dbt's ``PrefectDbtRunner``, and dbt's own floors (``warm_build.py``).

It prints the numbers, the ratios against the targets and peak memory, and writes them to
``benchmarks/results/core-<rows>.json``. (c) takes its SQL from dbt's own manifest, so the
floor stays the same transformations as the dbt project without being maintained by hand.

The parts live beside it: ``harness.py`` (the isolated environment, projects, child
processes, how busy the machine was), ``step_timer.py`` (where a run's time goes),
``floors.py`` ((b) and (c)), ``fresh_run.py`` ((f), also its child process, so that (f)
measures real imports), ``warm_build.py`` ((g)) and ``core_report.py`` (ratios, targets,
the table). Only the standard library is imported at module level: ``workbench``, Prefect
and dbt read their settings when imported, so ``isolate_environment()`` must run first.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

# The parts, in modules of their own; their names stay importable from here, where the other
# benchmarks (loop.py, pipeline.py, service.py, startup.py, warm_build.py) find them.
from core_report import TARGETS, add_ratios, judge_targets, print_report  # noqa: E402,F401
from floors import (MARTS, _build_models, _drop_dbt_output, _load_raw,  # noqa: E402,F401
                    _manifest, _mart_rows, _run_tests, _seed_reader, dbt_cli_build,
                    duckdb_floor, literal)
from fresh_run import fresh_process_run, fresh_run_child  # noqa: E402,F401
from harness import (DBT, EVENTS_AT_SCALE_1, PYTHON, REPO, RESULTS_DIR,  # noqa: E402,F401
                     WARM_UP_SCALE, ChildRun, _process_tree, _require_success, _vm_hwm_mb,
                     best_of, isolate_environment, machine_busy_s, make_project,
                     measured_code, own_cpu_s, peak_rss_mb, run_child, seconds, versions,
                     wait_for_idle_machine, without_actions)
from step_timer import StepTimer, _covered  # noqa: E402,F401

REPEATS = 3                          # (e) keeps the best of this many reads


# --------------------------------------------------------------------------------------------
# (a) and (d): the workbench, warm


def warm_up(workdir: Path, actions: bool = True) -> float:
    """Run once on a tiny throwaway project so imports, Prefect's server and dbt are warm.

    Returns its seconds: a first-ever run (Prefect creates its database) in this process.
    """
    from workbench import Workbench

    project = make_project(workdir / "warm-up", scale=WARM_UP_SCALE, actions=actions)
    took, result = seconds(lambda: Workbench(project).run())
    _require_success(result, "warm-up run")
    return took


def timed_run(wb, prefix: str) -> dict[str, float]:
    """One ``wb.run()`` with its step breakdown, under ``<prefix>_*`` keys."""
    with StepTimer() as timer:
        took, result = seconds(wb.run)
    _require_success(result, f"wb.run() ({prefix})")
    per_node = {f"{prefix}_{_NODE_LABELS[n.kind]}_{n.name}_s": round(n.seconds, 4)
                for n in result.nodes if n.kind in _NODE_LABELS and n.status != "skipped"}
    return {"run_s": took, "notes": list(result.notes), **timer.breakdown(prefix, took),
            **per_node}


# The run's own nodes worth a key of their own: each load, each Python step and action.
_NODE_LABELS = {"source": "load", "step": "step", "action": "action"}



# --------------------------------------------------------------------------------------------
# (e) reading a mart into pandas


def read_largest_mart(wb) -> dict[str, Any]:
    """``wb.table()`` against DuckDB's two routes to pandas, on the same published file."""
    import duckdb

    from workbench.warehouse import resolve

    # DuckDB's own routes read a byte-identical copy: the workbench keeps its reader open
    # on the snapshot, with a configuration of its own that one process cannot mix.
    published = str(shutil.copyfile(wb.config.published,
                                    wb.config.published.with_suffix(".bench-copy.duckdb")))
    with duckdb.connect(published, read_only=True) as con:
        rows = _mart_rows(con)
    table = max(rows, key=rows.get)
    query = f'select * from "{MARTS}"."{table}"'

    def lookup():
        with wb.warehouse.reading() as con:
            return resolve(con, table)

    def duckdb_df():
        with duckdb.connect(published, read_only=True) as con:
            return con.sql(query).df()

    def duckdb_arrow():
        with duckdb.connect(published, read_only=True) as con:
            return con.sql(query).to_arrow_table().to_pandas()

    return {"e_table": table, "e_rows": rows[table],
            "e_table_s": best_of(REPEATS, lambda: wb.table(table)),
            "e_duckdb_df_s": best_of(REPEATS, duckdb_df),
            "e_arrow_s": best_of(REPEATS, duckdb_arrow),
            "e_resolve_s": best_of(REPEATS, lookup)}


# Main


def benchmark(rows: int, workdir: Path, idle_wait: float, actions: bool) -> dict[str, Any]:
    """Every measure, in the order the spec lists them, on one generated data set."""
    from workbench import Workbench

    scale = rows / EVENTS_AT_SCALE_1
    r: dict[str, Any] = {"rows": rows, "scale": scale,
                         "timestamp": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                         "code": measured_code(), "actions": actions}
    r["machine_busy_share_before"] = wait_for_idle_machine(idle_wait)
    started, busy, own = time.perf_counter(), machine_busy_s(), own_cpu_s()
    r["warm_up_s"] = warm_up(workdir, actions)
    r["generate_s"], project = seconds(lambda: make_project(workdir / "project", scale=scale,
                                                            actions=actions))
    wb = Workbench(project)

    a = timed_run(wb, "a")
    r["a_run_s"] = a.pop("run_s")
    r.update({k: v for k, v in a.items() if k != "notes"})
    d = timed_run(wb, "d")
    r["d_noop_s"], r["d_notes"] = d.pop("run_s"), d.pop("notes")
    r.update(d)

    r["b_dbt_cli_s"], r["b_peak_rss_mb"] = dbt_cli_build(project, wb.config.warehouse)
    r.update(duckdb_floor(project, workdir / "floor", wb.config.published))
    r["c_matches_run"] = r["c_mart_rows"] == _published_mart_rows(wb)
    import warm_build     # beside this file; imports workbench, so not at the top

    r.update(warm_build.measure(wb, project))
    r.update(read_largest_mart(wb))

    fresh = make_project(workdir / "fresh", landing_from=project / "data" / "landing",
                         actions=actions)
    r.update(fresh_process_run(fresh))

    # Not ours: other jobs, plus our idle Prefect server (a child never waited for).
    other = (machine_busy_s() - busy) - (own_cpu_s() - own)
    r["other_cpu_share_during"] = round(
        other / ((time.perf_counter() - started) * (os.cpu_count() or 1)), 3)
    r["peak_rss_mb"] = peak_rss_mb(resource.RUSAGE_SELF)
    r["peak_rss_children_rusage_mb"] = peak_rss_mb(resource.RUSAGE_CHILDREN)
    r["versions"] = versions()
    add_ratios(r)
    r["targets"] = judge_targets(r)
    return r


def _published_mart_rows(wb) -> dict[str, int]:
    import duckdb

    with duckdb.connect(str(wb.config.published), read_only=True) as con:
        return _mart_rows(con)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=EVENTS_AT_SCALE_1,
                        help="events in the sample data (default: %(default)s, the sample)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the temporary projects (path printed) for inspection")
    parser.add_argument("--idle-wait", type=float, default=300, metavar="SECONDS",
                        help="wait up to this long for other processes to leave the CPUs "
                             "(default: %(default)s)")
    parser.add_argument("--no-actions", action="store_true",
                        help="leave the project's [actions.*] out (results: core-N-no-actions)")
    parser.add_argument("--fresh-run", metavar="ROOT", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.fresh_run:                 # the child of (f); the parent set up its environment
        fresh_run_child(args.fresh_run)
        return

    workdir = Path(tempfile.mkdtemp(prefix=f"workbench-bench-{args.rows}-"))
    if args.keep:
        print(f"working in {workdir}")
    else:   # registered before Prefect starts its server, so it runs after the server stops
        atexit.register(shutil.rmtree, workdir, ignore_errors=True)
    isolate_environment(workdir)
    with contextlib.redirect_stdout(sys.stderr):   # keep stdout for the report
        report = benchmark(args.rows, workdir, args.idle_wait, not args.no_actions)
    print_report(report)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    out = RESULTS_DIR / f"core-{args.rows}{'-no-actions' if args.no_actions else ''}.json"
    out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(f"wrote {out.relative_to(REPO)}")


if __name__ == "__main__":
    main()
