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

Only the standard library is imported at module level: ``workbench``, Prefect and dbt read
their settings when imported, so ``isolate_environment()`` must run first. The same file is
also the child process of (f) (``--fresh-run ROOT``), so that (f) measures real imports.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import functools
import graphlib
import importlib
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RESULTS_DIR = REPO / "benchmarks" / "results"
PYTHON = Path(sys.executable)
DBT = PYTHON.parent / "dbt"          # the dbt CLI of the same environment as this Python
EVENTS_AT_SCALE_1 = 100_000          # demo.generate(scale=1) writes this many events
WARM_UP_SCALE = 0.01                 # the smallest sample: every model and test has rows
MARTS = "marts"                      # the schema whose largest table (e) reads
REPEATS = 3                          # (e) keeps the best of this many reads

# Targets: (label, key in the report, how to read it, the size the target is set at or None).
TARGETS = (
    ("d under 0.5 s", "d_noop_s", lambda r: r["d_noop_s"] < 0.5, None),
    ("g under 0.3 dbt CLI", "g_over_cli", lambda r: r["g_over_cli"] <= 0.3, 100_000),
    ("a/c under 1.25", "a_over_c", lambda r: r["a_over_c"] < 1.25, 10_000_000),
    ("e within 10% of Arrow", "e_over_arrow", lambda r: r["e_over_arrow"] <= 1.10, None),
    ("f within b + 2 s", "f_minus_b_s", lambda r: r["f_minus_b_s"] <= 2.0, None),
)


# --------------------------------------------------------------------------------------------
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


# --------------------------------------------------------------------------------------------
# Where a run's time goes


# What StepTimer wraps: label -> (module, class, method); a method the package no longer has
# is skipped. Some nest (build and plan call manifest(), finish calls publish) and the
# scheduler runs loads and builds in parallel threads, so steps are kept as time intervals.
_STEPS = {
    "dbt_manifest": ("workbench.transform", "DbtProject", "manifest"),
    "dbt_fingerprint": ("workbench.transform", "DbtProject", "fingerprint"),
    "plan": ("workbench.pipeline", "Pipeline", "plan"),
    "scan": ("workbench.units", "Units", "scan"),
    "load": ("workbench.units", "Units", "load"),
    "dbt_build": ("workbench.units", "Units", "build"),
    "steps": ("workbench.units", "Units", "run_step"),
    "finish": ("workbench.pipeline", "Pipeline", "finish"),
    "publish": ("workbench.warehouse", "Warehouse", "publish"),
}
# The steps that do not nest in each other; whatever time none of them covers is Prefect's
# flow and task machinery and the scheduler's bookkeeping.
_TOP_LEVEL = ("plan", "scan", "load", "dbt_build", "steps", "finish")

Interval = tuple[float, float]


class StepTimer:
    """Wall time of each pipeline step inside one ``wb.run()``, without a second run.

    Wraps the classes' methods (not instances: the pipeline may be copied on its way into
    Prefect tasks) for the length of a ``with`` block, and restores them afterwards.
    """

    def __init__(self) -> None:
        self.calls: dict[str, list[Interval]] = {label: [] for label in _STEPS}
        self._originals: list[tuple[type, str, Callable]] = []

    def __enter__(self) -> StepTimer:
        for label, (module, cls_name, method) in _STEPS.items():
            cls = getattr(importlib.import_module(module), cls_name)
            original = getattr(cls, method, None)
            if original is not None:
                self._originals.append((cls, method, original))
                setattr(cls, method, self._timed(label, original))
        return self

    def __exit__(self, *exc) -> None:
        for cls, method, original in reversed(self._originals):
            setattr(cls, method, original)

    def _timed(self, label: str, original: Callable) -> Callable:
        @functools.wraps(original)
        def wrapper(*args, **kwargs):
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.calls[label].append((started, time.perf_counter()))
        return wrapper

    def breakdown(self, prefix: str, total: float) -> dict[str, float]:
        """Wall time each step was running (overlaps counted once), and what no step covers.

        ``dbt_parse`` is the first manifest() call, before the flow starts; later calls are
        cached lookups inside other steps. ``publish`` is part of ``finish``.
        """
        parse = self.calls["dbt_manifest"][:1]
        steps = {"dbt_parse": _covered(parse)}
        steps.update({label: _covered(self.calls[label]) for label in _TOP_LEVEL})
        steps["publish"] = _covered(self.calls["publish"])
        every = parse + [i for label in _TOP_LEVEL for i in self.calls[label]]
        steps["prefect_other"] = total - _covered(every)
        steps["dbt_fingerprint_all_calls"] = sum(end - start for start, end
                                                 in self.calls["dbt_fingerprint"])
        report = {f"{prefix}_{name}_s": round(value, 4) for name, value in steps.items()}
        report[f"{prefix}_dbt_invocations"] = len(self.calls["dbt_build"])
        return report


