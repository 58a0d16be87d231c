"""``wb.plan()``: what a run would do and why, without doing it (``workbench run --dry-run``).

Made by ``Pipeline.plan_run`` from the same plan and the same rules the scheduler uses, so it
says exactly what the next ``wb.run(...)`` with the same arguments will do, as long as every
unit of work succeeds and no file lands in between.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class PlannedNode:
    """One selected node: will it run, and why."""

    name: str
    kind: str
    runs: bool
    reason: str          # why it runs, or "up to date"


@dataclass(frozen=True)
class RunPlan:
    """Each node a run would touch, in dependency order, with what it would do and why."""

    selection: str
    nodes: tuple[PlannedNode, ...]
    notes: tuple[str, ...] = ()

    @property
    def to_run(self) -> tuple[PlannedNode, ...]:
        return tuple(n for n in self.nodes if n.runs)

    def summary(self) -> str:
        runs = self.to_run
        if not runs:
            return f"plan {self.selection}: nothing to do, everything is up to date"
        kinds: dict[str, int] = {}
        for node in runs:
            kinds[node.kind] = kinds.get(node.kind, 0) + 1
        counts = ", ".join(f"{count} {kind}{'s' if count > 1 else ''}"
                           for kind, count in kinds.items())
        return (f"plan {self.selection}: {len(runs)} of {len(self.nodes)} nodes would run "
                f"({counts})")

    def to_pandas(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame([{"name": n.name, "kind": n.kind, "runs": n.runs,
                              "reason": n.reason} for n in self.nodes])

    def __repr__(self) -> str:
        from .display.text import table

        rows = [(n.name, n.kind, n.reason) for n in self.to_run]
        up_to_date = len(self.nodes) - len(rows)
        tail = [f"{up_to_date} node(s) up to date"] if up_to_date else []
        return "\n".join([self.summary(), *self.notes,
                          *([table(["would run", "kind", "why"], rows)] if rows else []),
                          *tail])

    def _repr_html_(self) -> str:
        from html import escape

        from .display.html import html_table

        rows = [(n.kind, n.name, "run" if n.runs else "up to date", n.reason)
                for n in sorted(self.nodes, key=lambda n: not n.runs)]
        notes = "".join(f"<div>{escape(note)}</div>" for note in self.notes)
        return (f"<div><b>{escape(self.summary())}</b>{notes}"
                + html_table(["kind", "name", "does", "why"], rows, css="workbench-plan")
                + "</div>")
