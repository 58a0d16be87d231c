"""A file removed from landing takes its rows with it (issue 14, point 4)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from workbench import Workbench

from helpers import write_events


@pytest.fixture
def loaded(built_project, tmp_path) -> Path:
    root = tmp_path / "copy"
    shutil.copytree(built_project, root)
    return root


def test_removing_a_file_retracts_its_rows_and_rebuilds_downstream(loaded):
    wb = Workbench(loaded)
    before = len(wb.table("raw.events"))
    usage_before = wb.table("feature_usage")
    extra = write_events(loaded, "2026-11.parquet", [(900001, 1, "alerts"),
                                                     (900002, 2, "alerts")])
    wb.run(sources=["events"]).raise_for_failures()
    assert len(wb.table("raw.events")) == before + 2

    extra.unlink()
    result = wb.run()

    node = result.node("events")
    assert node.status == "success" and "1 removed file(s) retracted (2 rows)" in node.message
    events = wb.table("raw.events")
    assert len(events) == before and "events/2026-11.parquet" not in set(events._source_file)
    assert result.node("feature_usage").status == "success"     # rebuilt downstream
    assert wb.table("feature_usage").equals(usage_before)
    assert wb.run().node("events").status == "skipped"               # retracted once


def test_a_file_put_back_after_retraction_loads_again(loaded):
    wb = Workbench(loaded)
    before = len(wb.table("raw.events"))
    extra = write_events(loaded, "2026-11.parquet", [(900001, 1, "alerts")])
    wb.run(sources=["events"]).raise_for_failures()
    kept = extra.read_bytes()
    extra.unlink()
    wb.run(sources=["events"]).raise_for_failures()
    extra.write_bytes(kept)

    wb.run(sources=["events"]).raise_for_failures()

    assert len(wb.table("raw.events")) == before + 1


def test_a_missing_source_folder_retracts_nothing(loaded):
    wb = Workbench(loaded)
    before = len(wb.table("raw.users"))
    shutil.rmtree(loaded / "data" / "landing" / "users")

    result = wb.run(sources=["users"])

    assert result.node("users").status == "error"
    assert "is missing" in result.node("users").message
    assert len(wb.table("raw.users")) == before
