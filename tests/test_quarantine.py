"""``on_bad_rows = "quarantine"``: good rows load, bad ones are listed (issue 14, point 8)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from workbench import ConfigError, Workbench

from helpers import edit_config


@pytest.fixture
def loaded(built_project, tmp_path) -> Path:
    root = tmp_path / "copy"
    shutil.copytree(built_project, root)
    edit_config(root, ('path = "invoices/*.csv"\nformat = "csv"',
                       'path = "invoices/*.csv"\nformat = "csv"\non_bad_rows = "quarantine"'))
    return root


def test_good_rows_load_and_bad_rows_are_set_aside_with_line_and_error(loaded):
    wb = Workbench(loaded)
    before = len(wb.table("raw.invoices"))
    (loaded / "data" / "landing" / "invoices" / "2026-11.csv").write_text(
        "invoice_id,user_id,issued_at,amount,currency,status\n"
        "INV-N1,1,2026-11-01,1.00,EUR,paid\n"
        "INV-N2,oops,2026-11-01,1.00,EUR,paid\n"
        "INV-N3,2,2026-11-02,2.00,EUR,paid\n")

    result = wb.run(sources=["invoices"])

    node = result.node("invoices")
    assert node.status == "success" and "1 bad row(s) set aside" in node.message
    assert len(wb.table("raw.invoices")) == before + 2
    bad = wb.sql("select * from _workbench.rejects where source = 'invoices'")
    assert list(bad.path) == ["invoices/2026-11.csv"] and list(bad.line) == [3]
    assert list(bad.column_name) == ["user_id"] and "oops" in bad.error[0]
    assert wb.status()["invoices"].bad_rows == 1
    assert result.node("revenue_by_month").status == "success"


def test_quarantine_is_for_csv_only(project):
    edit_config(project, ('format = "parquet"', 'format = "parquet"\non_bad_rows = "quarantine"'))
    with pytest.raises(ConfigError, match="on_bad_rows"):
        Workbench(project)
