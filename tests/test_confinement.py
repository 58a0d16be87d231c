"""Readers read the warehouse only, and a source's glob stays inside the landing folder."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from workbench import ConfigError, Workbench
from workbench.errors import QueryRefused
from workbench.history import load_history

from helpers import edit_config


@pytest.fixture
def wb(built_project) -> Workbench:
    return Workbench(built_project)


def test_sql_cannot_write_a_file(wb, tmp_path):
    target = tmp_path / "stolen.csv"
    with pytest.raises(QueryRefused, match="read only the warehouse") as raised:
        wb.sql(f"copy (select * from raw.users) to '{target}'")
    assert str(target) in str(raised.value)
    assert not target.exists()


@pytest.mark.parametrize("query", ["select * from read_csv('/etc/passwd')",
                                   "select * from read_text('/etc/hostname')",
                                   "select * from glob('/etc/*')"])
def test_sql_cannot_read_a_file_outside_the_warehouse(wb, query):
    with pytest.raises(QueryRefused, match="read only the warehouse"):
        wb.sql(query)


def test_sql_cannot_attach_nor_unlock_its_settings(wb, built_project):
    writers = built_project / "data" / "warehouse.duckdb"
    with pytest.raises(QueryRefused):
        wb.sql(f"attach '{writers}' as w")
    with pytest.raises(QueryRefused, match="locked"):
        wb.sql("set enable_external_access = true")
    with pytest.raises(QueryRefused, match="read-only"):
        wb.sql("create table raw.mine as select 1 as x")


def test_the_workbench_own_reads_still_work(wb):
    assert len(wb.sql("select * from raw.users where user_id < ?", [5])) > 0
    assert len(wb.table("user_engagement")) > 0
    assert "user_engagement" in wb.tables()
    assert len(load_history(wb.sql, limit=5)) >= 1
    assert wb.status()["events"].files_loaded > 0


@pytest.mark.parametrize("glob", ["/etc/pass*", "../../../../etc/pass*", "events/../../x/*"])
def test_an_absolute_or_escaping_glob_is_a_config_error_naming_the_source(project, glob):
    edit_config(project, ('path = "events/*.parquet"', f'path = "{glob}"'))
    with pytest.raises(ConfigError, match=r"\[sources\.events\]") as raised:
        Workbench(project)
    assert glob in str(raised.value)


def test_a_symlink_out_of_the_landing_folder_is_refused(built_project, tmp_path):
    root = tmp_path / "copy"
    shutil.copytree(built_project, root, symlinks=True)
    outside = tmp_path / "secret.csv"
    outside.write_text("user_id,name\n999,mallory\n")
    (root / "data" / "landing" / "users" / "users-2026-12.csv").symlink_to(outside)
    wb = Workbench(root)

    result = wb.run()

    node = result.node("users")
    assert node.status == "error"
    assert "users/users-2026-12.csv" in node.message and "outside" in node.message
    assert 999 not in set(wb.table("raw.users").user_id)
    assert result.node("events").status in ("skipped", "success")
