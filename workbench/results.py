"""Typed, frozen results of a run. They display themselves in a terminal and in Jupyter.

Failures are data: a run that fails still returns a RunResult; ask for an exception with
``result.raise_for_failures()``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Literal

from .errors import RunFailed

if TYPE_CHECKING:
    import pandas as pd

def utc_now() -> datetime:
    """Now in UTC, without tzinfo: how every timestamp in the warehouse is stored."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


Kind = Literal["source", "seed", "model", "snapshot", "test", "dbt", "step", "action"]
Status = Literal["success", "error", "fail", "warn", "skipped"]
FAILED = ("error", "fail")


@dataclass(frozen=True)
class NodeResult:
    """What happened to one node of the graph in one run."""

    name: str
    kind: Kind
    status: Status
    seconds: float = 0.0
    rows: int | None = None          # rows loaded (sources), rows in the table (models)
    message: str | None = None       # why it failed or was skipped, in a sentence
    failures: int | None = None      # failing rows of a dbt test
    relation: str | None = None      # schema.table it wrote, for wb.sql follow-ups
    started_at: datetime | None = None   # UTC
    finished_at: datetime | None = None  # UTC
    metrics: dict[str, float] | None = None   # sources: files; steps: calls, cache hits, ...
    stale_sources: tuple[str, ...] = ()  # sources past their freshness SLA it was built from
    query: str | None = None         # a failed dbt test: SQL for its failing rows (wb.sql)
    sample: tuple[dict, ...] = ()    # a failed dbt test: its first failing rows, at the end

    @property
    def failed(self) -> bool:
        return self.status in FAILED

    def failing_rows(self) -> pd.DataFrame:
        """The first failing rows of a failed dbt test (read when the run finished), as a
        DataFrame; ``wb.sql(node.query)`` reads them all."""
        import pandas as pd

        return pd.DataFrame(list(self.sample))


@dataclass(frozen=True)
class RunResult:
    """One run: its nodes in execution order, plus what was decided not to run and why."""

    run_id: str
    started_at: datetime
    finished_at: datetime
    nodes: tuple[NodeResult, ...]
    trigger: str = "manual"
    selection: str = "all"
    notes: tuple[str, ...] = field(default=())
    up_to_date: tuple[NodeResult, ...] = ()   # selected, but nothing they read changed
    cancelled: bool = False                   # stopped by a CancelToken before all its work

    @property
    def ok(self) -> bool:
        return not self.failures and not self.cancelled

    @property
    def status(self) -> str:
        return "cancelled" if self.cancelled else "success" if self.ok else "failed"

    @property
    def seconds(self) -> float:
        return (self.finished_at - self.started_at).total_seconds()

    @property
    def failures(self) -> tuple[NodeResult, ...]:
        return tuple(n for n in self.nodes if n.failed)

    def node(self, name: str) -> NodeResult:
        """The result of the node called ``name``. A node the run selected but found up to
        date answers too, with status ``skipped`` and the message "up to date" (so a cell
        reading a node works on a fresh project and on a built one alike); KeyError if the
        run did not select it."""
        for node in (*self.nodes, *self.up_to_date):
            if node.name == name:
                return node
        raise KeyError(f"no node {name!r} in run {self.run_id} (selection "
                       f"{self.selection}): it was not selected")

    def raise_for_failures(self) -> RunResult:
        """Raise RunFailed naming every failed node; return self when all went well."""
        if self.failures:
            lines = [f"{n.kind} {n.name}: {n.message or n.status}" for n in self.failures]
            raise RunFailed(f"run {self.run_id} failed: {len(lines)} node(s) failed\n  "
                            + "\n  ".join(lines), result=self)
        return self

    def to_pandas(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame([{
            "name": n.name, "kind": n.kind, "status": n.status, "rows": n.rows,
            "seconds": round(n.seconds, 3), "failures": n.failures, "message": n.message,
            "started_at": n.started_at, "finished_at": n.finished_at,
            "stale_sources": ", ".join(n.stale_sources) or None,
        } for n in self.nodes])

    def shown_nodes(self) -> tuple[tuple[NodeResult, ...], int]:
        """Nodes worth a line each, and how many passing dbt tests were folded away."""
        def folded(node: NodeResult) -> bool:
            return node.kind == "test" and node.status == "success"
        shown = tuple(n for n in self.nodes if not folded(n))
        return shown, len(self.nodes) - len(shown)

    def summary(self) -> str:
        """One line: counts by status and the run's time."""
        counts: dict[str, int] = {}
        for node in self.nodes:
            counts[node.status] = counts.get(node.status, 0) + 1
        parts = ", ".join(f"{count} {status}" for status, count in sorted(counts.items()))
        if self.up_to_date:
            parts += f"{', ' if parts else ''}{len(self.up_to_date)} up to date"
        return f"run {self.run_id} {self.status} in {self.seconds:.1f}s: {parts or 'nothing to do'}"

    def __repr__(self) -> str:
        from .display.text import node_table

        shown, passed = self.shown_nodes()
        tests = [f"{passed} dbt tests passed"] if passed else []
        return "\n".join([self.summary(), *self.notes, node_table(shown), *tests])

    def _repr_html_(self) -> str:
        from .display.html import run_result_html

        return run_result_html(self)

    def _ipython_display_(self) -> None:
        """Shown as usual, except in the cell whose live progress already became this
        result (``wb.run()`` in a notebook): it is not shown a second time there."""
        from IPython.display import display

        from .display.progress import shown_live

        if not shown_live(self):
            display({"text/plain": repr(self), "text/html": self._repr_html_()}, raw=True)
