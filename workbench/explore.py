"""The table explorer's backend: facts, pages and profiles of one table, computed in DuckDB.

Every function takes a read cursor from ``Warehouse.reading()`` and a user's table name, which
``warehouse.resolve`` validates and quotes. Column names a user picks (sort, filters) must be
columns of that table and are quoted; every value a user types is bound as a parameter, never
spliced into SQL. A widget calls these on each click, so each is one or two queries::

    with wb.warehouse.reading() as con:
        info = table_info(con, "user_engagement")
        df = page(con, "user_engagement", order_by="events", descending=True,
                  filters={"plan": "team"}, offset=50, limit=50)
        shown = count(con, "user_engagement", filters={"plan": "team"})   # for "of N"
        stats = profile(con, "user_engagement")
"""

from __future__ import annotations

import difflib
import math
from typing import TYPE_CHECKING, Any

import duckdb

from . import ledger
from .errors import ColumnNotFoundError, WorkbenchError
from .warehouse import quote, resolve

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["ColumnNotFoundError", "count", "page", "profile", "table_info"]

BUCKETS = 10
# Distinct counts are exact (count(distinct)) up to this many rows, approximate above (a
# HyperLogLog sketch, a few percent off), and then labelled so: exact costs a hash table of
# every value, which a million rows afford on a laptop and a billion do not.
EXACT_DISTINCT_ROWS = 1_000_000
_NUMERIC = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
            "UINTEGER", "UBIGINT", "UHUGEINT", "FLOAT", "DOUBLE", "DECIMAL")
_TEMPORAL = ("DATE", "TIMESTAMP", "TIME")        # prefixes: TIMESTAMP_NS, ... WITH TIME ZONE
_NESTED = ("[]", "STRUCT(", "MAP(", "UNION(")     # compared as text: min/max need an order


def table_info(con: duckdb.DuckDBPyConnection, name: str) -> dict[str, Any]:
    """What the explorer shows above a table.

    Returns ``{"schema", "name", "kind" ("table"|"view"), "rows", "columns": [{"name",
    "type", "nullable"}], "last_built"}``. ``rows`` counts views too (the explorer pages
    through them). ``last_built`` is when the run history last built a model, seed or source
    of that name (``ledger.last_built``), else None.
    """
    relation = resolve(con, name)
    schema, table = _parts(relation)
    kind = con.execute(
        "select case when table_type = 'BASE TABLE' then 'table' else 'view' end "
        "from information_schema.tables where table_catalog = current_database() "
        "and table_schema = ? and table_name = ?", [schema, table]).fetchone()[0]
    rows = con.execute(f"select count(*) from {relation}").fetchone()[0]
    return {"schema": schema, "name": table, "kind": kind, "rows": int(rows),
            "columns": [{"name": c, "type": t, "nullable": n}
                        for c, t, n in _columns(con, schema, table)],
            "last_built": ledger.last_built(con, table)}


def page(con: duckdb.DuckDBPyConnection, name: str, *, offset: int = 0, limit: int = 50,
         order_by: str | None = None, descending: bool = False,
         filters: dict[str, str] | None = None) -> pd.DataFrame:
    """One page of a table, sorted and filtered in DuckDB.

    Args:
        order_by: a column of the table; ties are broken by the other columns so that pages
            never overlap. None keeps the table's order.
        filters: column -> text; a row is kept when every such column, as text, contains its
            text (case-insensitive; ``%`` and ``_`` are literal). Empty texts are ignored.

    Raises ColumnNotFoundError for a sort or filter column the table does not have.
    """
    relation = resolve(con, name)
    columns = [c for c, _, _ in _columns(con, *_parts(relation))]
    where, params = _where(filters, columns, relation)
    sql = f"select * from {relation}{where}"
    if order_by is not None:
        first = _column(order_by, columns, relation)
        rest = [quote(c) for c in columns if c != order_by]
        direction = " desc" if descending else ""
        sql += " order by " + ", ".join([first + direction + " nulls last", *rest])
    sql += " limit ? offset ?"
    params += [_count(limit, "limit"), _count(offset, "offset")]
    return con.sql(sql, params=params).to_arrow_table().to_pandas()


def count(con: duckdb.DuckDBPyConnection, name: str,
          filters: dict[str, str] | None = None) -> int:
    """How many rows ``page`` pages through with these ``filters`` (all rows without)."""
    relation = resolve(con, name)
    columns = [c for c, _, _ in _columns(con, *_parts(relation))]
    where, params = _where(filters, columns, relation)
    return int(con.execute(f"select count(*) from {relation}{where}", params).fetchone()[0])