def _covered(intervals: list[Interval]) -> float:
    """Seconds covered by at least one interval."""
    covered, reach = 0.0, float("-inf")
    for start, end in sorted(intervals):
        if end > reach:
            covered += end - max(start, reach)
            reach = end
    return covered


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


def _require_success(result, what: str) -> None:
    if not result.ok:
        raise SystemExit(f"{what} failed, so its time means nothing:\n{result.summary()}")


# --------------------------------------------------------------------------------------------
# (b) dbt's CLI


def dbt_cli_build(project: Path, warehouse: Path) -> tuple[float, float]:
    """``dbt build`` as a subprocess on the loaded warehouse, after dropping dbt's output.

    Dropping what (a) built makes the CLI do the same work as (a)'s first build: every view
    and table created, the incremental model built in full, every test run. Returns the
    seconds and the CLI's peak RSS in MB.
    """
    _drop_dbt_output(warehouse, _manifest(project, compiled=False))
    env = {**os.environ, "WORKBENCH_WAREHOUSE": str(warehouse), "DO_NOT_TRACK": "1"}
    command = [str(DBT), "build", "--project-dir", str(project / "dbt"),
               "--profiles-dir", str(project / "dbt")]
    run = run_child(command, env)
    return run.seconds, run.peak_rss_mb


def _drop_dbt_output(warehouse: Path, manifest: dict) -> None:
    """Drop every table and view dbt builds (raw data, step outputs and records stay)."""
    import duckdb

    built = {(node["schema"], node["alias"]) for node in manifest["nodes"].values()
             if node["resource_type"] in ("model", "seed", "snapshot")
             and node["config"].get("materialized") != "ephemeral"}
    with duckdb.connect(str(warehouse)) as con:
        existing = con.execute("select table_schema, table_name, table_type "
                               "from information_schema.tables "
                               "where table_catalog = current_database()").fetchall()
        for schema, name, kind in existing:
            if (schema, name) in built:
                what = "view" if kind == "VIEW" else "table"
                con.execute(f'drop {what} "{schema}"."{name}"')


def _manifest(project: Path, *, compiled: bool = True) -> dict:
    """dbt's ``target/manifest.json``; ``compiled``: with every node's compiled SQL.

    The workbench's builds do not rewrite the file (``--no-write-json``): the one its parse
    wrote has no compiled SQL, so when it is asked for, ``dbt compile`` writes it first.
    """
    path = project / "dbt" / "target" / "manifest.json"
    manifest = json.loads(path.read_text())
    if compiled and any(node.get("compiled_code") is None for node in manifest["nodes"].values()
                        if node["resource_type"] in ("model", "test")):
        from workbench.config import load_config

        env = {**os.environ, "DO_NOT_TRACK": "1",
               "WORKBENCH_WAREHOUSE": str(load_config(project).warehouse)}
        run_child([str(DBT), "compile", "--project-dir", str(project / "dbt"),
                   "--profiles-dir", str(project / "dbt")], env)
        manifest = json.loads(path.read_text())
    return manifest


