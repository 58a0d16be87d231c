"""The rows a failed dbt test found, as a person reads them and as ``wb.sql`` runs them.

dbt compiles a test against the writers' file, whose DuckDB catalog is named after it
(``"warehouse"."staging"."stg_invoices"``); readers open a published snapshot under another
catalog name, where that query fails. ``runnable_query`` drops the catalog, so the query runs
as shown in ``wb.sql`` and ``%%sql``; ``with_failing_rows`` reads each failed test's first
rows at the end of the run, so a result can show them without a warehouse at hand.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import duckdb

    from .results import NodeResult

SAMPLE_ROWS = 5        # failing rows kept per failed test


def runnable_query(compiled: str | None, catalog: str | None) -> str | None:
    """``compiled`` without the ``"<catalog>".`` prefix of its relations.

    >>> runnable_query('select * from "warehouse"."staging"."x" where a is null', "warehouse")
    'select * from "staging"."x" where a is null'
    """
    if not compiled:
        return None
    if catalog:
        compiled = re.sub(rf'(?<![\w".]){re.escape(_quoted(catalog))}\.(?=")', "", compiled)
    return compiled.strip()


def with_failing_rows(con: duckdb.DuckDBPyConnection, nodes: list[NodeResult]
                      ) -> list[NodeResult]:
    """``nodes`` with the first failing rows of each failed test that has a query."""
    import duckdb

    marked = []
    for node in nodes:
        if node.kind == "test" and node.failed and node.query:
            try:
                cursor = con.execute(f"select * from ({node.query}) limit {SAMPLE_ROWS}")
                columns = [d[0] for d in cursor.description]
                sample = tuple(dict(zip(columns, row)) for row in cursor.fetchall())
                node = replace(node, sample=sample)
            except duckdb.Error:      # a test that errored may not even compile: keep its message
                pass
        marked.append(node)
    return marked


def _quoted(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'
