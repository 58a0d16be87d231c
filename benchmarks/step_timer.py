"""Where a warm run's time goes: ``StepTimer`` times each pipeline step inside one
``wb.run()`` (used by ``core.py``, ``loop.py`` and ``pipeline.py``)."""

from __future__ import annotations

import functools
import importlib
import time
from collections.abc import Callable

# What StepTimer wraps: label -> (module, class, method); a method the package no longer has
# is skipped. Some nest (build and plan call manifest(), finish calls publish) and the
# scheduler runs loads and builds in parallel threads, so steps are kept as time intervals.
_STEPS = {
    "dbt_manifest": ("workbench.transform", "DbtProject", "manifest"),
    "dbt_fingerprint": ("workbench.transform", "DbtProject", "fingerprint"),
    "plan": ("workbench.pipeline", "Pipeline", "plan"),
    "scan": ("workbench.units", "Units", "scan"),
    "load": ("workbench.units", "Units", "load"),
    "dbt_build": ("workbench.units", "Units", "build"),
    "steps": ("workbench.units", "Units", "run_step"),
    "finish": ("workbench.pipeline", "Pipeline", "finish"),
    "publish": ("workbench.warehouse", "Warehouse", "publish"),
}
# The steps that do not nest in each other; whatever time none of them covers is Prefect's
# flow and task machinery and the scheduler's bookkeeping.
_TOP_LEVEL = ("plan", "scan", "load", "dbt_build", "steps", "finish")

Interval = tuple[float, float]


class StepTimer:
    """Wall time of each pipeline step inside one ``wb.run()``, without a second run.

    Wraps the classes' methods (not instances: the pipeline may be copied on its way into
    Prefect tasks) for the length of a ``with`` block, and restores them afterwards.
    """

    def __init__(self) -> None:
        self.calls: dict[str, list[Interval]] = {label: [] for label in _STEPS}
        self._originals: list[tuple[type, str, Callable]] = []

    def __enter__(self) -> StepTimer:
        for label, (module, cls_name, method) in _STEPS.items():
            cls = getattr(importlib.import_module(module), cls_name)
            original = getattr(cls, method, None)
            if original is not None:
                self._originals.append((cls, method, original))
                setattr(cls, method, self._timed(label, original))
        return self

    def __exit__(self, *exc) -> None:
        for cls, method, original in reversed(self._originals):
            setattr(cls, method, original)

    def _timed(self, label: str, original: Callable) -> Callable:
        @functools.wraps(original)
        def wrapper(*args, **kwargs):
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.calls[label].append((started, time.perf_counter()))
        return wrapper

    def breakdown(self, prefix: str, total: float) -> dict[str, float]:
        """Wall time each step was running (overlaps counted once), and what no step covers.

        ``dbt_parse`` is the first manifest() call, before the flow starts; later calls are
        cached lookups inside other steps. ``publish`` is part of ``finish``.
        """
        parse = self.calls["dbt_manifest"][:1]
        steps = {"dbt_parse": _covered(parse)}
        steps.update({label: _covered(self.calls[label]) for label in _TOP_LEVEL})
        steps["publish"] = _covered(self.calls["publish"])
        every = parse + [i for label in _TOP_LEVEL for i in self.calls[label]]
        steps["prefect_other"] = total - _covered(every)
        steps["dbt_fingerprint_all_calls"] = sum(end - start for start, end
                                                 in self.calls["dbt_fingerprint"])
        report = {f"{prefix}_{name}_s": round(value, 4) for name, value in steps.items()}
        report[f"{prefix}_dbt_invocations"] = len(self.calls["dbt_build"])
        return report


def _covered(intervals: list[Interval]) -> float:
    """Seconds covered by at least one interval."""
    covered, reach = 0.0, float("-inf")
    for start, end in sorted(intervals):
        if end > reach:
            covered += end - max(start, reach)
            reach = end
    return covered