# --------------------------------------------------------------------------------------------
# (c) the floor: DuckDB alone


_READERS = {"csv": "read_csv", "parquet": "read_parquet", "json": "read_json"}


def duckdb_floor(project: Path, floor_dir: Path, published: Path) -> dict[str, Any]:
    """Load the raw files, build every model and run every test with DuckDB alone.

    The SQL is dbt's compiled SQL from ``target/manifest.json``. The database file has the
    warehouse's file name, so the catalog name in that SQL (``"warehouse"."marts"...``)
    resolves to it unchanged. Python is not SQL: what steps and custom readers wrote in the
    run is copied in, untimed, so the models that read it can be built (``a_steps_s`` is
    the steps' cost inside (a)).
    """
    import duckdb

    from workbench.config import load_config

    config = load_config(project)
    manifest = _manifest(project)
    floor_dir.mkdir()
    con = duckdb.connect(str(floor_dir / config.warehouse.name))
    try:
        load_s, loads = seconds(lambda: _load_raw(con, config))
        _copy_from_run(con, _written_by_python(config, manifest), published)
        models_s, _ = seconds(lambda: _build_models(con, project / "dbt", manifest))
        tests_s, failures = seconds(lambda: _run_tests(con, manifest))
        marts = _mart_rows(con)
    finally:
        con.close()
    return {"c_duckdb_sql_s": load_s + models_s + tests_s, "c_load_s": load_s,
            "c_models_s": models_s, "c_tests_s": tests_s, "c_test_failures": failures,
            "c_mart_rows": marts, **loads}


def _load_raw(con, config) -> dict[str, float]:
    """Each source in one statement, with the two lineage columns the loader adds.

    Returns the seconds per source, to set against the run's own loads (``a_load_*``).
    """
    con.execute(f'create schema if not exists "{config.raw_schema}"')
    took = {}
    prefix = f"{config.landing}/"
    for source in config.sources:
        if getattr(source, "reader", None):   # a custom Python reader: see _written_by_python
            continue
        options = {"filename": True, **source.options}
        if source.format == "json" and source.path.endswith((".jsonl", ".ndjson")):
            options.setdefault("format", "newline_delimited")
        args = ", ".join([literal(str(config.landing / source.path)),
                          *(f"{key} = {literal(value)}" for key, value in options.items())])
        took[f"c_load_{source.name}_s"], _ = seconds(lambda: con.execute(
            f'create or replace table "{config.raw_schema}"."{source.name}" as '
            f"select * exclude (filename), current_timestamp::timestamp as _loaded_at, "
            f"replace(filename, {literal(prefix)}, '') as _source_file "
            f"from {_READERS[source.format]}({args})"))
    return took


def _written_by_python(config, manifest: dict) -> set[tuple[str, str]]:
    """The dbt sources no DuckDB reader can load: step outputs, custom readers' tables."""
    custom = {s.name for s in config.sources if getattr(s, "reader", None)}
    return {(node["schema"], node["identifier"]) for node in manifest["sources"].values()
            if node["schema"] != config.raw_schema or node["identifier"] in custom}


def _copy_from_run(con, tables: set[tuple[str, str]], published: Path) -> None:
    """Copy ``(schema, table)`` pairs from the run's published warehouse."""
    if not tables:
        return
    con.execute(f"attach {literal(str(published))} as run (read_only)")
    try:
        for schema, table in sorted(tables):
            con.execute(f'create schema if not exists "{schema}"')
            con.execute(f'create or replace table "{schema}"."{table}" as '
                        f'select * from run."{schema}"."{table}"')
    finally:
        con.execute("detach run")


