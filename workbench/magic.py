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
* A result is capped at 1,000 rows by default, with a note when rows were cut: DuckDB stops
  reading there, so ``select * from raw.events`` never pulls a whole table into pandas.
  ``%%sql --limit 50000`` sets the cap for one cell, ``--limit 0`` lifts it, and
  ``%config SqlMagic.limit = 5000`` sets the notebook's default.
* A failing query shows one short message (the workbench or DuckDB error), not a traceback;
  the cell still fails, so a headless report stops there. Loading the extension does the same
  for every ``WorkbenchError`` raised in the notebook (``display.tracebacks``).
* In JupyterLab the cell is highlighted as SQL. The kernel cannot choose a cell's editor
  language, so the workbench's own labextension does it (``labextension/``, installed with
  the package): it looks for ``%%sql`` on a cell's first line, as IPython does.
"""

from __future__ import annotations

import re
import shlex
from typing import Any

import duckdb
from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class
from traitlets import Int

from .errors import WorkbenchError

__all__ = ["SqlMagic", "bind_parameters", "load_ipython_extension"]

USAGE = """\
%%sql [NAME | -o NAME] [--wb WORKBENCH] [--limit N]     (a cell of SQL follows)
%sql [-o NAME] [--wb WORKBENCH] [--limit N] SQL
  NAME, -o NAME   keep the result as the DataFrame NAME in the notebook
  --wb WORKBENCH  query the notebook variable WORKBENCH (default: Workbench() from the cwd)
  --limit N       at most N rows (default: %config SqlMagic.limit, 1000); 0: no cap
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

    limit = Int(1000, config=True, help="Rows a result keeps at most (0: no cap); a note "
                                        "says when rows were cut. Per cell: --limit N.")

    def __init__(self, shell) -> None:
        super().__init__(shell)
        self.workbench = None

    @line_cell_magic
    def sql(self, line: str, cell: str | None = None):
        output, wb_name, limit, query = _parse(line, cell)
        if not query.strip():
            raise UsageError("no SQL to run.\n" + USAGE)
        limit = self.limit if limit is None else limit
        namespace = self.shell.user_ns
        try:
            sql, params = bind_parameters(query, namespace)
            frame, cut = _capped(self._workbench(wb_name), sql, params or None, limit)
        except (WorkbenchError, duckdb.Error) as error:
            raise _short(error) from None
        if cut:
            print(f"first {limit:,} rows shown: the query returns more. --limit N for more, "
                  f"--limit 0 for all (%config SqlMagic.limit = N sets the default).")
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


def _capped(wb, sql: str, params, limit: int):
    """(at most ``limit`` rows as a DataFrame, whether more were cut); DuckDB reads one row
    past the cap and no further. A statement without rows (``create``...) gives an empty
    frame."""
    import pandas as pd

    if not hasattr(wb, "warehouse"):         # --wb names something with .sql only
        frame = wb.sql(sql, params)
        return (frame.head(limit), True) if limit and len(frame) > limit else (frame, False)
    with wb.warehouse.reading() as con:
        relation = con.sql(sql, params=params)
        if relation is None:
            return pd.DataFrame(), False
        arrow = (relation.limit(limit + 1) if limit else relation).to_arrow_table()
    if limit and arrow.num_rows > limit:
        return arrow.slice(0, limit).to_pandas(), True
    return arrow.to_pandas(), False


def _parse(line: str, cell: str | None) -> tuple[str | None, str | None, int | None, str]:
    """(output name, workbench variable, row cap, query) from the magic's line and cell."""
    try:
        words = shlex.split(line) if cell is not None else line.split()
    except ValueError as error:
        raise UsageError(f"cannot read the options {line!r}: {error}\n{USAGE}") from None
    output = wb_name = limit = None
    while words:
        word = words[0]
        if word == "--limit":
            if len(words) < 2 or not words[1].isdigit():
                raise UsageError(f"--limit needs a number of rows after it (0: no cap).\n"
                                 f"{USAGE}")
            limit, words = int(words[1]), words[2:]
        elif word in ("-o", "--out", "--wb"):
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
    return output, wb_name, limit, query


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
    """``%load_ext workbench.magic``: register ``%sql`` and ``%%sql``, and show workbench
    errors as their message (``display.tracebacks``)."""
    from .display.tracebacks import short_tracebacks

    ipython.register_magics(SqlMagic(ipython))
    short_tracebacks(ipython)
