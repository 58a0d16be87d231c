"""Quoting and literals: identifiers, reader options and file names (quotes, glob
characters) reach DuckDB as data, never as SQL. Real DuckDB in memory; no Prefect, no dbt."""

from __future__ import annotations

import math

import duckdb
import pytest

from workbench.errors import ConfigError, TableNotFoundError
from workbench.loaders import READERS, Reader
from workbench.loaders.read import select_columns
from workbench.loaders.sql import call, exact_path, literal
from workbench.warehouse import quote, resolve

AWKWARD_NAMES = ["plain.csv", "it's.csv", 'say "hi".csv', "x[1].csv", "star*.csv",
                 "what?.csv", "a{b,c}.csv", "semi;drop table t;--.csv"]


@pytest.fixture
def con():
    with duckdb.connect() as connection:
        yield connection


@pytest.mark.parametrize("name", ['plain', 'with space', 'quo"te', 'drop table x; --', "ünï"])
def test_quote_makes_any_name_one_identifier(con, name):
    con.execute(f"create table {quote(name)} as select 1 as {quote(name)}")
    assert con.execute(f"select {quote(name)} from {quote(name)}").fetchall() == [(1,)]


@pytest.mark.parametrize("value", [None, True, False, 0, -7, 2.5, "plain", "it's",
                                   "back\\slash", "--; drop", ["a", "b'c"], [[1], [2, 3]],
                                   {"k": "v'", "n": 1}])
def test_literal_reads_back_as_the_same_value(con, value):
    assert con.execute(f"select {literal(value)}").fetchone()[0] == value


def test_non_finite_floats_are_literals_too(con):
    nan, inf = con.execute(f"select {literal(math.nan)}, {literal(math.inf)}").fetchone()
    assert math.isnan(nan) and inf == math.inf


def test_a_value_of_another_type_is_a_config_error():
    with pytest.raises(ConfigError, match="unsupported type"):
        literal(object())


def test_call_binds_the_path_and_refuses_an_option_name_that_is_not_plain():
    assert call("read_csv", {"header": True, "delim": ";"}) == \
        "read_csv(?, header = true, delim = ';')"
    with pytest.raises(ConfigError, match="not a plain name"):
        call("read_csv", {"header = true) --": 1})


@pytest.mark.parametrize("name", AWKWARD_NAMES)
def test_built_in_readers_read_exactly_the_named_file(con, tmp_path, name):
    (tmp_path / "x1.csv").write_text("id\n99\n")          # what "x[1].csv" would glob to
    (tmp_path / "starry.csv").write_text("id\n98\n")      # what "star*.csv" would glob to
    path = tmp_path / name
    path.write_text("id,label\n1,one\n")
    sql = READERS["csv"].sql(str(path), {"header": True}, None)
    assert con.execute(f"select * from {sql}", [exact_path(str(path))]).fetchall() == [
        (1, "one")]
    assert READERS["csv"](con, str(path), {}, None).fetchall() == [(1, "one")]


def test_every_built_in_reader_is_a_reader_a_custom_one_can_call(con, tmp_path):
    con.execute(f"copy (select 1 as id, 'one' as label) to {literal(str(tmp_path / 'a.parquet'))}")
    (tmp_path / "a.csv").write_text("id,label\n1,one\n")
    (tmp_path / "a.jsonl").write_text('{"id": 1, "label": "one"}\n')
    for fmt, file in (("csv", "a.csv"), ("parquet", "a.parquet"), ("json", "a.jsonl")):
        reader: Reader = READERS[fmt]
        relation = reader(con, str(tmp_path / file), {}, {"id": "VARCHAR", "label": "VARCHAR"}
                          if fmt != "parquet" else None)
        assert relation.fetchall() in ([(1, "one")], [("1", "one")]), fmt


def test_pinned_types_win_over_the_sniffer(con, tmp_path):
    path = tmp_path / "codes.csv"
    path.write_text("code\n007\n")
    sql = READERS["csv"].sql(str(path), {}, {"code": "VARCHAR"})
    assert con.execute(f"select code from {sql}", [str(path)]).fetchall() == [("007",)]


def test_select_columns_quotes_awkward_column_names(con):
    con.execute('create table t as select 1 as "we""ird col", null as "empty"')
    described = con.execute("describe select * from t").fetchall()
    frame = con.execute(f"select {select_columns(described)} from t")
    assert [d[0] for d in frame.description] == ['we"ird col', "empty"]
    assert con.execute(f"describe select {select_columns(described)} from t"
                       ).fetchall()[1][1] == "VARCHAR"


@pytest.mark.parametrize("name", ["users; drop table users", 'users"', "a.b.c", "", "1users",
                                  None])
def test_resolve_refuses_anything_but_a_plain_name(con, name):
    con.execute("create table users as select 1 as id")
    with pytest.raises(TableNotFoundError):
        resolve(con, name)


def test_resolve_quotes_what_exists_and_suggests_close_names(con):
    con.execute("create schema marts")
    con.execute("create table marts.users as select 1 as id")
    assert resolve(con, "users") == '"marts"."users"'
    with pytest.raises(TableNotFoundError, match="Did you mean 'users'"):
        resolve(con, "user")
