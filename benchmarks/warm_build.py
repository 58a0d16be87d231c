"""Part (g) of the core benchmark: a warm small build without steps, against two baselines.

    .venv/bin/python benchmarks/core.py --rows 100000      # runs (g) after (e)

Issue 12's target: in a warm process, a build of the sample's dbt nodes through
``Workbench.run`` (no loads, no Python steps or actions) costs at most 0.3x ``dbt build``
from the CLI on the same project and data; prefect-dbt's ``PrefectDbtRunner`` inside a
Prefect flow is the second baseline. Every contender does the same work: each build starts
from a warehouse without dbt's relations (``core._drop_dbt_output``) and builds every seed,
model and test in full (``--full-refresh``). Each keeps its best of ``REPEATS``, taken in
turns so that a burst of load on the shared machine hits them alike:

- ``g_workbench_s``: ``wb.run(select=<every dbt node>, full_refresh=True)``, a Prefect flow;
- ``g_workbench_inline_s``: the same with ``InlineExecutor`` (no Prefect);
- ``g_dbt_in_process_s``: the workbench's own dbt invocation alone (``DbtProject.build``), so
  ``g_workbench_inline_s`` minus it is the workbench's overhead around dbt;
- ``g_dbt_nothing_s``: the same invocation selecting nothing: dbt's fixed cost per call;
- ``g_dbt_cli_s``: ``dbt build --full-refresh`` as a subprocess;
- ``g_prefect_dbt_s``: ``PrefectDbtRunner().invoke(["build", "--full-refresh"])`` in a flow,
  warm (its process built once before), in a child process that has prefect-dbt on its path.

prefect-dbt is installed for the benchmark only, into ``.venv/bench/`` (``pip --target``,
the ``bench`` extra of pyproject.toml), never into the environment itself: Prefect's server
and workers import every installed Prefect collection when they start, and prefect-dbt's
import is dbt's, which would slow every server start of the project.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import core

REPEATS = 3
NOTHING = "workbench_benchmark_selects_no_node"   # a dbt selector that matches nothing


def measure(wb, project: Path) -> dict[str, Any]:
    """(g) on a project that (a) built; returns ``g_*`` keys (seconds are best of REPEATS)."""
    from workbench.executors import InlineExecutor

    warehouse = wb.config.warehouse
    select = every_dbt_node(wb)
    built: dict[str, int] = {}

    def workbench(**executor) -> None:
        result = wb.run(select=select, full_refresh=True, **executor)
        core._require_success(result, "warm build (g)")
        built["nodes"] = len(result.nodes)

    contenders = {
        "workbench": workbench,
        "workbench_inline": lambda: workbench(executor=InlineExecutor()),
        "dbt_in_process": lambda: _require_nodes(wb.pipeline.dbt.build(full_refresh=True)),
        "dbt_cli": lambda: dbt_cli_full_refresh(project, warehouse),
    }
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(REPEATS):
        for name, build in contenders.items():
            core._drop_dbt_output(warehouse, core._manifest(project, compiled=False))
            times[name].append(core.seconds(build)[0])
    nothing = [core.seconds(lambda: wb.pipeline.dbt.build([NOTHING]))[0]
               for _ in range(REPEATS)]
    report = {f"g_{name}_s": round(min(values), 4) for name, values in times.items()}
    report.update({f"g_{name}_all_s": [round(v, 3) for v in values]
                   for name, values in times.items()})
    report["g_dbt_nothing_s"] = round(min(nothing), 4)
    report["g_nodes"], report["g_selection"] = built["nodes"], select
    report.update(prefect_dbt_baseline(project, warehouse))
    return report


def every_dbt_node(wb) -> str:
    """The selection of every seed, model, snapshot and test: no source, step or action."""
    kinds = {node.kind for node in wb.pipeline.graph().nodes.values() if node.is_dbt}
    return " ".join(f"{kind}:*" for kind in sorted(kinds))


def dbt_cli_full_refresh(project: Path, warehouse: Path) -> None:
    env = {**os.environ, "WORKBENCH_WAREHOUSE": str(warehouse), "DO_NOT_TRACK": "1"}
    core.run_child([str(core.DBT), "build", "--full-refresh", "--project-dir",
                    str(project / "dbt"), "--profiles-dir", str(project / "dbt")], env)


def add_ratios(r: dict[str, Any]) -> None:
    """The target's ratio and the others; the SQL alone is (c)'s models and tests."""
    r["g_sql_s"] = round(r["c_models_s"] + r["c_tests_s"], 4)
    r["g_over_cli"] = r["g_workbench_s"] / r["g_dbt_cli_s"]
    r["g_inline_over_cli"] = r["g_workbench_inline_s"] / r["g_dbt_cli_s"]
    r["g_dbt_in_process_over_cli"] = r["g_dbt_in_process_s"] / r["g_dbt_cli_s"]
    r["g_workbench_overhead_s"] = r["g_workbench_inline_s"] - r["g_dbt_in_process_s"]
    r["g_prefect_overhead_s"] = r["g_workbench_s"] - r["g_workbench_inline_s"]
    if r.get("g_prefect_dbt_s"):
        r["g_over_prefect_dbt"] = r["g_workbench_s"] / r["g_prefect_dbt_s"]
        r["g_prefect_dbt_over_cli"] = r["g_prefect_dbt_s"] / r["g_dbt_cli_s"]


def _require_nodes(nodes) -> None:
    failed = [n for n in nodes if n.failed]
    if failed or not nodes:
        raise SystemExit(f"in-process dbt build (g) failed: {failed[:3] or 'no nodes'}")


# --------------------------------------------------------------------------------------------
# prefect-dbt, in a child process of its own


def prefect_dbt_baseline(project: Path, warehouse: Path) -> dict[str, Any]:
    """Run the child below (installing prefect-dbt first if needed); its best of REPEATS."""
    try:
        path, version = install_prefect_dbt()
    except subprocess.CalledProcessError as error:
        return {"g_prefect_dbt_s": None,
                "g_prefect_dbt_note": f"prefect-dbt could not be installed: {error.stderr}"}
    from workbench.service import shared

    server = shared.find()
    env = {**os.environ, "PYTHONPATH": str(path), "WORKBENCH_WAREHOUSE": str(warehouse)}
    if server is not None:
        env["PREFECT_API_URL"] = server.url
    try:
        run = core.run_child([str(core.PYTHON), __file__, "--prefect-dbt-child",
                              str(project), str(warehouse)], env)
    except SystemExit as failed:        # the baseline failing is a finding, not a crash
        return {"g_prefect_dbt_s": None, "g_prefect_dbt_note": str(failed)[-2000:]}
    times = json.loads(run.stdout.strip().splitlines()[-1])
    return {"g_prefect_dbt_s": round(min(times), 4), "g_prefect_dbt_all_s": times,
            "g_prefect_dbt_version": version}


def install_prefect_dbt() -> tuple[Path, str]:
    """The ``bench`` extra of pyproject.toml in ``.venv/bench/<first requirement>/``; pip
    ``--no-deps``, so that the environment's own Prefect and dbt are the ones used."""
    extra = tomllib.loads((core.REPO / "pyproject.toml").read_text())
    requirements = extra["project"]["optional-dependencies"]["bench"]
    version = requirements[0].split("==")[-1]
    path = core.PYTHON.parent.parent / "bench" / requirements[0].replace("==", "-")
    if not (path / "prefect_dbt").is_dir():
        subprocess.run([str(core.PYTHON), "-m", "pip", "install", "-q", "--no-deps",
                        "--target", str(path), *requirements],
                       check=True, capture_output=True, text=True)
    return path, version


