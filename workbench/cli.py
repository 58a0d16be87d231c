"""``workbench``: the command line over the same facade a notebook uses.

Exit codes a script can trust:
    0  the command did what it was asked (a run: every node succeeded or was skipped)
    1  a run finished with failed nodes (the summary names them)
    2  bad usage or project set-up (missing workbench.toml, dbt project, data folder, ...)
    3  the warehouse stayed locked by another run past lock_timeout
    4  any other workbench error (bad input file named in the message, unknown table, ...)
"""

from __future__ import annotations

import contextlib
import functools
import sys
import time
from pathlib import Path

import click

from .errors import ConfigError, ServiceError, WarehouseBusyError, WorkbenchError

EXIT_FAILED, EXIT_CONFIG, EXIT_BUSY, EXIT_ERROR = 1, 2, 3, 4
_MARKS = {"success": "✓", "skipped": "·", "warn": "!", "error": "✗", "fail": "✗"}


def _errors_to_exit_codes(command):
    """The one place where workbench errors become messages and exit codes."""
    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except ConfigError as error:
            _fail(error, EXIT_CONFIG)
        except WarehouseBusyError as error:
            _fail(error, EXIT_BUSY)
        except WorkbenchError as error:
            _fail(error, EXIT_ERROR)
    return wrapper


def _fail(error: Exception, code: int) -> None:
    click.secho(f"error: {error}", fg="red", err=True)
    sys.exit(code)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--project", "-p", type=click.Path(file_okay=False, path_type=Path),
              default=None, help="Project folder (default: found from the current folder).")
@click.version_option(package_name="workbench")
@click.pass_context
def main(ctx: click.Context, project: Path | None) -> None:
    """Workbench: local files -> DuckDB -> dbt -> pandas, orchestrated by Prefect."""
    ctx.obj = project


@main.command()
@click.option("--dbt", "dbt_dir", type=click.Path(file_okay=False, path_type=Path),
              default=None, help="The dbt project's folder (default: here, or one below).")
@click.option("--vars", "dbt_vars", default=None, callback=lambda c, p, v: _dbt_vars(v),
              help="dbt vars the project needs to parse (kept in workbench.toml).")
@click.pass_context
@_errors_to_exit_codes
def init(ctx: click.Context, dbt_dir: Path | None, dbt_vars: dict | None) -> None:
    """Write a workbench.toml for an existing dbt project, its source()s listed to fill in."""
    from .init_project import init_project

    click.echo(init_project(ctx.obj or Path.cwd(), dbt_dir, dbt_vars).next_steps())


def _workbench(ctx: click.Context):
    from .api import Workbench

    return Workbench(ctx.obj)


@main.command()
@click.option("--source", "-s", "sources", multiple=True,
              help="Only this source and what is downstream of it (repeatable).")
@click.option("--select", default=None,
              help="dbt's selection grammar ('tag:x,marts', 'source:raw.events+') and the "
                   "workbench's own kinds ('loader:events+', 'step:x', 'action:y').")
@click.option("--exclude", default=None, help="Leave out what this selection picks (as dbt).")
@click.option("--full-refresh", is_flag=True, help="Reload every file, rebuild every table.")
@click.option("--vars", "dbt_vars", default=None, callback=lambda c, p, v: _dbt_vars(v),
              help="dbt vars for this run, YAML or JSON as dbt's --vars: '{key: value}'.")
@click.option("--dry-run", is_flag=True,
              help="Say what would run and why (new data, changed SQL, ...); do nothing.")
