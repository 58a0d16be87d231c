"""Staging: a source's new files are read before the write lock, the load inserts the copy."""

from __future__ import annotations

import pytest
from helpers import read_invoices_with, write_events

from workbench import Workbench
from workbench.config import load_config
from workbench.errors import RunFailed
from workbench.loaders import stage_source

COUNTING_READER = '''
from pathlib import Path

def read(con, path, options, types=None):
    """DuckDB's CSV reader; leaves a mark per call so the test can count reads."""
    marks = Path(__file__).with_name("reads.log")
    marks.write_text(marks.read_text() + path + "\\n" if marks.exists() else path + "\\n")
    return con.read_csv(path, **({"dtype": types} if types else {}))
'''


@pytest.fixture
def loaded(project):
    read_invoices_with(project, "counting_reader.py", COUNTING_READER)
    Workbench(project).run(select="loader:*").raise_for_failures()
    (project / "reads.log").unlink()
    return project


def _staging(project, source):
    return sorted((project / ".workbench" / "staging" / source).glob("*.parquet"))


def test_staged_files_load_without_being_read_again(loaded):
    invoices = loaded / "data" / "landing" / "invoices"
    first = sorted(invoices.glob("*.csv"))[0]
    (invoices / "invoices-2026-12.csv").write_text(first.read_text())
    write_events(loaded, "2026-12.parquet", [(90_000_000, 1, "sql_cells")])
    config = load_config(loaded)
    wb = Workbench(loaded)
    before = int(wb.sql("select count(*) from raw.invoices").iloc[0, 0])

    staged = stage_source(config, "invoices")
    assert staged.files == ("invoices/invoices-2026-12.csv",) and not staged.failed
    assert len(_staging(loaded, "invoices")) == 1
    assert (loaded / "reads.log").read_text().count("\n") == 1
    assert stage_source(config, "events").files == ("events/2026-12.parquet",)

    result = wb.run(select="loader:invoices loader:events")

    assert result.ok, result
    assert (loaded / "reads.log").read_text().count("\n") == 1    # not read again
    assert _staging(loaded, "invoices") == [] and _staging(loaded, "events") == []
    copied = wb.sql("select count(*) from raw.invoices "
                    "where _source_file = 'invoices/invoices-2026-12.csv'").iloc[0, 0]
    original = wb.sql("select count(*) from raw.invoices "
                      f"where _source_file = 'invoices/{first.name}'").iloc[0, 0]
    assert copied == original > 0
    assert int(wb.sql("select count(*) from raw.invoices").iloc[0, 0]) == before + copied
    assert int(wb.sql("select count(*) from raw.events where event_id = 90000000"
                      ).iloc[0, 0]) == 1


def test_a_file_changed_after_staging_is_read_afresh(loaded):
    events = loaded / "data" / "landing" / "events"
    write_events(loaded, "2026-12.parquet", [(90_000_001, 1, "sql_cells")])
    stage_source(load_config(loaded), "events")
    write_events(loaded, "2026-12.parquet", [(90_000_002, 1, "sql_cells"),
                                             (90_000_003, 1, "sql_cells")])
    assert (events / "2026-12.parquet").exists()

    Workbench(loaded).run(select="loader:events").raise_for_failures()

    ids = Workbench(loaded).sql("select event_id from raw.events where event_id >= 90000000 "
                                "order by 1")["event_id"].tolist()
    assert ids == [90_000_002, 90_000_003]
    assert _staging(loaded, "events") == []


def test_a_bad_file_is_not_staged_and_the_load_names_it(loaded):
    bad = loaded / "data" / "landing" / "invoices" / "invoices-2026-12.csv"
    bad.write_text('invoice_id,user_id,amount\n1,2,"unterminated\n')

    staged = stage_source(load_config(loaded), "invoices")

    assert staged.files == () and staged.failed == ("invoices/invoices-2026-12.csv",)
    with pytest.raises(RunFailed, match="invoices-2026-12.csv"):
        Workbench(loaded).run(select="loader:invoices").raise_for_failures()
    assert bad.exists()


def test_a_copy_read_with_other_column_types_is_not_used(loaded):
    # A new source's two files: staged before its table exists, each file sniffed on its
    # own; under the lock the second is read with the types the first gave the table.
    tickets = loaded / "data" / "landing" / "tickets"
    tickets.mkdir()
    (tickets / "a.csv").write_text("ticket,code\n1,A1\n")
    (tickets / "b.csv").write_text("ticket,code\n2,1.50\n")
    config = loaded / "workbench.toml"
    config.write_text(config.read_text() + '\n[sources.tickets]\npath = "tickets/*.csv"\n')

    assert stage_source(load_config(loaded), "tickets").files == ("tickets/a.csv",
                                                                  "tickets/b.csv")
    Workbench(loaded).run(select="loader:tickets").raise_for_failures()

    codes = Workbench(loaded).sql("select code from raw.tickets order by ticket")["code"]
    assert codes.tolist() == ["A1", "1.50"]             # not 1.5, as b.csv alone reads
    assert _staging(loaded, "tickets") == []