def _build_models(con, dbt_dir: Path, manifest: dict) -> None:
    """Seeds and models in dependency order, materialised as dbt would (views or tables)."""
    nodes = {uid: node for uid, node in manifest["nodes"].items()
             if node["resource_type"] in ("model", "seed")}
    order = graphlib.TopologicalSorter(
        {uid: [d for d in node["depends_on"].get("nodes", []) if d in nodes]
         for uid, node in nodes.items()}).static_order()
    for schema in {node["schema"] for node in nodes.values()}:
        con.execute(f'create schema if not exists "{schema}"')
    for uid in order:
        node = nodes[uid]
        if node["resource_type"] == "seed":
            con.execute(f"create or replace table {node['relation_name']} as "
                        f"select * from {_seed_reader(dbt_dir, node)}")
        elif node["config"]["materialized"] != "ephemeral":   # ephemerals are inlined
            kind = "view" if node["config"]["materialized"] == "view" else "table"
            con.execute(f"create or replace {kind} {node['relation_name']} as "
                        f"{node['compiled_code']}")


def _seed_reader(dbt_dir: Path, node: dict) -> str:
    path = literal(str(dbt_dir / node["original_file_path"]))
    types = node["config"].get("column_types") or {}
    return f"read_csv({path}, header = true, types = {literal(types)})" if types else \
        f"read_csv({path}, header = true)"


def _run_tests(con, manifest: dict) -> int:
    """Every test's query once, counted as dbt counts failures; returns the failing rows."""
    failures = 0
    for node in manifest["nodes"].values():
        if node["resource_type"] == "test":
            failures += con.execute(f"select count(*) from ({node['compiled_code']}) "
                                    f"as dbt_internal_test").fetchone()[0]
    return failures


def _mart_rows(con) -> dict[str, int]:
    tables = con.execute("select table_name from information_schema.tables where "
                         "table_schema = ? and table_type = 'BASE TABLE'", [MARTS]).fetchall()
    return {t: con.execute(f'select count(*) from "{MARTS}"."{t}"').fetchone()[0]
            for t, in sorted(tables)}


def literal(value: Any) -> str:
    """A DuckDB literal, rendered exactly as the workbench's loaders render reader options
    (imported late: workbench must not be imported before ``isolate_environment``)."""
    from workbench.loaders.sql import literal as render

    return render(value)


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


# --------------------------------------------------------------------------------------------
# (f) a fresh process


def fresh_process_run(project: Path) -> dict[str, float]:
    """Time ``python benchmarks/core.py --fresh-run ROOT`` and break down its timeline.

    The child prints wall-clock marks (``time.time()``, one clock for both processes), so
    the parent can split the total into interpreter start, imports, Prefect's server start,
    dbt's import and parse, the flow itself and interpreter exit.
    """
    spawned = time.time()
    run = run_child([str(PYTHON), __file__, "--fresh-run", str(project)], os.environ.copy())
    ended = spawned + run.seconds
    m = json.loads(run.stdout.strip().splitlines()[-1])
    ready = max(m["dbt_parsed"], m["server_ready"])   # the flow starts once both are done
    parts = {
        "python_start": m["started"] - spawned,
        "import_workbench": m["imported_workbench"] - m["started"],
        "import_prefect": m["imported_prefect"] - m["imported_workbench"],
        "workbench_init": m["workbench_created"] - m["imported_prefect"],
        "until_dbt": m["dbt_import_began"] - m["workbench_created"],
        "dbt_import": m["dbt_imported"] - m["dbt_import_began"],
        "dbt_parse": m["dbt_parsed"] - m["dbt_imported"],
        "wait_for_prefect_server": max(0.0, m["server_ready"] - m["dbt_parsed"]),
        "flow": m["run_finished"] - ready,
        "exit": ended - m["run_finished"],
    }
    report = {f"f_{name}_s": round(value, 4) for name, value in parts.items()}
    report["f_prefect_server_start_s"] = round(m["server_ready"] - m["server_start_began"], 4)
    return {"f_fresh_process_s": run.seconds, **report, "f_peak_rss_mb": run.peak_rss_mb,
            "f_prefect_server_peak_rss_mb": run.descendants_peak_rss_mb}


