"""The ``export_mart`` action: write one mart to a Parquet or CSV file, atomically.

DuckDB's ``COPY`` writes to a hidden temporary file in the destination folder, which is then
renamed over the destination (``os.replace``, atomic on one file system), so a reader sees the
previous file or the new one, never a half-written one, and a failed export leaves no debris.

Options (``[actions.<name>.options]``)::

    table = "user_engagement"      # one of the action's inputs; default the first input
    format = "parquet"             # or "csv" (with a header row)
    path = "data/exports/user_engagement.parquet"   # default; relative to the project root
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from ..errors import ConfigError
from ..loaders.sql import literal
from ..steps import StepContext, StepReport

__all__ = ["export_mart", "FORMATS"]

FORMATS = {"parquet": "(format parquet)", "csv": "(format csv, header true)"}
EXPORTS = Path("data") / "exports"


def export_mart(ctx: StepContext) -> StepReport:
    """Copy ``options.table`` to ``options.path``; return the rows written and the path.

    On a dry run nothing is written: the report counts the rows and names the file, and its
    ``frame`` holds one row (table, format, path, rows).
    """
    table = ctx.options.get("table") or next(iter(ctx.inputs), None)
    if table not in ctx.inputs:
        raise ConfigError(f"[actions.{ctx.name}] table = {table!r} is not one of its inputs "
                          f"{sorted(ctx.inputs)}: add it to inputs", step=ctx.name, table=table)
    relation = ctx.inputs[table]
    fmt = str(ctx.options.get("format", "parquet")).lower()
    if fmt not in FORMATS:
        raise ConfigError(f"[actions.{ctx.name}] format = {fmt!r}: use one of {sorted(FORMATS)}",
                          step=ctx.name, format=fmt)
    path = Path(ctx.options.get("path") or EXPORTS / f"{table}.{fmt}")
    path = path if path.is_absolute() else Path(ctx.root) / path

    if ctx.dry_run:
        import pandas as pd

        rows = ctx.con.execute(f"select count(*) from {relation}").fetchall()[0][0]
        return StepReport(
            rows=rows, message=f"dry run: would write {rows} rows of {table} to {path}",
            frame=pd.DataFrame([{"table": table, "format": fmt, "path": str(path),
                                 "rows": rows}]))

    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        rows = ctx.con.execute(f"copy (select * from {relation}) to {literal(str(temp))} "
                               f"{FORMATS[fmt]}").fetchall()[0][0]
        with open(temp, "rb") as written:
            os.fsync(written.fileno())          # the bytes, before the name points at them
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return StepReport(rows=rows, message=f"wrote {rows} rows of {table} to {path}",
                      metrics={"bytes": path.stat().st_size})
