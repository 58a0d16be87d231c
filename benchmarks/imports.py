"""What ``import workbench`` costs a fresh process, and what it must not import.

    .venv/bin/python benchmarks/imports.py            # 15 fresh interpreters, medians

Every CLI call and every flow-run process pays for the package's import, so it stays small:
Prefect, dbt, IPython and scikit-learn are imported where they are first needed. Each round
starts a new interpreter with ``python -X importtime -c "import workbench"`` and reads the
cumulative microseconds of the ``workbench`` line (the import alone, not the interpreter's own
start), next to a baseline in the same round: ``import duckdb``, the one heavy library the
package needs at import (every read and write goes through it). Writes
``benchmarks/results/imports.json``; target ``import_workbench_s < 0.3``.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
HEAVY = ("prefect", "dbt", "IPython", "sklearn", "ipywidgets", "papermill")
TARGET_S = 0.3


def import_seconds(module: str) -> float:
    """Cumulative import time of ``module`` in a fresh interpreter, from -X importtime."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-c", f"import {module}"],
                          capture_output=True, text=True, check=True)
    pattern = re.compile(rf"^import time:\s+\d+ \|\s+(\d+) \| {re.escape(module)}$")
    for line in done.stderr.splitlines():
        match = pattern.match(line)
        if match:
            return int(match.group(1)) / 1e6
    raise SystemExit(f"no import time line for {module}:\n{done.stderr[-2000:]}")


def heavy_modules() -> list[str]:
    code = ("import sys, json, workbench; "
            f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    return json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    workbench, duckdb = [], []
    for _ in range(args.rounds):
        workbench.append(import_seconds("workbench"))
        duckdb.append(import_seconds("duckdb"))
    result = {
        "rounds": args.rounds,
        "import_workbench_s": round(statistics.median(workbench), 4),
        "import_duckdb_s": round(statistics.median(duckdb), 4),
        "workbench_over_duckdb": round(statistics.median(workbench)
                                       / statistics.median(duckdb), 2),
        "heavy_modules_imported": heavy_modules(),
        "target_import_workbench_s": TARGET_S,
    }
    result["met"] = (result["import_workbench_s"] < TARGET_S
                     and not result["heavy_modules_imported"])
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "imports.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
