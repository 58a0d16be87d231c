"""``workbench init`` writes a workbench.toml for a dbt project that has none."""

from __future__ import annotations

import shutil
from pathlib import Path

from click.testing import CliRunner

from workbench import Workbench
from workbench.cli import EXIT_CONFIG, main
from workbench.init_project import find_dbt_project

FIDELITY = Path(__file__).parent / "projects" / "fidelity"


def test_init_lists_the_dbt_sources_to_fill_in_and_never_overwrites(tmp_path, monkeypatch):
    root = tmp_path / "fidelity"
    shutil.copytree(FIDELITY, root, ignore=shutil.ignore_patterns(
        "workbench.toml", "target", "logs", "dbt_packages", "package-lock.yml", ".workbench",
        "*.duckdb"))
    monkeypatch.chdir(root)

    done = CliRunner().invoke(main, ["init", "--dbt", "dbt", "--vars", "{include_stores: true}"])

    assert done.exit_code == 0, done.output
    assert "1 source(s) to fill in, 1 left as external inputs" in done.output
    assert "workbench run --dry-run" in done.output
    written = (root / "workbench.toml").read_text()
    assert 'dbt_project = "dbt"' in written and "[sources.payments]" in written
    assert "source('raw', 'payments')" in written and "#   ext.ext_events" in written
    assert "include_stores = true" in written
    (root / "workbench.toml").write_text(written.replace(
        '# path = "payments/*.csv"', 'path = "payments/*.csv"'))
    plan = Workbench(root).plan()
    assert {(n.kind, n.name) for n in plan.to_run} >= {("source", "payments"),
                                                       ("model", "stg_payments")}

    again = CliRunner().invoke(main, ["init", "--dbt", "dbt"])
    assert again.exit_code == EXIT_CONFIG
    assert "already exists; workbench init never overwrites it" in again.output
    assert 'path = "payments/*.csv"' in (root / "workbench.toml").read_text()


def test_init_finds_the_dbt_project_here_or_one_folder_below(tmp_path):
    project = tmp_path / "analytics"
    project.mkdir()
    (project / "dbt_project.yml").write_text("name: analytics\n")
    assert find_dbt_project(project) == project.resolve()
    assert find_dbt_project(tmp_path) == project.resolve()
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "dbt_project.yml").write_text("name: other\n")
    done = CliRunner().invoke(main, ["-p", str(tmp_path), "init"])
    assert done.exit_code == EXIT_CONFIG and "choose one" in done.output
