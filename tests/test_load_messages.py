"""What a person sees when a run fails on our own errors: one line each, no traceback, no
Prefect line repeating it (issue 14, point 7). Runs the real CLI with Prefect."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from filelock import FileLock

WORKBENCH = str(Path(sys.executable).with_name("workbench"))


@pytest.fixture
def loaded(built_project, tmp_path) -> Path:
    root = tmp_path / "copy"
    shutil.copytree(built_project, root)
    return root


def cli(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([WORKBENCH, *args], cwd=root, capture_output=True, text=True,
                          timeout=600)


def test_lock_timeout_prints_its_message_without_a_traceback(loaded):
    (loaded / "workbench.toml").write_text(
        (loaded / "workbench.toml").read_text().replace(
            'landing = "data/landing"', 'landing = "data/landing"\nlock_timeout = 1'))
    with FileLock(str(loaded / "data" / "warehouse.duckdb.lock")):
        done = cli(loaded, "run")
    output = done.stdout + done.stderr
    assert done.returncode != 0
    assert "stayed locked by another run" in output
    assert "Traceback" not in output, output
    assert "Encountered exception" not in output, output


def test_a_bad_file_is_reported_once_without_prefect_repeating_it(loaded):
    bad = loaded / "data" / "landing" / "invoices" / "2026-11.csv"
    bad.write_text("invoice_id,user_id,issued_at,amount,currency,status\n"
                   "INV-1,oops,2026-11-01,1.00,EUR,paid\n")

    done = cli(loaded, "run", "--source", "invoices")

    output = done.stdout + done.stderr
    assert "invoices/2026-11.csv" in output
    assert "Finished in state Failed" not in output, output
    assert "Traceback" not in output, output