@click.pass_context
@_errors_to_exit_codes
def run(ctx: click.Context, sources: tuple[str, ...], select: str | None, exclude: str | None,
        full_refresh: bool, dbt_vars: dict | None, dry_run: bool) -> None:
    """Load what changed, build what is stale, print a summary."""
    wb = _workbench(ctx)
    if dry_run:
        click.echo(repr(wb.plan(sources=list(sources) or None, select=select, exclude=exclude,
                                full_refresh=full_refresh, vars=dbt_vars)))
        return
    started = time.perf_counter()
    click.echo(f"workbench run in {wb.config.root}")

    passed_tests = []
    counts = {"done": 0, "failed": 0}
    progress = _live_progress(counts)    # a spinner line with counts, in a terminal only

    def say(text: str, colour: str | None = None) -> None:
        if progress is not None:     # printed above the live line
            progress.console.print(text, style=colour, markup=False, highlight=False)
        else:
            click.secho(text, fg=colour)

    def show(node) -> None:
        counts["done"] += 1
        counts["failed"] += node.failed
        if progress is not None:
            progress.update(progress.task_ids[0], description=(
                f"running · {counts['done']} nodes done, {counts['failed']} failed · "
                f"last: {node.kind} {node.name}"))
        if node.kind == "test" and node.status == "success":
            passed_tests.append(node)     # one line for all of them at the end
            return
        rows = f"{node.rows:>10,} rows" if node.rows is not None else " " * 15
        colour = {"error": "red", "fail": "red", "warn": "yellow"}.get(node.status)
        say(f"  {_MARKS.get(node.status, '?')} {node.kind:<7} {node.name:<40} {rows} "
            f"{node.seconds:6.2f}s", colour)
        if node.failed and node.message:
            say("      " + node.message.replace("\n", "\n      "), colour)

    with progress or _start_up_lines():
        result = wb.run(sources=list(sources) or None, select=select, exclude=exclude,
                        vars=dbt_vars,
                        full_refresh=full_refresh, on_node=show)
    if passed_tests:
        click.echo(f"  ✓ {len(passed_tests)} dbt tests passed")
    for note in result.notes:
        click.echo(f"  {note}")
    click.echo(result.summary() + f" (wall {time.perf_counter() - started:.1f}s)")
    marts = [t for t in wb.tables() if t.schema == "marts"]
    if marts:
        click.echo("marts: " + ", ".join(f"{t.name} ({t.rows:,} rows)" if t.rows is not None
                                         else t.name for t in marts))
    _exit_without_collecting()
    if not result.ok:
        sys.exit(EXIT_FAILED)


def _exit_without_collecting() -> None:
    """Leave every object to the end of the process, not to the garbage collector: as the
    interpreter exits, its collections walk dbt's manifest and Prefect's modules again, a
    second or two of a fresh ``workbench run`` (``benchmarks/startup.py``) for memory the
    exit frees anyway."""
    import gc

    gc.freeze()


def _dbt_vars(text: str | None) -> dict | None:
    """``--vars`` read as dbt reads it: a YAML (or JSON) mapping."""
    if not text:
        return None
    import yaml

    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise click.BadParameter(f"not YAML: {error}", param_hint="--vars") from error
    if not isinstance(value, dict):
        raise click.BadParameter(f"must be a mapping such as '{{key: value}}', not {text!r}",
                                 param_hint="--vars")
    return value


def _live_progress(counts: dict[str, int]):
    """A rich progress line (spinner, what it waits for, counts, elapsed time) when stdout
    is a terminal; None when it is a pipe or a file, so logs and scripts get plain lines.

    Until the first node finishes, the line names anything slow under way ("starting the
    project's Prefect server… 4s", from ``shared.current_phase()``)."""
    from rich.console import Console
    from rich.progress import Progress, ProgressColumn, SpinnerColumn, TimeElapsedColumn
    from rich.text import Text

    from .service.shared import current_phase

    class WhatNow(ProgressColumn):
        def render(self, task) -> Text:
            phase = current_phase()
            if phase is not None and not counts["done"]:
                return Text(f"{phase.what}… {phase.elapsed:.0f}s")
            return Text(task.description)

    console = Console()
    if not console.is_terminal:
        return None
    progress = Progress(SpinnerColumn(), WhatNow(), TimeElapsedColumn(), console=console,
                        transient=True)
    progress.add_task("starting: importing Prefect, parsing the dbt project")
    return progress


