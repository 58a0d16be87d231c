"""The core benchmark's baselines: (b) ``dbt build`` from the CLI and (c) the same SQL
run by DuckDB alone, taken from dbt's own manifest so that the floor stays the dbt project's
transformations without being maintained by hand."""

from __future__ import annotations

import graphlib
import json
import os
from pathlib import Path
from typing import Any

from harness import DBT, run_child, seconds

MARTS = "marts"                      # the schema whose tables are counted and read

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
