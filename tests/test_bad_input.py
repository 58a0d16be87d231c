"""Bad input gets an error naming the file (and row), and loses nothing."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from workbench import ConfigError, SourceError, Workbench
from workbench.loaders import load_source, scan


def digest(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def loaded(built_project, tmp_path) -> Path:
    root = tmp_path / "copy"
    shutil.copytree(built_project, root)
    return root


def rejected(result, source: str):
    node = result.node(source)
    assert node.status == "error", result
    return node


def test_malformed_csv_names_file_and_line_and_keeps_the_warehouse(loaded):
    wb = Workbench(loaded)
    before = wb.table("raw.invoices")
    landing = loaded / "data" / "landing"
    bad = landing / "invoices" / "2026-11.csv"
    good = (landing / "invoices" / "2026-10.csv").read_text().splitlines()
    bad.write_text("\n".join([good[0], good[1].replace("INV-", "INV-X"),
                              "INV-9,not-a-number,2026-11-01,12.00,EUR,paid"]) + "\n")
    files_before = digest(landing)

    result = wb.run()

    node = rejected(result, "invoices")
    assert "invoices/2026-11.csv" in node.message
    assert "line 3" in node.message
    assert len(wb.table("raw.invoices")) == len(before)          # nothing half-loaded
    assert result.node("events").status in ("skipped", "success")  # others carry on
    assert digest(landing) == files_before                       # raw files untouched
    status = wb.status()["invoices"]
    assert "2026-11.csv" in status.rejected


def test_one_bad_file_rolls_back_the_whole_source_load(loaded):
    wb = Workbench(loaded)
    before = len(wb.table("raw.events"))
    events = loaded / "data" / "landing" / "events"
    shutil.copy(sorted(events.glob("*.parquet"))[0], events / "2026-11.parquet")
    (events / "2026-12.parquet").write_bytes(b"PAR1 this is not parquet")

    result = wb.run(sources=["events"])

    node = rejected(result, "events")
    assert "events/2026-12.parquet" in node.message
    assert len(wb.table("raw.events")) == before     # 2026-11 was rolled back too


def test_empty_file_is_rejected_by_name(loaded):
    wb = Workbench(loaded)
    (loaded / "data" / "landing" / "users" / "users-2026-11.csv").write_bytes(b"")

    node = rejected(wb.run(sources=["users"]), "users")

    assert "users/users-2026-11.csv" in node.message and "empty" in node.message


def test_file_whose_columns_changed_is_rejected_with_the_difference(loaded):
    wb = Workbench(loaded)
    events = loaded / "data" / "landing" / "community_messages"
    (events / "2026-11.jsonl").write_text(
        '{"message_id": "1", "channel": "help", "user": 1, "ts": "2026-11-01T00:00:00",'
        ' "thread_id": null, "body": "hi"}\n')

    node = rejected(wb.run(sources=["community_messages"]), "community_messages")

    assert "community_messages/2026-11.jsonl" in node.message
    assert "missing ['user_id', 'text']" in node.message
    assert "unexpected ['user', 'body']" in node.message


def test_source_error_from_the_loader_carries_file_and_row(loaded):
    wb = Workbench(loaded)
    bad = loaded / "data" / "landing" / "invoices" / "2026-11.csv"
    bad.write_text("invoice_id,user_id,issued_at,amount,currency,status\n"
                   "INV-1,1,2026-11-01,1.00,EUR,paid\nINV-2,oops,2026-11-01,1.00,EUR,paid\n")
    with wb.warehouse.writing(), wb.warehouse.connect() as con:
        found = scan(con, wb.config, wb.config.source("invoices"))
        with pytest.raises(SourceError) as raised:
            load_source(con, wb.config, found, run_id="t", loaded_at=None)
    assert raised.value.file == "invoices/2026-11.csv"
    assert raised.value.row == 3
    assert raised.value.source == "invoices"


def test_missing_data_folder_is_a_config_error_naming_it(project):
    shutil.rmtree(project / "data" / "landing")

    with pytest.raises(ConfigError) as raised:
        Workbench(project).run()

    assert str(project / "data" / "landing") in str(raised.value)
    assert "demo-data" in str(raised.value)


def test_missing_dbt_project_is_a_config_error_naming_it(project):
    shutil.rmtree(project / "dbt")

    with pytest.raises(ConfigError) as raised:
        Workbench(project).run()

    assert "dbt_project.yml" in str(raised.value)
    assert str(project / "dbt") in str(raised.value)


def test_no_workbench_toml_says_where_it_looked(tmp_path):
    with pytest.raises(ConfigError) as raised:
        Workbench(tmp_path)
    assert "workbench.toml" in str(raised.value) and str(tmp_path) in str(raised.value)


def test_bad_config_names_the_source_and_key(project):
    config = project / "workbench.toml"
    config.write_text(config.read_text().replace('format = "parquet"', 'format = "xlsx"'))

    with pytest.raises(ConfigError) as raised:
        Workbench(project)

    assert "[sources.events]" in str(raised.value) and "xlsx" in str(raised.value)