def profile(con: duckdb.DuckDBPyConnection, name: str, *, max_columns: int = 50,
            exact_up_to: int = EXACT_DISTINCT_ROWS) -> pd.DataFrame:
    """One row per column (the first ``max_columns``): name, type, nulls, null_share,
    distinct, distinct_exact, min, max (as text) and histogram.

    ``distinct`` is exact for a table of at most ``exact_up_to`` rows; above, it is DuckDB's
    HyperLogLog estimate and ``distinct_exact`` is False, so a display can say "≈".

    ``histogram`` is a list of bucket counts over equal-width buckets from min to max (10
    buckets, or 1 when every value is equal) for numeric, date and time columns, else None.
    One query, two passes over the table: stats first, then buckets from those stats.
    """
    import pandas as pd

    relation = resolve(con, name)
    columns = _columns(con, *_parts(relation))[:max_columns]
    exact = con.execute(f"select count(*) from {relation}").fetchone()[0] <= exact_up_to
    distinct = "count(distinct {})" if exact else "approx_count_distinct({})"
    stats, buckets = ["count(*) as n"], []
    for i, (column, type_, _) in enumerate(columns):
        value = quote(column)
        if any(mark in type_ for mark in _NESTED):
            value = f"cast({value} as varchar)"
        stats += [f"count({value}) as nn{i}", f"{distinct.format(value)} as d{i}",
                  f"cast(min({value}) as varchar) as mn{i}",
                  f"cast(max({value}) as varchar) as mx{i}"]
        number = _as_number(quote(column), type_)
        if number is not None:
            stats += [f"cast(min({number}) as double) as lo{i}",
                      f"cast(max({number}) as double) as hi{i}"]
            width = f"(s.hi{i} - s.lo{i})"
            buckets.append(
                f"histogram(case when isfinite({width}) and {width} > 0 then "
                f"least(cast(floor(({number} - s.lo{i}) / {width} * {BUCKETS}) as integer), "
                f"{BUCKETS - 1}) when {width} = 0 then 0 end) as h{i}")
    sql = f"with s as (select {', '.join(stats)} from {relation})"
    if buckets:
        sql += (f", h as (select {', '.join(buckets)} from {relation}, s) "
                f"select * from s, h")
    else:
        sql += " select * from s"
    cursor = con.execute(sql)
    names = [d[0] for d in cursor.description]
    row = dict(zip(names, cursor.fetchone()))
    total = int(row["n"])
    out = []
    for i, (column, type_, _) in enumerate(columns):
        present = int(row[f"nn{i}"])
        nulls = total - present
        out.append({"name": column, "type": type_, "nulls": nulls,
                    "null_share": nulls / total if total else None,
                    # HyperLogLog may overshoot by a few percent: never above the count
                    "distinct": min(int(row[f"d{i}"]), present), "distinct_exact": exact,
                    "min": row[f"mn{i}"], "max": row[f"mx{i}"],
                    "histogram": _histogram(row, i)})
    return pd.DataFrame(out, columns=["name", "type", "nulls", "null_share", "distinct",
                                      "distinct_exact", "min", "max", "histogram"])


# -- helpers --------------------------------------------------------------------------------
def _parts(relation: str) -> tuple[str, str]:
    """``"schema"."table"`` from resolve() back into its parts (plain identifiers)."""
    schema, table = relation[1:-1].split('"."')
    return schema, table


def _columns(con, schema: str, table: str) -> list[tuple[str, str, bool]]:
    return [(c, t, n == "YES") for c, t, n in con.execute(
        "select column_name, data_type, is_nullable from information_schema.columns "
        "where table_catalog = current_database() and table_schema = ? and table_name = ? "
        "order by ordinal_position", [schema, table]).fetchall()]


def _where(filters: dict[str, str] | None, columns: list[str], relation: str
           ) -> tuple[str, list[object]]:
    """`` where ...`` keeping rows whose columns contain the filters' texts, and its
    parameters; ``("", [])`` when no filter has a text."""
    where, params = [], []
    for column, text in (filters or {}).items():
        if text is None or str(text) == "":
            continue
        where.append(f"cast({_column(column, columns, relation)} as varchar) "
                     "ilike '%' || ? || '%' escape '\\'")
        params.append(_escape_like(str(text)))
    return (" where " + " and ".join(where) if where else ""), params


def _column(column: object, columns: list[str], relation: str) -> str:
    """The quoted column, if ``column`` is exactly one of the table's columns."""
    if isinstance(column, str) and column in columns:
        return quote(column)
    close = difflib.get_close_matches(str(column), columns, n=3, cutoff=0.6)
    hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    table = ".".join(_parts(relation))
    raise ColumnNotFoundError(f"{table} has no column {column!r}.{hint} Its columns: "
                              f"{', '.join(columns)}.", table=table, column=str(column),
                              matches=close)


def _count(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise WorkbenchError(f"{what} must be a whole number >= 0, not {value!r}")
    return value


def _escape_like(text: str) -> str:
    """Make a search text literal inside ``ilike '%' || ? || '%' escape '\\'``."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _as_number(column: str, type_: str) -> str | None:
    """An expression giving the column as a number to bucket, or None if it has no scale."""
    if any(mark in type_ for mark in _NESTED):
        return None
    if type_.startswith(_NUMERIC):
        return column
    if type_.startswith(_TEMPORAL):
        return f"epoch({column})"      # seconds; a TIME counts from midnight
    return None


def _histogram(row: dict[str, Any], i: int) -> list[int] | None:
    counts = row.get(f"h{i}")
    if counts is None or not counts:
        return None
    lo, hi = row[f"lo{i}"], row[f"hi{i}"]
    if lo is None or hi is None or not math.isfinite(hi - lo):
        return None
    size = 1 if hi == lo else BUCKETS
    return [int(counts.get(b, 0)) for b in range(size)]
