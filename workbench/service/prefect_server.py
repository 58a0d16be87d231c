"""``prefect server start`` in a process that imports jsonschema's IRI grammar on first use.

The server imports jsonschema, which compiles the ``rfc3987_syntax`` Lark grammar as it is
imported: 1.4-2.9 s of every server start, the slowest step of a first run, for a format
check the server seldom makes. This entry point defers that import
(``environment.defer_iri_grammar``) and then hands its arguments to Prefect's own CLI, so
the server behaves exactly as ``prefect server start``. The command line keeps the words
``prefect server start``, so ``ps`` and ``pgrep -f`` find the server as before::

    python -m workbench.service.prefect_server prefect server start --host 127.0.0.1 --port N
"""

from __future__ import annotations

import sys

from workbench.environment import defer_iri_grammar


def command(port: int, python: str = sys.executable) -> list[str]:
    """The command line that starts the server on 127.0.0.1:``port`` through this module."""
    return [python, "-m", "workbench.service.prefect_server", "prefect", "server", "start",
            "--host", "127.0.0.1", "--port", str(port)]


if __name__ == "__main__":
    defer_iri_grammar()
    from prefect.cli import app

    sys.argv[:2] = ["prefect"]         # drop this module's own name and the word "prefect"
    sys.exit(app())