@contextlib.contextmanager
def _start_up_lines(every: float = 0.25):
    """Plain lines for a log: when something slow before the first node begins and ends
    ("starting the project's Prefect server…", then "... ready in 8.1s")."""
    import threading

    from .service.shared import current_phase

    done = threading.Event()

    def watch() -> None:
        shown, finished = None, False
        while not finished:
            finished = done.wait(every)
            phase = current_phase()
            if phase is shown:
                continue
            if shown is not None:
                click.echo(f"  {shown.what}: done in {shown.elapsed:.1f}s")
            if phase is not None:
                click.echo(f"  {phase.what}…")
            shown = phase

    watcher = threading.Thread(target=watch, name="workbench-start-up-lines", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        done.set()
        watcher.join()


@main.command()
@click.pass_context
@_errors_to_exit_codes
def tables(ctx: click.Context) -> None:
    """List the warehouse's tables: layer, name, kind, rows, columns."""
    click.echo(repr(_workbench(ctx).tables()))


@main.command()
@click.pass_context
@_errors_to_exit_codes
def status(ctx: click.Context) -> None:
    """Sources (files, last load, pending dbt work), freshness against SLAs, last runs, and
    what the Prefect server serving the project is doing (PREFECT_API_URL or `serve`).

    Kept under a second in a fresh process (``benchmarks/loop.py``): plain DuckDB rows, no
    pandas, no dbt parse, and no HTTP client unless a server is known."""
    from .catalogue import last_runs
    from .service import status as server_status

    wb = _workbench(ctx)
    click.echo(f"project   {wb.config.root}\nwarehouse {wb.config.warehouse}")
    click.echo(repr(wb.status()))
    freshness = wb.freshness()
    click.echo("\nfreshness:")
    click.echo(repr(freshness))
    runs = last_runs(wb.config, wb.warehouse, limit=5)
    if runs:
        click.echo("\nlast runs:")
        for row in runs:
            click.echo(f"  {row.run_id}  {row.status:<8} {row.summary}")
    server = server_status.read(wb.config, freshness=lambda: freshness)   # judged once
    if server is None:
        click.echo("\nservice: not served (no PREFECT_API_URL, no `workbench serve` running)")
    else:
        click.echo("\n" + server.text())


@main.command()
@click.option("--pool", default=None, metavar="NAME",
              help="Register the deployments on this process work pool (created if missing) "
                   "for `prefect worker start --pool NAME` processes to run, instead of "
                   "running them in this process.")
@click.pass_context
@_errors_to_exit_codes
def serve(ctx: click.Context, pool: str | None) -> None:
    """Serve event-triggered deployments and watch data/landing/ until Ctrl-C.

    Uses PREFECT_API_URL, or starts a Prefect server on 127.0.0.1 for this project.
    """
    import logging

    from .service import serve as serve_project

    logging.basicConfig(format="%(asctime)s.%(msecs)03d %(name)s %(message)s",
                        datefmt="%H:%M:%S", level=logging.INFO)   # ms: where a delay went
    try:
        serve_project(ctx.obj, pool=pool)
    except ServiceError as error:      # it could not start: its server, its API
        _fail(error, EXIT_CONFIG)


@main.command()
@click.argument("notebook", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-p", "--parameter", "parameters", nargs=2, multiple=True,
              metavar="NAME VALUE", help="A notebook parameter (repeatable); values as YAML.")
@click.option("--output-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where the HTML goes (default: reports/ in the project).")
@click.option("--timeout", default=600, show_default=True, help="Seconds per cell.")
@click.option("--no-input", is_flag=True,
              help="Hide every code cell in the HTML (cells tagged hide-input always are).")
@click.pass_context
@_errors_to_exit_codes
def report(ctx: click.Context, notebook: Path, parameters: tuple[tuple[str, str], ...],
           output_dir: Path | None, timeout: int, no_input: bool) -> None:
    """Execute NOTEBOOK headless with a fresh kernel and write it as HTML."""
    import logging

    from .config import find_root
    from .report import ReportFailed, parse_parameters, run_report

    logging.basicConfig(format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    for name in ("papermill", "workbench.report"):
        logging.getLogger(name).setLevel(logging.INFO)
    root = find_root(ctx.obj or notebook.resolve().parent)
    try:
        result = run_report(notebook, root=root, parameters=parse_parameters(list(parameters)),
                            output_dir=output_dir, timeout=timeout, no_input=no_input)
    except ReportFailed as error:
        _fail(error, EXIT_FAILED)
    click.echo(repr(result))


@main.command("demo-data")
@click.option("--scale", default=1.0, show_default=True,
              help="1 = 1,000 users and 100,000 events; 100 = about 10M events.")
@click.option("--seed", default=42, show_default=True)
@click.pass_context
@_errors_to_exit_codes
def demo_data(ctx: click.Context, scale: float, seed: int) -> None:
    """Write the sample company's landing files (never overwrites existing files)."""
    from .community import demo
    from .config import find_root

    root = find_root(ctx.obj)
    written = demo.generate(root, scale=scale, seed=seed)
    total = sum(len(paths) for paths in written.values())
    click.echo(f"wrote {total} new file(s) under {root / 'data' / 'landing'}"
               + ("" if total else " (all files already there)"))


from .cli_server import server  # noqa: E402 - needs the helpers above

main.add_command(server)

if __name__ == "__main__":
    main()