def fresh_run_child(root: str) -> None:
    """The child of (f): ``Workbench(root).run()``, printing when each phase ended.

    Instrumented by wrapping, not by reordering, so the run keeps its real overlap (Prefect's
    server starts in a thread while dbt imports and parses). ``workbench.flows`` is imported
    up front only to time Prefect's import: ``wb.run()`` imports it first thing anyway.
    """
    marks = {"started": time.time()}
    from workbench import Workbench
    marks["imported_workbench"] = time.time()
    import workbench.flows  # noqa: F401  (prefect)
    marks["imported_prefect"] = time.time()
    _mark_server_start(marks)
    _mark_first_call("workbench.transform", "DbtProject", "manifest", marks,
                     "dbt_import_began", "dbt_parsed",
                     first=lambda: importlib.import_module("dbt.cli.main"),
                     first_done="dbt_imported")
    wb = Workbench(root)
    marks["workbench_created"] = time.time()
    result = wb.run()
    marks["run_finished"] = time.time()
    _require_success(result, "fresh-process run")
    print(json.dumps(marks))


def _mark_server_start(marks: dict) -> None:
    """Record when ``PrefectExecutor.warm_up()`` starts Prefect's server thread and when it
    is done.

    The thread imports Prefect's server modules, spawns the server and waits for its health
    check; a watcher joins it, so nothing is imported here ahead of the product's own order.
    """
    from workbench import flows

    original = flows.PrefectExecutor.warm_up

    @functools.wraps(original)
    def wrapper(self):
        first = "server_start_began" not in marks
        marks.setdefault("server_start_began", time.time())
        original(self)
        thread = getattr(flows, "_warm_up_thread", None)
        if first and thread is not None:
            def watch():
                thread.join()
                marks["server_ready"] = time.time()
            threading.Thread(target=watch, daemon=True).start()
    flows.PrefectExecutor.warm_up = wrapper


def _mark_first_call(module: str, cls_name: str, method: str, marks: dict, began: str,
                     ended: str, *, first: Callable[[], Any] | None = None,
                     first_done: str | None = None) -> None:
    """Record when the first call of ``cls.method`` began and ended.

    ``first`` runs at the start of that call, where the method would have done the same work
    itself (dbt's import), so that it gets a mark of its own (``first_done``).
    """
    cls = getattr(importlib.import_module(module), cls_name)
    original = getattr(cls, method)

    @functools.wraps(original)
    def wrapper(*args, **kwargs):
        if began in marks:
            return original(*args, **kwargs)
        marks[began] = time.time()
        if first:
            first()
            marks[first_done] = time.time()
        try:
            return original(*args, **kwargs)
        finally:
            marks[ended] = time.time()
    setattr(cls, method, wrapper)


# --------------------------------------------------------------------------------------------
# The report


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


def add_ratios(r: dict[str, Any]) -> None:
    r["a_over_b"] = r["a_run_s"] / r["b_dbt_cli_s"]
    r["a_without_steps_over_b"] = (r["a_run_s"] - r.get("a_steps_s", 0.0)) / r["b_dbt_cli_s"]
    r["a_over_c"] = r["a_run_s"] / r["c_duckdb_sql_s"]
    r["a_without_steps_over_c"] = (r["a_run_s"] - r.get("a_steps_s", 0.0)) / r["c_duckdb_sql_s"]
    r["e_over_arrow"] = r["e_table_s"] / r["e_arrow_s"]
    r["e_over_df"] = r["e_table_s"] / r["e_duckdb_df_s"]
    r["f_minus_b_s"] = r["f_fresh_process_s"] - r["b_dbt_cli_s"]
    import warm_build

    warm_build.add_ratios(r)


