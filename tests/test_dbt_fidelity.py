"""A dbt project written for the dbt CLI, run by the workbench exactly as dbt runs it.

``tests/projects/fidelity`` has a profile whose path points elsewhere (and a PostgreSQL
target), a ``local:`` package outside the dbt folder, a unit test, disabled models and tests,
a seed enabled by a var, a snapshot, an incremental model, a warn-severity test with
``store_failures``, a source the workbench loads and one that nothing loads.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from workbench import Workbench
from workbench.errors import ConfigError
from workbench.executors import InlineExecutor

FIDELITY = Path(__file__).parent / "projects" / "fidelity"
DBT = str(Path(sys.executable).parent / "dbt")
WORKBENCH = str(Path(sys.executable).parent / "workbench")
# Snapshot bookkeeping: timestamps of the moment each side ran.
SNAPSHOT_COLUMNS = {"dbt_scd_id", "dbt_updated_at", "dbt_valid_from", "dbt_valid_to"}
NODE_TYPES = ("seed", "model", "snapshot", "test", "unit_test")   # not hooks
DBT_OUTPUT = ("target", "logs", "dbt_packages", "package-lock.yml")


def copy_project(dest: Path) -> Path:
    shutil.copytree(FIDELITY, dest, ignore=shutil.ignore_patterns(
        *DBT_OUTPUT, ".workbench", "*.duckdb"))
    return dest


@pytest.fixture
def fidelity(tmp_path: Path, monkeypatch) -> Path:
    """A copy of the project; the working folder is a scratch folder, where a profile's
    relative paths (the attached archive.duckdb) land."""
    scratch = tmp_path / "cwd"
    scratch.mkdir()
    monkeypatch.chdir(scratch)
    return copy_project(tmp_path / "fidelity")


def dbt_cli_build(root: Path) -> tuple[Path, dict[str, str]]:
    """``dbt build`` as a dbt user runs it from the dbt folder (the local package linked as
    ``dbt deps`` links it, raw.payments loaded by hand); the DuckDB file it wrote and
    unique_id -> status."""
    database = root / "dbt" / "elsewhere.duckdb"
    with duckdb.connect(str(database)) as con:
        con.execute("create schema raw; create table raw.payments as select * from "
                    "read_csv(?, header = true)",
                    [str(root / "data/landing/payments/payments_1.csv")])
    (root / "dbt/dbt_packages").mkdir()      # what `dbt deps` does for a local package
    (root / "dbt/dbt_packages/fidelity_pkg").symlink_to(root / "fidelity_pkg")
    done = subprocess.run([DBT, "build", "--vars", "{include_stores: true}", "--no-use-colors"],
                          cwd=root / "dbt", capture_output=True, text=True, timeout=600,
                          env={**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    results = json.loads((root / "dbt/target/run_results.json").read_text())["results"]
    return database, {r["unique_id"]: r["status"] for r in results
                      if r["unique_id"].split(".")[0] in NODE_TYPES}


def relations(con: duckdb.DuckDBPyConnection, catalog: str) -> set[tuple[str, str]]:
    return set(con.execute(
        "select table_schema, table_name from information_schema.tables where table_catalog"
        " = ? and table_schema not in ('raw', '_workbench', 'steps')", [catalog]).fetchall())


def test_workbench_builds_what_the_dbt_cli_builds_row_for_row(fidelity, tmp_path):
    cli_db, cli_status = dbt_cli_build(copy_project(tmp_path / "by-dbt"))
    wb = Workbench(fidelity)

    result = wb.run(executor=InlineExecutor())

    ours = {n.name: n for n in result.nodes}
    graph = wb.graph()
    by_kind: dict[str, dict[str, int]] = {}
    for uid, status in cli_status.items():
        kind = uid.split(".")[0].replace("unit_test", "test")
        name = graph.nodes[uid].name
        assert ours[name].kind == kind, name
        theirs = {"pass": "success"}.get(status, status)
        assert ours[name].status == theirs, (name, ours[name].message)
        by_kind.setdefault(kind, {}).setdefault(theirs, 0)
        by_kind[kind][theirs] += 1
    assert by_kind == {"seed": {"success": 3}, "model": {"success": 7},
                       "snapshot": {"success": 1}, "test": {"success": 5, "warn": 1}}
    assert {n.name for n in result.nodes} == {*(graph.nodes[u].name for u in cli_status),
                                               "payments"}
    # Unit tests run and are reported; disabled nodes are neither in the graph nor run.
    assert ours["customer_orders_counts_big_orders"].status == "success"
    names = {n.name for n in graph.nodes.values()}
    assert not names & {"retired_report", "no_negative_payments"}
    assert not any(n.startswith("relationships_") for n in names)
    # The source nothing loads is an external input of what reads it, never run.
    external = graph.nodes["source.fidelity.ext.ext_events"]
    assert external.kind == "external"
    assert graph.parents["model.fidelity.event_kinds"] == {external.id}
    assert "ext.ext_events" not in ours
    # The profile said elsewhere.duckdb: everything is in the warehouse instead, and the
    # model written to the profile's attached database says so.
    assert not list(Path.cwd().glob("elsewhere*")) and not list(fidelity.rglob("elsewhere*"))
    assert "not the warehouse" in ours["archived_customers"].message
    with duckdb.connect(":memory:") as con:
        con.execute(f"attach '{cli_db}' as cli (read_only)")
        con.execute(f"attach '{fidelity / 'data/warehouse.duckdb'}' as wb (read_only)")
        assert relations(con, "wb") == relations(con, "cli")
        assert len(relations(con, "cli")) >= 11
        for schema, table in relations(con, "cli"):
            columns = [c for (c,) in con.execute(
                "select column_name from information_schema.columns where table_catalog = "
                "'cli' and table_schema = ? and table_name = ? order by ordinal_position",
                [schema, table]).fetchall() if c not in SNAPSHOT_COLUMNS]
            listed = ", ".join(f'"{c}"' for c in columns)
            rows = {side: con.execute(f'select {listed} from {side}."{schema}"."{table}" '
                                      f"order by all").fetchall() for side in ("cli", "wb")}
            assert rows["wb"] == rows["cli"], f"{schema}.{table}"


def test_edits_dbt_sees_outside_the_files_rebuild_their_users(fidelity):
    """A macro edited in a local package outside the project, and changed vars, rebuild
    the models they reach, in a warm process as in a new one."""
    wb = Workbench(fidelity)
    wb.run(executor=InlineExecutor()).raise_for_failures()
    assert not wb.plan().to_run

    macro = fidelity / "fidelity_pkg/macros/money.sql"
    macro.write_text(macro.read_text().replace("100.0, 2", "100.0, 1"))
    plan = {n.name: n.reason for n in wb.plan().to_run}
    assert plan["customer_orders"] == "its definition changed"
    assert plan["order_payments"] == "its definition changed"
    assert "event_kinds" not in plan and "customers" not in plan
    rebuilt = wb.run(executor=InlineExecutor())
    assert {"customer_orders", "order_payments"} <= {n.name for n in rebuilt.nodes}

    before = dict(wb.sql("select customer_id, big_orders from main_marts.customer_orders")
                  .itertuples(index=False))
    assert "ext.ext_events" not in {n.name for n in wb.plan(select="+event_kinds").nodes}
    changed = wb.run(vars={"big_order_cents": 900}, executor=InlineExecutor())
    changed.raise_for_failures()
    after = dict(wb.sql("select customer_id, big_orders from main_marts.customer_orders")
                 .itertuples(index=False))
    assert before == {1: 1, 2: 0, 3: 1, 4: 1} and after == {1: 2, 2: 0, 3: 1, 4: 2}
    assert wb.plan(vars={"big_order_cents": 900}).to_run == ()


def test_a_project_without_a_profile_builds_into_the_warehouse(fidelity):
    (fidelity / "dbt/profiles.yml").unlink()
    wb = Workbench(fidelity)

    result = wb.run(select="customers", executor=InlineExecutor())

    assert [(n.name, n.status) for n in result.nodes] == [("customers", "success")]
    assert wb.table("customers")["name"].tolist() == ["Ada", "Grace", "Linus", "Margaret"]


def test_a_target_that_is_not_duckdb_is_a_config_error(fidelity, monkeypatch):
    monkeypatch.setenv("WORKBENCH_DBT_TARGET", "warehouse_server")

    with pytest.raises(ConfigError, match="(?s)is type .postgres.*Name a duckdb target"):
        Workbench(fidelity).plan()


def test_a_var_the_project_needs_is_asked_for_by_name(fidelity):
    toml = fidelity / "workbench.toml"
    toml.write_text(toml.read_text().replace("vars = { include_stores = true }", ""))

    with pytest.raises(ConfigError,
                       match=r"(?s)include_stores.*\[dbt\] vars in workbench.toml"):
        Workbench(fidelity).plan()


def test_a_hub_package_without_network_says_to_run_dbt_deps(fidelity, monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")    # nothing listens: offline
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    packages = fidelity / "dbt/packages.yml"
    packages.write_text(packages.read_text()
                        + "  - package: dbt-labs/dbt_utils\n    version: 1.3.0\n")

    with pytest.raises(ConfigError, match="(?s)not installed.*Run `dbt deps`"):
        Workbench(fidelity).plan()


def test_vars_on_the_command_line_must_be_a_mapping(fidelity):
    done = subprocess.run([WORKBENCH, "run", "--vars", "[1, 2]"], cwd=fidelity,
                          capture_output=True, text=True, timeout=300)

    assert done.returncode == 2
    assert "--vars" in done.stderr and "mapping" in done.stderr


def test_dbt_vars_in_workbench_toml_must_be_a_table(fidelity):
    toml = fidelity / "workbench.toml"
    toml.write_text(toml.read_text().replace("vars = { include_stores = true }",
                                             'vars = "include_stores"'))

    with pytest.raises(ConfigError, match=r"\[dbt\]: vars must be a table"):
        Workbench(fidelity)
