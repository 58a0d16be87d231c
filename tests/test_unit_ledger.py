"""The ``_workbench`` ledger on a real DuckDB file: created once, written with named
columns, read back typed; a warehouse from an earlier release still reads. No Prefect, no
dbt."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from workbench import ledger
from workbench.errors import WarehouseUsageError
from workbench.loaders.scan import LandingFile
from workbench.results import NodeResult, RunResult
from workbench.warehouse import Warehouse

T0 = datetime(2026, 5, 1, 12, 0, 0)


@pytest.fixture
def con(tmp_path):
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as connection:
        ledger.ensure(connection)
        yield connection


def _run(run_id: str, at: datetime, *statuses: tuple[str, str, str]) -> RunResult:
    nodes = tuple(NodeResult(name, kind, status, 1.5, rows=10, started_at=at,
                             finished_at=at + timedelta(seconds=1.5))
                  for name, kind, status in statuses)
    return RunResult(run_id, at, at + timedelta(seconds=5), nodes, trigger="manual",
                     selection="all")


def test_ensure_twice_keeps_tables_and_rows(con):
    ledger.set_state(con, "dbt_fingerprint", "abc")
    ledger.ensure(con)
    assert ledger.get_state(con, "dbt_fingerprint") == "abc"
    tables = {t for t, in con.execute("select table_name from information_schema.tables "
                                       "where table_schema = ?", [ledger.SCHEMA]).fetchall()}
    assert tables == {"files", "sources", "state", "runs", "node_results", "node_state",
                      "rejects"}


def test_state_round_trip_and_overwrite(con):
    assert ledger.get_state(con, "missing") is None
    ledger.set_state(con, "k", "one")
    ledger.set_state(con, "k", "two")
    assert ledger.get_state(con, "k") == "two"


def test_a_recorded_run_reads_back(con):
    assert ledger.last_run_id(con) is None and ledger.last_run_summary(con) is None
    ledger.record_run(con, _run("r1", T0, ("events", "source", "success"),
                                ("user_engagement", "model", "success")))
    later = T0 + timedelta(hours=1)
    ledger.record_run(con, _run("r2", later, ("user_engagement", "model", "error"),
                                ("not_null_x", "test", "skipped")))

    assert ledger.last_run_id(con) == "r2"
    assert ledger.last_run_summary(con).startswith("run r2")
    assert ledger.latest_statuses(con) == {"events": "success", "user_engagement": "error",
                                           "not_null_x": "skipped"}
    assert ledger.last_built(con, "user_engagement") == T0 + timedelta(seconds=1.5)
    assert ledger.last_built(con, "nothing") is None
    runs = ledger.recent_runs(con, 1)
    assert list(runs.columns) == list(ledger.RUN_COLUMNS)
    assert runs["run_id"].tolist() == ["r2"] and runs["status"].tolist() == ["failed"]
    nodes = ledger.recent_node_results(con, 5)
    assert list(nodes.columns) == list(ledger.NODE_COLUMNS)
    assert sorted(nodes["run_id"].unique()) == ["r1", "r2"] and len(nodes) == 4


def test_dataframe_reads_take_a_query_function_too(con):
    ledger.record_run(con, _run("r1", T0, ("events", "source", "success")))

    def query(sql, params):
        return con.sql(sql, params=params).df()

    assert ledger.recent_runs(query, 5)["run_id"].tolist() == ["r1"]


def test_a_load_makes_its_source_stale_until_built(con):
    assert ledger.stale_sources(con) == set()
    ledger.source_loaded(con, "events", T0)
    ledger.source_loaded(con, "events", T0 + timedelta(days=1))
    ledger.source_loaded(con, "users", T0)
    assert ledger.stale_sources(con) == {"events", "users"}
    ledger.mark_built(con, "events")
    assert ledger.stale_sources(con) == {"users"}
    assert ledger.last_loads(con) == {"events": T0 + timedelta(days=1), "users": T0}


def _file(relative: str, size: int, sha: str) -> LandingFile:
    return LandingFile(Path("/landing") / relative, relative, size, 1000 + size, sha)


def test_files_read_back_as_last_loaded_and_rejects_show_in_source_loads(con):
    ledger.record_files(con, "events", [_file("e/1.csv", 10, "a"), _file("e/2.csv", 20, "b")],
                        run_id="r1", loaded_at=T0, rows=5, status="loaded", message=None)
    ledger.record_files(con, "events", [_file("e/1.csv", 11, "c")], run_id="r2",
                        loaded_at=T0 + timedelta(hours=1), rows=6, status="loaded",
                        message=None)
    ledger.record_files(con, "events", [_file("e/3.csv", 0, "d")], run_id="r3",
                        loaded_at=T0 + timedelta(hours=2), rows=None, status="rejected",
                        message="e/3.csv: the file is empty")
    ledger.record_files(con, "events", [], run_id="r4", loaded_at=T0, rows=None,
                        status="loaded", message=None)
    ledger.source_loaded(con, "events", T0 + timedelta(hours=1))

    loaded = ledger.loaded_files(con, "events")
    assert loaded == {"e/1.csv": ledger.LoadedFile(11, 1011, "c"),
                      "e/2.csv": ledger.LoadedFile(20, 1020, "b")}
    assert ledger.files_seen(con)[("events", "e/3.csv")] == (0, 1000)
    loads = ledger.source_loads(con)["events"]
    assert (loads.files_loaded, loads.pending_dbt, loads.rejected) == (
        2, True, "e/3.csv: the file is empty")
    assert loads.last_loaded_at == T0 + timedelta(hours=1)


def test_a_warehouse_from_an_earlier_release_still_reads_and_records(tmp_path):
    """The first release's node_results had no finished_at; its rows were written by
    position. The ledger adds the column and reads the old rows."""
    path = str(tmp_path / "old.duckdb")
    with duckdb.connect(path) as old:
        old.execute("""
            create schema _workbench;
            create table _workbench.sources (source varchar primary key,
                data_version bigint, built_version bigint, last_loaded_at timestamp);
            create table _workbench.runs (run_id varchar, trigger varchar, selection varchar,
                started_at timestamp, finished_at timestamp, status varchar, summary varchar);
            create table _workbench.node_results (run_id varchar, name varchar, kind varchar,
                status varchar, seconds double, rows bigint, failures bigint,
                message varchar, started_at timestamp);
            insert into _workbench.sources values ('events', 3, 2, '2026-04-01 08:00:00');
            insert into _workbench.runs values ('old', 'manual', 'all', '2026-04-01 08:00:00',
                '2026-04-01 08:01:00', 'success', 'run old success');
            insert into _workbench.node_results values ('old', 'orders', 'model', 'success',
                2.0, 7, null, null, '2026-04-01 08:00:10');
        """)
    with duckdb.connect(path) as con:
        ledger.ensure(con)
        assert ledger.stale_sources(con) == {"events"}
        assert ledger.latest_statuses(con) == {"orders": "success"}
        assert ledger.last_run_summary(con) == "run old success"
        ledger.record_run(con, _run("new", T0, ("orders", "model", "error")))
        assert ledger.latest_statuses(con) == {"orders": "error"}
        assert ledger.recent_node_results(con, 5)["run_id"].tolist() == ["old", "new"]


def test_metadata_schemas_are_hidden_from_the_catalogue(tmp_path):
    warehouse = Warehouse(tmp_path / "w.duckdb", tmp_path / "w.published.duckdb")
    with warehouse.writing():
        with warehouse.connect() as con:
            for schema in ("marts", "_community", "_delivery"):
                con.execute(f"create schema {schema}")
                con.execute(f"create table {schema}.t as select 1 as id")
        warehouse.publish()
    assert [(t.schema, t.name) for t in warehouse.catalogue()] == [("marts", "t")]
    assert warehouse.query("select count(*) as n from t")["n"][0] == 1


def test_connect_without_the_write_lock_is_our_own_error(tmp_path):
    warehouse = Warehouse(tmp_path / "w.duckdb", tmp_path / "w.published.duckdb")
    with pytest.raises(WarehouseUsageError, match="writing"):
        with warehouse.connect():
            pass


def test_node_build_state_is_recorded_replaced_and_forgotten(con):
    from datetime import datetime

    ledger.record_built(con, {"model.p.a": "k1", "model.p.b": "k2"}, datetime(2026, 12, 1))
    ledger.record_built(con, {"model.p.a": "k3"}, datetime(2026, 12, 2))
    ledger.forget_built(con, ["model.p.b", "model.p.never"])

    assert ledger.built_keys(con) == {"model.p.a": "k3"}
