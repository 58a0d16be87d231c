"""Bad input gets an error naming the file (and row), and loses nothing."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pytest

from workbench import ConfigError, SourceError, Workbench
from workbench.loaders import load_source, scan

from helpers import write_events


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


# -- files that cannot be read (issue 14, point 2) ---------------------------------------------
# Tests may run as root, for whom `chmod 000` changes nothing: a dangling symbolic link and a
# FIFO are entries no process can read as a file, whoever it runs as.
def test_a_dangling_link_fails_its_source_only_and_everything_else_builds(loaded):
    wb = Workbench(loaded)
    before = len(wb.table("raw.invoices"))
    landing = loaded / "data" / "landing"
    (landing / "invoices" / "2026-11.csv").symlink_to(landing / "invoices" / "gone.csv")
    write_events(loaded, "2026-11.parquet", [(900001, 1, "alerts")])

    result = wb.run()

    node = rejected(result, "invoices")
    assert "invoices/2026-11.csv" in node.message and "does not exist" in node.message
    assert len(wb.table("raw.invoices")) == before
    assert result.node("events").status == "success"
    assert result.node("daily_feature_usage").status == "success"
    assert "2026-11.csv" in wb.status()["invoices"].rejected


def test_a_fifo_is_reported_without_blocking_the_run(loaded):
    wb = Workbench(loaded)
    os.mkfifo(loaded / "data" / "landing" / "users" / "users-2026-11.csv")

    node = rejected(wb.run(sources=["users"]), "users")

    assert "users/users-2026-11.csv" in node.message and "not a regular file" in node.message


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a file whatever its mode")
def test_a_file_without_read_permission_fails_its_source_only(loaded):
    wb = Workbench(loaded)
    locked = loaded / "data" / "landing" / "users" / "users-2026-11.csv"
    locked.write_text("user_id,name\n1,x\n")
    locked.chmod(0)

    result = wb.run()

    assert "Permission denied" in rejected(result, "users").message
    assert result.node("events").status in ("skipped", "success")


# -- messages (issue 14, point 7) -------------------------------------------------------------
def test_a_half_written_file_is_named_as_such(loaded):
    wb = Workbench(loaded)
    messages = loaded / "data" / "landing" / "community_messages"
    whole = sorted(messages.glob("*.jsonl"))[0].read_text().splitlines()
    (messages / "2026-11.jsonl").write_text("\n".join(whole[:3]) + "\n" + whole[3][:25])

    node = rejected(wb.run(sources=["community_messages"]), "community_messages")

    assert "community_messages/2026-11.jsonl: looks half-written" in node.message
    assert "last line is incomplete" in node.message
    assert "mode = 'replace'" not in node.message


def test_json_lines_errors_name_the_file_line(loaded):
    wb = Workbench(loaded)
    messages = loaded / "data" / "landing" / "community_messages"
    whole = sorted(messages.glob("*.jsonl"))[0].read_text().splitlines()
    (messages / "2026-11.jsonl").write_text(
        "\n".join([whole[0], "", whole[1], '{"message_id": oops}', whole[2]]) + "\n")

    node = rejected(wb.run(sources=["community_messages"]), "community_messages")

    assert "(line 4)" in node.message, node.message


def test_an_over_long_csv_line_is_named_by_its_line_and_cut_short(loaded):
    wb = Workbench(loaded)
    invoices = loaded / "data" / "landing" / "invoices"
    lines = (invoices / "2026-10.csv").read_text().splitlines()
    (invoices / "2026-11.csv").write_text("\n".join(
        [lines[0], lines[1], lines[2], "INV-X," + "9" * 2_100_000 + ",2026-11-01,1,EUR,paid",
         lines[3]]) + "\n")

    node = rejected(wb.run(sources=["invoices"]), "invoices")

    assert "(line 4)" in node.message, node.message[:500]
    assert max(len(line) for line in node.message.splitlines()) < 300
    assert "characters)" in node.message


def test_a_long_bad_field_is_cut_to_a_readable_length(loaded):
    wb = Workbench(loaded)
    bad = loaded / "data" / "landing" / "invoices" / "2026-11.csv"
    bad.write_text("invoice_id,user_id,issued_at,amount,currency,status\n"
                   f"INV-1,{'x' * 10_000},2026-11-01,1.00,EUR,paid\n")

    node = rejected(wb.run(sources=["invoices"]), "invoices")

    assert "(line 2)" in node.message
    assert len(node.message) < 2_000, len(node.message)
