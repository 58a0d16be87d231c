"""Part (f) of the core benchmark: a first ``wb.run()`` in a fresh Python process, with
where its time goes.

    .venv/bin/python benchmarks/fresh_run.py ROOT      # the child; prints its marks as JSON
"""

from __future__ import annotations

import functools
import importlib
import json
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness import PYTHON, _require_success, run_child

def fresh_process_run(project: Path) -> dict[str, float]:
    """Time ``python benchmarks/fresh_run.py ROOT`` and break down its timeline.

    The child prints wall-clock marks (``time.time()``, one clock for both processes), so
    the parent can split the total into interpreter start, imports, Prefect's server start,
    dbt's import and parse, the flow itself and interpreter exit.
    """
    spawned = time.time()
    run = run_child([str(PYTHON), __file__, str(project)], os.environ.copy())
    ended = spawned + run.seconds
    m = json.loads(run.stdout.strip().splitlines()[-1])
    ready = max(m["dbt_parsed"], m["server_ready"])   # the flow starts once both are done
    parts = {
        "python_start": m["started"] - spawned,
        "import_workbench": m["imported_workbench"] - m["started"],
        "import_prefect": m["imported_prefect"] - m["imported_workbench"],
        "workbench_init": m["workbench_created"] - m["imported_prefect"],
        "until_dbt": m["dbt_import_began"] - m["workbench_created"],
        "dbt_import": m["dbt_imported"] - m["dbt_import_began"],
        "dbt_parse": m["dbt_parsed"] - m["dbt_imported"],
        "wait_for_prefect_server": max(0.0, m["server_ready"] - m["dbt_parsed"]),
        "flow": m["run_finished"] - ready,
        "exit": ended - m["run_finished"],
    }
    report = {f"f_{name}_s": round(value, 4) for name, value in parts.items()}
    report["f_prefect_server_start_s"] = round(m["server_ready"] - m["server_start_began"], 4)
    return {"f_fresh_process_s": run.seconds, **report, "f_peak_rss_mb": run.peak_rss_mb,
            "f_prefect_server_peak_rss_mb": run.descendants_peak_rss_mb}


def fresh_run_child(root: str) -> None:
    """The child of (f): ``Workbench(root).run()``, printing when each phase ended.

    Instrumented by wrapping, not by reordering, so the run keeps its real overlap (Prefect's
    server starts in a thread while dbt imports and parses). ``workbench.flows`` is imported
    up front only to time Prefect's import: ``wb.run()`` imports it first thing anyway.
    """
    marks = {"started": time.time()}
    from workbench import Workbench
    marks["imported_workbench"] = time.time()
    from workbench import environment

    environment.defer_iri_grammar()     # as Workbench() does before a run imports Prefect
    import workbench.flows  # noqa: F401  (prefect)
    marks["imported_prefect"] = time.time()
    _mark_server_start(marks)
    _mark_first_call("workbench.transform", "DbtProject", "manifest", marks,
                     "dbt_import_began", "dbt_parsed",
                     first=lambda: importlib.import_module("dbt.cli.main"),
                     first_done="dbt_imported")
    wb = Workbench(root)
    marks["workbench_created"] = time.time()
    result = wb.run()
    marks["run_finished"] = time.time()
    _require_success(result, "fresh-process run")
    print(json.dumps(marks))


def _mark_server_start(marks: dict) -> None:
    """Record when ``PrefectExecutor.warm_up()`` starts Prefect's server thread and when it
    is done.

    The thread imports Prefect's server modules, spawns the server and waits for its health
    check; a watcher joins it, so nothing is imported here ahead of the product's own order.
    """
    from workbench import flows

    original = flows.PrefectExecutor.warm_up

    @functools.wraps(original)
    def wrapper(self):
        first = "server_start_began" not in marks
        marks.setdefault("server_start_began", time.time())
        original(self)
        thread = getattr(flows, "_warm_up_thread", None)
        if first and thread is not None:
            def watch():
                thread.join()
                marks["server_ready"] = time.time()
            threading.Thread(target=watch, daemon=True).start()
    flows.PrefectExecutor.warm_up = wrapper


def _mark_first_call(module: str, cls_name: str, method: str, marks: dict, began: str,
                     ended: str, *, first: Callable[[], Any] | None = None,
                     first_done: str | None = None) -> None:
    """Record when the first call of ``cls.method`` began and ended.

    ``first`` runs at the start of that call, where the method would have done the same work
    itself (dbt's import), so that it gets a mark of its own (``first_done``).
    """
    cls = getattr(importlib.import_module(module), cls_name)
    original = getattr(cls, method)

    @functools.wraps(original)
    def wrapper(*args, **kwargs):
        if began in marks:
            return original(*args, **kwargs)
        marks[began] = time.time()
        if first:
            first()
            marks[first_done] = time.time()
        try:
            return original(*args, **kwargs)
        finally:
            marks[ended] = time.time()
    setattr(cls, method, wrapper)


if __name__ == "__main__":       # the child: its parent set up the environment
    fresh_run_child(sys.argv[1])
