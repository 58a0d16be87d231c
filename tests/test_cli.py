"""The command line, as a script would use it: output and exit codes."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

WORKBENCH = str(Path(sys.executable).parent / "workbench")


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([WORKBENCH, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=1200)


def test_run_prints_what_ran_and_the_marts_then_exits_zero(project):
    done = cli("run", cwd=project / "dbt")        # the project is found from a subfolder

    assert done.returncode == 0, done.stdout + done.stderr
    assert "load" not in done.stderr
    assert "success" in done.stdout and "user_engagement" in done.stdout
    assert "marts:" in done.stdout


def test_run_with_a_failing_dbt_test_exits_one_and_names_it(built_project, tmp_path):
    from helpers import write_events

    root = tmp_path / "copy"
    shutil.copytree(built_project, root)
    write_events(root, "2026-11.parquet", [(50_000_000, 424_242, "alerts")])

    done = cli("run", "--source", "events", cwd=root)

    assert done.returncode == 1, done.stdout + done.stderr
    assert "relationships_stg_events_user_id" in done.stdout
    assert "1 failing row(s)" in done.stdout


def test_tables_and_status_read_the_published_warehouse(built_project):
    tables = cli("tables", cwd=built_project)
    status = cli("status", cwd=built_project)

    assert tables.returncode == 0 and "user_engagement" in tables.stdout
    assert status.returncode == 0 and "community_messages" in status.stdout
    assert "last runs:" in status.stdout


def test_status_lists_the_last_runs_without_pandas_prefect_or_an_http_client(
        built_project, monkeypatch):
    """A fresh ``workbench status`` stays light: what it imports is what makes it fast
    (``benchmarks/loop.py`` times it)."""
    from workbench import Workbench

    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    script = ("import sys\nfrom workbench.cli import main\n"
              "try:\n    main(['status'])\nexcept SystemExit as done:\n"
              "    heavy = [m for m in ('pandas', 'pyarrow', 'httpx', 'prefect', 'dbt')"
              " if m in sys.modules]\n"
              "    print('heavy:', heavy, 'exit:', done.code)\n")
    done = subprocess.run([sys.executable, "-c", script], cwd=built_project,
                          capture_output=True, text=True, timeout=600)

    assert done.returncode == 0, done.stdout + done.stderr
    assert "heavy: [] exit: 0" in done.stdout
    last = Workbench(built_project).history(limit=1).runs.iloc[0]
    assert f"  {last['run_id']}  {last['status']:<8} {last['summary']}" in done.stdout
    assert "service: not served" in done.stdout


def test_status_of_a_project_never_run_says_what_is_on_disk_and_exits_zero(project):
    done = cli("status", cwd=project)

    assert done.returncode == 0, done.stdout + done.stderr
    assert "never loaded" in done.stdout and "last runs:" not in done.stdout
    assert "service: not served" in done.stdout


def test_missing_project_exits_two_with_a_clear_message(tmp_path):
    done = cli("tables", cwd=tmp_path)

    assert done.returncode == 2
    assert "no workbench.toml found" in done.stderr


def test_demo_data_never_overwrites_existing_files(project):
    landing = project / "data" / "landing"
    before = {p: p.read_bytes() for p in landing.rglob("*") if p.is_file()}

    done = cli("demo-data", "--scale", "0.02", cwd=project)

    assert done.returncode == 0 and "already there" in done.stdout
    assert {p: p.read_bytes() for p in landing.rglob("*") if p.is_file()} == before
