"""``Workbench``: the one object a notebook, a report, a script or a test holds."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from . import environment, ledger
from .catalogue import Catalogue, StatusReport
from .config import WorkbenchConfig, load_config
from .errors import ConfigError
from .progress import CancelToken, Listener, on_each_node
from .results import NodeResult, RunResult
from .warehouse import Warehouse

if TYPE_CHECKING:
    import pandas as pd

    from .display.explorer import Explorer
    from .display.lineage import Lineage
    from .executors import Executor
    from .freshness import FreshnessReport
    from .graph import Graph
    from .history import History
    from .pipeline import Pipeline, RunRequest
    from .report import ReportResult
    from .run_plan import RunPlan
    from .service.status import ServerStatus

log = logging.getLogger(__name__)


class Workbench:
    """A workbench project: its sources, its dbt project and its DuckDB warehouse.

    Example::

        with Workbench() as wb:                  # finds workbench.toml from the cwd upwards
            wb.run().raise_for_failures()
            df = wb.table("user_engagement")     # a pandas DataFrame
    """

    def __init__(self, root: str | Path | None = None) -> None:
        self.config: WorkbenchConfig = load_config(root)
        environment.prepare(self.config.state_dir)
        if "ipykernel" in sys.modules:      # in a notebook: our errors as their message
            from .display.tracebacks import short_tracebacks

            short_tracebacks()
        self.warehouse = Warehouse(self.config.warehouse, self.config.published,
                                   lock_timeout=self.config.lock_timeout)
        self._pipeline: Pipeline | None = None

    # -- running -----------------------------------------------------------------------------
    def run(self, sources: Sequence[str] | None = None, select: str | None = None, *,
            exclude: str | None = None, full_refresh: bool = False, trigger: str = "manual",
            vars: dict[str, object] | None = None,
            on_node: Callable[[NodeResult], None] | None = None,
            listeners: Iterable[Listener] = (), cancel: CancelToken | None = None,
            executor: Executor | None = None) -> RunResult:
        """Load new or changed files, build what is stale with dbt, publish the result.

        Args:
            sources: only these sources, and only the dbt nodes downstream of them.
            select: a selection in dbt's grammar (``"marts"``, ``"tag:x,+user_engagement"``,
                ``"source:raw.events+"``) with the workbench's own kinds (``"loader:events+"``,
                ``"step:*"``, ``"action:x"``): README, "Selecting what runs".
            exclude: leave out what this selection picks (dbt's ``--exclude``).
            full_refresh: reload every file and rebuild every table from scratch.
            vars: dbt vars for this run, over ``[dbt] vars`` of workbench.toml (dbt's
                ``--vars``); changed vars rebuild every dbt node.
            on_node: called with each NodeResult as it finishes (progress displays).
            listeners: called with each of the run's progress events
                (``workbench.progress``: planned, started, finished, up to date).
            cancel: a ``CancelToken``; once cancelled no new work starts and the run
                raises RunCancelled.
            executor: how the run is carried out: a Prefect flow by default
                (``workbench.flows.PrefectExecutor``), or ``InlineExecutor()`` in-process
                without Prefect.

        Returns the RunResult; failures are in it, not raised (``raise_for_failures()``).
        """
        request = self._request(sources, select, full_refresh, trigger, vars, exclude)
        listeners = list(listeners)
        on_done = None
        if on_node is None and not listeners:
            from .display.progress import notebook_progress

            live, on_done = notebook_progress() or (None, None)
            listeners += [live] if live else []
        if on_node is not None:
            listeners.append(on_each_node(on_node))
        if executor is None:
            if not environment.has_prefect_server():   # the flow's server, found or
                from .service import shared             # started while Prefect imports

                shared.ensure_ahead()
            from .flows import PrefectExecutor

            executor = PrefectExecutor()
        result = self.pipeline.run(request, executor, listeners=listeners, cancel=cancel)
        environment.freeze_long_lived()
        if on_done:
            on_done(result)
        return result

    def plan(self, sources: Sequence[str] | None = None, select: str | None = None, *,
             exclude: str | None = None, full_refresh: bool = False,
             vars: dict[str, object] | None = None) -> RunPlan:
        """What ``wb.run(...)`` with the same arguments would do and why, without doing it:
        each selected node, whether it would run, and the reason (new data, its definition
        changed, an upstream change, selected) or "up to date"."""
        return self.pipeline.plan_run(self._request(sources, select, full_refresh,
                                                    vars=vars, exclude=exclude))

    def _request(self, sources: Sequence[str] | str | None, select: str | None,
                 full_refresh: bool, trigger: str = "manual",
                 vars: dict[str, object] | None = None,
                 exclude: str | None = None) -> RunRequest:
        """The request, its sources checked: an unknown one fails before any work."""
        from .pipeline import RunRequest

        if isinstance(sources, str):
            sources = [sources]
        for name in sources or ():
            self.config.source(name)
        return RunRequest(tuple(sources) if sources is not None else None, select,
                          full_refresh, trigger, dict(vars) if vars else None, exclude)

    @property
    def pipeline(self) -> Pipeline:
        if self._pipeline is None:
            from .pipeline import Pipeline

            self._pipeline = Pipeline(self.config, self.warehouse)
        return self._pipeline

    # -- reading -----------------------------------------------------------------------------
    def table(self, name: str) -> pd.DataFrame:
        """A table or view as a pandas DataFrame (``"user_engagement"`` or ``"raw.events"``)."""
        return self.warehouse.table(name)

    def sql(self, query: str, params: Sequence[object] | dict | None = None) -> pd.DataFrame:
        """Run SQL on the published warehouse with ``?`` or ``$name`` parameters."""
        return self.warehouse.query(query, params)

    def tables(self) -> Catalogue:
        """What exists: layer, name, kind, rows, columns and dbt's description, marts
        first (``column_descriptions(name)`` for a table's columns)."""
        from .catalogue import dbt_docs

        return Catalogue(self.warehouse.catalogue(), dbt_docs(self.config.dbt_project))

    def status(self) -> StatusReport:
        """Each source: files on disk and loaded, rows, last load, pending dbt work, rejects."""
        from .catalogue import source_status

        return source_status(self.config, self.warehouse)

    def freshness(self) -> FreshnessReport:
        """Each source's last load that brought data, its age, SLA and state."""
        from .freshness import assess
        from .results import utc_now

        last = {}
        if self.config.published.exists():
            with self.warehouse.reading() as con:
                last = ledger.last_loads(con)
        return assess(self.config, last, utc_now())

    def graph(self) -> Graph:
        """The one graph: sources, dbt nodes, steps and actions, with their edges."""
        return self.pipeline.graph()

    def preview(self, name: str) -> pd.DataFrame | None:
        """Dry-run a step or action on the published warehouse: what it would do, as a
        DataFrame (``wb.preview("personalized_messages")``). Nothing is sent or written."""
        steps = {s.name: s for s in (*self.config.steps, *self.config.actions)}
        if name not in steps:
            raise ConfigError(f"no step or action named {name!r}; configured: "
                              f"{', '.join(steps) or 'none'}", step=name)
        return self.pipeline.units.preview(steps[name]).frame

    def panel(self):
        """A control panel: run everything, a source and its downstream, or a selection;
        each node's state live while the kernel stays free; cancel; the result."""
        from .display.panel import panel

        return panel(self)

    def serve(self, **options) -> None:
        """Run the workbench as a service until stopped: Prefect deployments triggered by
        file-arrival and source-loaded events, and a watcher on the landing folder (see
        ``workbench.service.serve`` for the options, e.g. ``stop=threading.Event()``)."""
        from .service import serve

        serve(self.config.root, **options)

    def server(self) -> ServerStatus | None:
        """What the Prefect server serving this project is doing: deployments, recent and
        queued runs, workers, late sources. None when no server is known (no
        ``PREFECT_API_URL``, no ``workbench serve`` running), so a notebook can tell "not
        served" from "served but unreachable" (``.reachable``)."""
        from .service import status as server_status

        return server_status.read(self.config, freshness=self.freshness)

    def explore(self, table: str | None = None) -> Explorer:
        """A table explorer widget: schema, rows, last build, freshness, a sorted and
        filtered preview paged by DuckDB, a per-column profile; ``.frame()`` pulls the
        selected table into pandas."""
        from .display.explorer import Explorer

        return Explorer(self, table)

    def report(self, notebook: str | Path, **parameters) -> ReportResult:
        """Execute a notebook headless with these parameters into HTML under ``reports/``.

        Raises ReportFailed naming the failing cell; its HTML is written all the same.
        """
        from .report import run_report

        return run_report(Path(notebook), root=self.config.root, parameters=parameters)

    def history(self, limit: int = 20) -> History:
        """Past runs that did work (newest first) and their nodes, with a Gantt chart of
        the last run and each node's duration over runs (``.gantt()``, ``.durations()``)."""
        from .history import load_history

        return load_history(self.sql, limit=limit)

    def lineage(self, highlight: str | None = None, *, include_tests: bool = False
                ) -> Lineage:
        """The graph as a picture: coloured by each node's last status and each source's
        freshness; ``highlight`` a node to see its upstream and downstream.
        ``.save("lineage.svg")`` writes it as a file."""
        from .display.lineage import Lineage

        statuses: dict[str, str] = {}
        if self.config.published.exists():
            with self.warehouse.reading() as con:
                statuses = ledger.latest_statuses(con)
        freshness = {f.source: f.state for f in self.freshness()}
        return Lineage(self.graph(), statuses=statuses, freshness=freshness,
                       highlight=highlight, include_tests=include_tests)

    # -- lifecycle ---------------------------------------------------------------------------
    def close(self) -> None:
        """Nothing is held open between calls; kept so ``with Workbench()`` reads naturally."""
        self._pipeline = None

    def __enter__(self) -> Workbench:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"Workbench(root={str(self.config.root)!r}, sources="
                f"{[s.name for s in self.config.sources]}, warehouse="
                f"{str(self.config.warehouse)!r})")
