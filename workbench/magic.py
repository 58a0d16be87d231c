"""``%%sql``: SQL cells on the published warehouse, for Jupyter and IPython.

Load it with ``%load_ext workbench`` (or ``%load_ext workbench.magic``), then::

    plan = "team"

    %%sql engaged
    select email, events from user_engagement where plan = :plan order by events desc

The cell shows the result and, with a name (``%%sql engaged`` or ``%%sql -o engaged``), keeps
it as that pandas DataFrame. A one-liner works too: ``df = %sql select count(*) from events``.

* Queries go through ``Workbench.sql``: the published snapshot, read-only, layers on the
  search path, so a notebook never sees a half-built table nor blocks a run.
* ``:name`` and ``{name}`` take the notebook variable ``name`` as a bound parameter (``?``),
  never spliced into the SQL; inside quotes, comments and ``::`` casts they are left alone.
* The Workbench is found from the working directory on first use and kept; ``--wb NAME``
  uses the notebook's variable ``NAME`` instead.
* A failing query shows one short message (the workbench or DuckDB error), not a traceback;
  the cell still fails, so a headless report stops there.
"""

from __future__ import annotations

import re
import shlex
from typing import Any

import duckdb
from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class

from .errors import WorkbenchError

__all__ = ["SqlMagic", "bind_parameters", "load_ipython_extension"]

USAGE = """\
%%sql [NAME | -o NAME] [--wb WORKBENCH]     (a cell of SQL follows)
%sql [-o NAME] [--wb WORKBENCH] SQL
  NAME, -o NAME   keep the result as the DataFrame NAME in the notebook
  --wb WORKBENCH  query the notebook variable WORKBENCH (default: Workbench() from the cwd)
  :name, {name}   the notebook variable `name`, bound as a parameter"""

# What may hold a ':' or '{' that is not a parameter comes first, so it is skipped whole.
_TOKENS = re.compile(r"""
      '(?:[^']|'')*'                      # a string literal
    | "(?:[^"]|"")*"                      # a quoted identifier
    | \$\$.*?\$\$                         # a dollar-quoted string
    | --[^\n]*                            # a line comment
    | /\*.*?\*/                           # a block comment
    | ::                                  # a cast
    | (?<![\w:'")\]]):(?P<colon>[A-Za-z_]\w*)   # :name (not x[1:n], not 'key':v)
    | \{(?P<brace>[A-Za-z_]\w*)\}         # {name}
""", re.S | re.X)


def bind_parameters(sql: str, namespace: dict[str, Any]) -> tuple[str, list[Any]]:
    """Replace ``:name`` and ``{name}`` by ``?`` and return the values, in order.

    >>> bind_parameters("select * from t where plan = :plan and n > {n}", {"plan": "team", "n": 3})
    ('select * from t where plan = ? and n > ?', ['team', 3])
    """
    values: list[Any] = []

    def replace(match: re.Match) -> str:
        name = match.group("colon") or match.group("brace")
        if name is None:
            return match.group(0)
        if name not in namespace:
            raise UsageError(f"the SQL uses {match.group(0)} but the notebook has no "
                             f"variable {name!r}: set it first (e.g. {name} = ...)")
        values.append(namespace[name])
        return "?"

    return _TOKENS.sub(replace, sql), values


@magics_class
class SqlMagic(Magics):
    """The ``%sql`` / ``%%sql`` magic; holds the Workbench it found, created on first use."""

    def __init__(self, shell) -> None:
        super().__init__(shell)
        self.workbench = None

    @line_cell_magic
    def sql(self, line: str, cell: str | None = None):
        output, wb_name, query = _parse(line, cell)
        if not query.strip():
            raise UsageError("no SQL to run.\n" + USAGE)
        namespace = self.shell.user_ns
        try:
            sql, params = bind_parameters(query, namespace)
            frame = self._workbench(wb_name).sql(sql, params or None)
        except (WorkbenchError, duckdb.Error) as error:
            raise _short(error) from None
        if output:
            namespace[output] = frame
        return frame

    def _workbench(self, name: str | None):
        if name is not None:
            wb = self.shell.user_ns.get(name)
            if not hasattr(wb, "sql"):
                raise UsageError(f"--wb {name}: the notebook has no Workbench called {name!r}")
            return wb
        if self.workbench is None:
            from .api import Workbench

            self.workbench = Workbench()
        return self.workbench


def _parse(line: str, cell: str | None) -> tuple[str | None, str | None, str]:
    """(output name, workbench variable, query) from the magic's line and cell."""
    try:
        words = shlex.split(line) if cell is not None else line.split()
    except ValueError as error:
        raise UsageError(f"cannot read the options {line!r}: {error}\n{USAGE}") from None
    output = wb_name = None
    while words:
        word = words[0]
        if word in ("-o", "--out", "--wb"):
            if len(words) < 2 or not words[1].isidentifier():
                raise UsageError(f"{word} needs a Python name after it.\n{USAGE}")
            if word == "--wb":
                wb_name = words[1]
            else:
                output = words[1]
            words = words[2:]
        elif cell is not None and output is None and word.isidentifier():
            output, words = word, words[1:]
        elif cell is not None:
            raise UsageError(f"unexpected {word!r} after %%sql.\n{USAGE}")
        else:
            break
    if cell is None:
        # The line magic's query is the rest of the line, as typed.
        skipped = len(line.split()) - len(words)
        query = line.split(None, skipped)[skipped] if words else ""
    else:
        query = cell
    return output, wb_name, query


def _short(error: Exception) -> Exception:
    """The same exception, shown by IPython as one message instead of a traceback."""
    text = f"{type(error).__name__}: {error}"
    try:
        error._render_traceback_ = lambda: [text]   # IPython's hook for custom tracebacks
        error.__traceback__ = None
        return error
    except (AttributeError, TypeError):
        return UsageError(text)


def load_ipython_extension(ipython) -> None:
    """``%load_ext workbench.magic``: register ``%sql`` and ``%%sql``."""
    ipython.register_magics(SqlMagic(ipython))
