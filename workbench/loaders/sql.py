"""The built-in readers: DuckDB table functions called from SQL, ``read_csv(?, header = true)``.

Called from SQL because, measured on DuckDB 2.0, the Python relation API sniffs a CSV several
times per read, about 3x slower for small files, and a view over a relation binds (sniffs)
once more per statement. The file path is always a bound parameter; option names must be
identifiers and values are rendered as literals, so nothing from a config file is spliced as
SQL code.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from ..config import IDENTIFIER
from ..errors import ConfigError

if TYPE_CHECKING:
    import duckdb

_GLOB = re.compile(r"[][*?]")


class TableFunctionReader:
    """A built-in reader: one DuckDB table function (``function``) with named arguments.

    It is a ``Reader`` (``loaders.read``), so a custom reader can hand a file it has fetched
    or decoded to one: ``return csv.read(con, path, options, types)``. The loaders call
    ``sql()`` instead, to describe and read a file in plain SQL statements.
    """

    function: ClassVar[str]

    def arguments(self, path: str, options: Mapping[str, Any],
                  types: dict[str, str] | None) -> dict[str, Any]:
        """The named arguments for this file: the source's options, plus ``types`` pinned
        the way this format pins them."""
        return dict(options)

    def sql(self, path: str, options: Mapping[str, Any], types: dict[str, str] | None) -> str:
        """``function(?, name = literal, ...)``, the ``?`` standing for ``path``."""
        return call(self.function, self.arguments(path, options, types))

    def __call__(self, con: duckdb.DuckDBPyConnection, path: str, options: Mapping[str, Any],
                 types: dict[str, str] | None = None) -> duckdb.DuckDBPyRelation:
        return con.sql(f"select * from {self.sql(path, options, types)}",
                       params=[exact_path(path)])


def exact_path(path: str) -> str:
    """``path`` as a pattern that matches only that file: DuckDB's readers take a glob, so
    a landing file called ``x[1].csv`` would otherwise read ``x1.csv``, and ``a*.csv``
    every file starting with ``a``. Each glob character becomes a class of itself."""
    return _GLOB.sub(lambda match: f"[{match[0]}]", path)


def call(function: str, options: Mapping[str, Any]) -> str:
    """``function(?, key = literal, ...)`` with ``?`` standing for the file path."""
    rendered = ["?"]
    for key, value in options.items():
        if not IDENTIFIER.match(str(key)):
            raise ConfigError(f"reader option {key!r} is not a plain name", option=key)
        rendered.append(f"{key} = {literal(value)}")
    return f"{function}({', '.join(rendered)})"


def literal(value: object) -> str:
    """``value`` as a DuckDB literal: strings quoted (quotes doubled), lists and dicts
    rendered as lists and structs; ConfigError for anything else."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value) if math.isfinite(value) else f"'{value!r}'::double"   # nan, inf
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{literal(str(k))}: {literal(v)}" for k, v in value.items()) + "}"
    raise ConfigError(f"reader option value {value!r} has an unsupported type", value=value)