def prefect_dbt_child(project: Path, warehouse: Path) -> None:
    """One warm-up build, then REPEATS timed ones, each from a warehouse without dbt's
    relations; prints their seconds as JSON. One runner throughout: the warmest it gets."""
    from dbt_common.events.base_types import EventLevel
    from prefect import flow
    from prefect_dbt import PrefectDbtRunner, PrefectDbtSettings

    from workbench.transform import _release_duckdb

    dbt_dir = project / "dbt"
    # INFO, its default under Prefect's default level (it cannot map "warning", which the
    # workbench's environment sets for Prefect, to a dbt level).
    runner = PrefectDbtRunner(settings=PrefectDbtSettings(
        project_dir=dbt_dir, profiles_dir=dbt_dir, log_level=EventLevel.INFO))

    @flow(name="prefect-dbt build")
    def build() -> None:
        try:
            runner.invoke(["build", "--full-refresh"])   # raises if a node fails
        finally:
            _release_duckdb()          # as the workbench does, so the drop below can open it

    times = []
    for attempt in range(REPEATS + 1):
        core._drop_dbt_output(warehouse, core._manifest(project, compiled=False))
        took = core.seconds(build)[0]
        if attempt:
            times.append(round(took, 4))
    print(json.dumps(times))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--prefect-dbt-child"]:
        prefect_dbt_child(Path(sys.argv[2]), Path(sys.argv[3]))
    else:
        raise SystemExit(__doc__)
