"""``workbench server start|stop|status``: the project's shared local Prefect server.

Registered on the ``workbench`` group by cli.py; the server itself is in
``workbench.service.shared`` (found or started) and ``workbench.service.supervisor``.
"""

from __future__ import annotations

import click

from .cli import _errors_to_exit_codes, _live_progress, _start_up_lines


@click.group()
def server() -> None:
    """The project's local Prefect server, shared by all its runs.

    Without PREFECT_API_URL the first run starts it in the background and later runs
    (terminal, notebooks, reports, `workbench serve`) reuse it; it stops itself after
    [service] server_idle (default 2h) without a flow run. PREFECT_API_URL always wins.
    """


def _server_home(ctx: click.Context):
    """The project's config and its Prefect home (``PREFECT_HOME``, else
    ``.workbench/prefect/``)."""
    from . import environment
    from .config import load_config
    from .service import shared

    config = load_config(ctx.obj)
    environment.prepare(config.state_dir)
    return config, shared.home()


def _describe(found) -> str:
    seconds = found.idle_seconds or 0
    unit = next((u for u, size in (("h", 3600), ("m", 60)) if seconds % size == 0), "s")
    amount = seconds / {"h": 3600, "m": 60, "s": 1}[unit]
    idle = (f"stops after {amount:g}{unit} without a flow run" if seconds else "no idle stop")
    return (f"Prefect server {found.url} (UI {found.ui})\n"
            f"  home    {found.home}\n  pid     {found.pid} (supervisor), "
            f"{found.server_pid} (server)\n  started {found.started:%Y-%m-%d %H:%M:%S} UTC; "
            f"{idle}\n  log     {found.log}")


def _api_url_note() -> None:
    import os

    if url := os.environ.get("PREFECT_API_URL"):
        click.echo(f"note: PREFECT_API_URL={url} is set: runs report there, not here")


@server.command("start")
@click.option("--idle", default=None, metavar="DURATION",
              help="Stop after this long without a flow run (30m, 2h; 0: never). "
                   "Default: [service] server_idle.")
@click.pass_context
@_errors_to_exit_codes
def server_start(ctx: click.Context, idle: str | None) -> None:
    """Start the project's Prefect server (or say where it already runs)."""
    import os

    from .config import parse_duration
    from .service import shared

    config, where = _server_home(ctx)
    if idle is not None:
        seconds = parse_duration(float(idle) if idle.strip().isdigit() else idle,
                                 where="--idle")
        idle_seconds = seconds.total_seconds()
    elif os.environ.get(shared.IDLE_VARIABLE):
        idle_seconds = None                 # shared.ensure reads it
    else:
        configured = config.service.server_idle
        idle_seconds = configured.total_seconds() if configured else 0.0
    with _live_progress({"done": 0}) or _start_up_lines():
        found = shared.ensure(where, idle_seconds=idle_seconds)
    click.echo(_describe(found))
    _api_url_note()


@server.command("stop")
@click.pass_context
@_errors_to_exit_codes
def server_stop(ctx: click.Context) -> None:
    """Stop the project's Prefect server and remove its record."""
    from .service import shared

    _, where = _server_home(ctx)
    stopped = shared.stop(where)
    if stopped is None:
        click.echo(f"no Prefect server running for Prefect home {where}")
    else:
        click.echo(f"stopped the Prefect server {stopped.url} (pid {stopped.pid})")


@server.command("status")
@click.pass_context
@_errors_to_exit_codes
def server_status(ctx: click.Context) -> None:
    """Where the project's Prefect server runs, since when, and its log."""
    from .service import shared

    _, where = _server_home(ctx)
    found = shared.find(where)
    if found is not None:
        click.echo(_describe(found))
    elif shared.read(where) is not None:
        click.echo(f"the Prefect server recorded in {where / shared.RECORD} does not answer: "
                   f"the next run replaces it (log: {where / shared.LOG})")
    else:
        click.echo(f"no Prefect server running for Prefect home {where}; the next run "
                   f"starts one")
    _api_url_note()