def judge_targets(r: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Pass or miss per target; a target set at another size is reported but not binding."""
    verdicts = {}
    for label, key, passes, at_rows in TARGETS:
        verdicts[label] = {"value": round(r[key], 4), "pass": bool(passes(r)),
                           "binding": at_rows is None or at_rows == r["rows"],
                           "set_at_rows": at_rows}
    return verdicts


def print_report(r: dict[str, Any]) -> None:
    print(f"\nworkbench core benchmark: {r['rows']:,} events (scale {r['scale']:g})"
          + ("" if r["actions"] else ", without the project's actions"))
    rows = [
        ("(a) wb.run(), warm process", r["a_run_s"]),
        ("(b) dbt build, CLI", r["b_dbt_cli_s"]),
        ("(c) plain DuckDB SQL (floor)", r["c_duckdb_sql_s"]),
        ("(d) wb.run(), nothing changed", r["d_noop_s"]),
        (f"(e) wb.table({r['e_table']!r}), {r['e_rows']:,} rows", r["e_table_s"]),
        ("    duckdb .df()", r["e_duckdb_df_s"]),
        ("    duckdb .to_arrow_table().to_pandas()", r["e_arrow_s"]),
        ("    its name lookup alone (warehouse.resolve)", r["e_resolve_s"]),
        ("(f) first wb.run(), fresh process", r["f_fresh_process_s"]),
        ("(g) warm build of every dbt node, wb.run()", r["g_workbench_s"]),
        ("    the same, InlineExecutor", r["g_workbench_inline_s"]),
        ("    dbt build --full-refresh, CLI", r["g_dbt_cli_s"]),
        ("    PrefectDbtRunner in a flow, warm", r.get("g_prefect_dbt_s") or float("nan")),
        ("    the workbench's dbt invocation alone", r["g_dbt_in_process_s"]),
        ("    a dbt invocation selecting nothing", r["g_dbt_nothing_s"]),
        ("    the SQL alone (c's models and tests)", r["g_sql_s"]),
    ]
    for label, value in rows:
        print(f"  {label:<52} {value:8.3f} s")
    for title, prefix in (("(a) breakdown", "a_"), ("(c) breakdown", "c_"),
                          ("(d) breakdown", "d_"), ("(f) breakdown", "f_")):
        parts = {k[len(prefix):-2]: v for k, v in r.items() if k.startswith(prefix)
                 and k.endswith("_s") and k not in {"a_run_s", "c_duckdb_sql_s", "d_noop_s",
                                                    "f_fresh_process_s", "f_minus_b_s"}}
        print(f"  {title}: " + ", ".join(f"{k} {v:.2f}" for k, v in parts.items()))
    print(f"  peak RSS (MB): this process {r['peak_rss_mb']:.0f}, dbt CLI "
          f"{r['b_peak_rss_mb']:.0f}, fresh process {r['f_peak_rss_mb']:.0f} + its Prefect "
          f"server {r['f_prefect_server_peak_rss_mb']:.0f}; RUSAGE_CHILDREN "
          f"{r['peak_rss_children_rusage_mb']:.0f} (includes ours: see peak_rss_mb())")
    print(f"  without Python steps and actions ({r.get('a_steps_s', 0.0):.2f} s of a): "
          f"a/b {r['a_without_steps_over_b']:.2f}, a/c {r['a_without_steps_over_c']:.2f}")
    print(f"  (g) over the dbt CLI {r['g_over_cli']:.2f} (inline {r['g_inline_over_cli']:.2f}, "
          f"dbt alone {r['g_dbt_in_process_over_cli']:.2f}), over PrefectDbtRunner "
          f"{r.get('g_over_prefect_dbt', float('nan')):.2f}; the workbench around dbt "
          f"{r['g_workbench_overhead_s']:.2f} s, Prefect {r['g_prefect_overhead_s']:.2f} s")
    busy = max(r["machine_busy_share_before"], r["other_cpu_share_during"])
    if busy > 0.15:
        print(f"  WARNING: other processes used {busy:.0%} of the CPUs around this run; "
              f"its times are inflated")
    print("targets:")
    for label, v in r["targets"].items():
        verdict = "pass" if v["pass"] else "MISS"
        note = "" if v["binding"] else f"  (set at {v['set_at_rows']:,} rows; not binding here)"
        print(f"  {label:<24} {v['value']:8.3f}  {verdict}{note}")


# --------------------------------------------------------------------------------------------
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
