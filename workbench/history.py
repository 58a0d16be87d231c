"""The runs so far, from the warehouse's ledger (``workbench.ledger``: runs, node results).

    >>> history = load_history(wb.sql, limit=20)        # or a cursor of wb.warehouse.reading()
    >>> history                  # in Jupyter: the runs, a Gantt of the last one, durations
    >>> history.last()           # the latest run's nodes as a DataFrame
    >>> history.durations(top=5).save("durations.svg")
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import ledger
from .ledger import NODE_COLUMNS, RUN_COLUMNS

if TYPE_CHECKING:
    import pandas as pd

    from .display.charts import Chart

__all__ = ["History", "NODE_COLUMNS", "RUN_COLUMNS", "load_history"]
MAX_RUNS_SHOWN = 20


class History:
    """Runs (newest first) and what each of their nodes did.

    Attributes:
        runs: one row per run: run_id, trigger, selection, status, started_at, finished_at,
            summary (times in UTC).
        nodes: one row per node of those runs: run_id, name, kind, status, seconds, rows,
            started_at, finished_at.
    """

    def __init__(self, runs: pd.DataFrame, nodes: pd.DataFrame) -> None:
        self.runs = runs.sort_values("started_at", ascending=False, kind="stable") \
            .reset_index(drop=True) if len(runs) else runs
        self.nodes = nodes

    def to_pandas(self) -> pd.DataFrame:
        """The runs, newest first."""
        return self.runs

    def __len__(self) -> int:
        return len(self.runs)

    def last(self) -> pd.DataFrame:
        """The latest run's nodes (an empty DataFrame when there is no run yet)."""
        return self.run(self._last_id()) if len(self.runs) else self.nodes.head(0)

    def run(self, run_id: str) -> pd.DataFrame:
        """The nodes of run ``run_id``, in the order they started."""
        if run_id not in set(self.runs["run_id"]):
            raise KeyError(f"no run {run_id!r} in this history (the last {len(self)} runs); "
                           f"see .runs")
        frame = self.nodes[self.nodes["run_id"] == run_id]
        return frame.sort_values(["started_at", "name"], na_position="last", kind="stable") \
            .reset_index(drop=True)

    def gantt(self, run_id: str | None = None) -> Chart:
        """A Gantt chart of one run (the latest by default): a bar per node on a time axis.

        Passing dbt tests are folded into the title; failing ones get a bar of their own.
        """
        from .display.charts import Chart, gantt

        if not len(self.runs):
            return Chart(gantt([]), "no runs yet")
        run_id = run_id or self._last_id()
        frame = self.run(run_id)
        tests = frame["kind"] == "test"
        quiet = tests & frame["status"].isin(["success", "skipped"])
        rows = [_node_dict(r) for r in frame[~quiet].to_dict("records")]
        run = self.runs[self.runs["run_id"] == run_id].iloc[0]
        seconds = _seconds_between(run["started_at"], run["finished_at"])
        title = (f"run {run_id} {run['status']}" + (f" in {seconds:.1f}s" if seconds else "")
                 + f" · {len(rows)} nodes")
        if int(quiet.sum()):
            title += f" · {int(quiet.sum())} dbt tests passed or skipped (not drawn)"
        return Chart(gantt(rows), title)

    def durations(self, top: int = 10) -> Chart:
        """Each of the ``top`` slowest nodes' seconds over the runs: what got slower."""
        from .display.charts import Chart, durations

        frame = self._timed()
        return Chart(durations(frame, top=top),
                     f"seconds per node over the last {len(self)} runs, {top} slowest")

    # -- display -------------------------------------------------------------------------------
    def __repr__(self) -> str:
        from .display.text import table

        if not len(self.runs):
            return "History: no runs yet"
        rows = [(r["run_id"], r["trigger"], r["selection"], r["status"], _when(r["started_at"]),
                 _fmt_seconds(_seconds_between(r["started_at"], r["finished_at"])),
                 _tail(r["summary"]))
                for r in self.runs.head(MAX_RUNS_SHOWN).to_dict("records")]
        more = len(self.runs) - MAX_RUNS_SHOWN
        return "\n".join([f"History: {len(self)} runs, newest first",
                          table(["run_id", "trigger", "selection", "status", "started (UTC)",
                                 "seconds", "nodes"], rows),
                          *([f"… and {more} more"] if more > 0 else [])])

    def _repr_html_(self) -> str:
        from .display.html import html_table

        if not len(self.runs):
            return "<div><b>History</b>: no runs yet. Run <code>wb.run()</code>.</div>"
        rows = [(r["run_id"], r["trigger"], r["selection"], r["status"], _when(r["started_at"]),
                 _fmt_seconds(_seconds_between(r["started_at"], r["finished_at"])),
                 _tail(r["summary"]))
                for r in self.runs.to_dict("records")]
        runs = html_table(["run_id", "trigger", "selection", "status", "started (UTC)",
                           "seconds", "nodes"], rows, status_column="status",
                          limit=MAX_RUNS_SHOWN)
        return (f"<div><b>History</b>: {len(self)} runs, newest first{runs}"
                f"<h4 style='margin:12px 0 2px'>Last run</h4>{self.gantt()._repr_html_()}"
                f"<h4 style='margin:12px 0 2px'>Durations</h4>"
                f"{self.durations()._repr_html_()}</div>")

    # -- helpers -------------------------------------------------------------------------------
    def _last_id(self) -> str:
        return str(self.runs.iloc[0]["run_id"])

    def _timed(self) -> pd.DataFrame:
        """Nodes that did work (no tests, nothing skipped), with their run's start time."""
        nodes = self.nodes[(self.nodes["kind"] != "test") & (self.nodes["status"] != "skipped")]
        starts = self.runs[["run_id", "started_at"]].rename(columns={"started_at": "run_at"})
        frame = nodes[["run_id", "name", "status", "seconds"]].merge(starts, on="run_id")
        return frame.rename(columns={"run_at": "started_at"})


def load_history(source: ledger.Source, limit: int = 20) -> History:
    """Read the last ``limit`` runs (newest first) and their nodes from the ledger, through
    ``source``: a read cursor (``wb.warehouse.reading()``) or ``wb.sql``."""
    return History(ledger.recent_runs(source, limit), ledger.recent_node_results(source, limit))


def _node_dict(record: dict) -> dict:
    return {"name": record["name"], "kind": record["kind"], "status": record["status"],
            "started_at": _or_none(record["started_at"]),
            "finished_at": _or_none(record["finished_at"]),
            "seconds": _or_none(record["seconds"])}


def _or_none(value):
    try:
        return None if value is None or value != value else value    # NaN and NaT
    except (TypeError, ValueError):
        return value


def _seconds_between(start, end) -> float | None:
    start, end = _or_none(start), _or_none(end)
    if start is None or end is None:
        return None
    return (end - start).total_seconds()


def _fmt_seconds(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}"


def _when(value) -> str:
    value = _or_none(value)
    return "" if value is None else value.strftime("%Y-%m-%d %H:%M:%S")


def _tail(summary) -> str:
    """The summary without its "run <id> <status> in <s>:" head, which the table repeats."""
    text = "" if _or_none(summary) is None else str(summary)
    head, sep, rest = text.partition(": ")
    return rest if sep and head.startswith("run ") else text
