"""The facade a notebook uses: reading, names, errors and displays."""

from __future__ import annotations

import pickle

import pandas as pd
import pytest

import workbench
from workbench import NodeResult, SourceError, TableNotFoundError, Workbench
from workbench.results import RunResult


@pytest.fixture(scope="module")
def wb(built_project) -> Workbench:
    return Workbench(built_project)


def test_public_api_is_exactly_what_all_lists():
    import inspect

    exported = {name for name in dir(workbench) if not name.startswith("_")
                and not inspect.ismodule(getattr(workbench, name))}
    assert exported == set(workbench.__all__)


def test_table_comes_back_as_a_dataframe(wb):
    df = wb.table("user_engagement")
    assert isinstance(df, pd.DataFrame) and len(df) > 0
    assert wb.table("marts.user_engagement").shape == df.shape


def test_misspelt_table_name_suggests_the_close_match(wb):
    with pytest.raises(TableNotFoundError) as raised:
        wb.table("user_engagment")
    assert "Did you mean 'user_engagement'" in str(raised.value)
    assert raised.value.matches[0] == "user_engagement"


@pytest.mark.parametrize("name", ["user_engagement; drop table raw.users",
                                  "marts.user_engagement.x", "'x'", ""])
def test_table_name_that_is_not_an_identifier_is_refused_not_spliced(wb, name):
    with pytest.raises(TableNotFoundError, match="not a plain table name"):
        wb.table(name)
    assert len(wb.table("raw.users")) > 0


def test_sql_takes_parameters_and_bare_table_names(wb):
    df = wb.sql("select plan, count(*) as users from user_engagement "
                "where active_days >= ? group by plan order by plan", [1])
    assert list(df.columns) == ["plan", "users"]
    assert df["users"].sum() > 0


def test_tables_lists_layers_with_rows_and_columns(wb):
    catalogue = wb.tables()
    frame = catalogue.to_pandas()
    assert {"marts", "staging", "raw", "seeds"} <= set(frame["layer"])
    assert frame.iloc[0]["layer"] == "marts"
    marts = frame[frame["kind"] == "table"]
    assert (marts["rows"] > 0).all() and (frame["columns"] > 0).all()
    assert "user_engagement" in catalogue
    assert "<table" in catalogue._repr_html_() and "user_engagement" in repr(catalogue)


def test_history_lists_runs_that_did_work(wb):
    history = wb.history()
    assert len(history) >= 1 and history.runs.iloc[0]["status"] == "success"
    assert "<svg" in history._repr_html_()


def test_status_reports_each_source(wb):
    status = wb.status()
    events = status["events"]
    assert events.files_loaded == events.files_on_disk > 0
    assert not events.pending_dbt and events.rejected is None


def test_run_result_html_escapes_and_expands_failures():
    from datetime import datetime

    now = datetime(2026, 1, 1)
    result = RunResult("r1", now, now, (
        NodeResult("<script>", "model", "error", 0.1, message="boom <b>"),
        NodeResult("ok_test", "test", "success", 0.1)))
    html = result._repr_html_()
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "boom &lt;b&gt;" in html and "<details open>" in html
    assert "1 dbt tests" in html
    assert "failed" in repr(result) and "<script>" in repr(result)


def test_errors_pickle_with_their_facts():
    error = SourceError("bad file", source="events", file="events/x.parquet", row=3)
    copy = pickle.loads(pickle.dumps(error))
    assert (type(copy), copy.file, copy.row, str(copy)) == (
        SourceError, "events/x.parquet", 3, "bad file")
    missing = pickle.loads(pickle.dumps(TableNotFoundError("no", table="t", matches=["u"])))
    assert missing.matches == ["u"] and isinstance(missing, KeyError)


def test_unknown_source_is_refused_before_any_work(wb):
    from workbench import ConfigError

    with pytest.raises(ConfigError, match="configured sources: users, events"):
        wb.run(sources=["evnts"])


def test_lineage_draws_the_whole_graph_and_saves_an_svg_file(wb, tmp_path):
    import xml.etree.ElementTree as ET

    picture = wb.lineage(highlight="user_engagement")
    path = picture.save(tmp_path / "lineage.svg")

    root = ET.parse(path).getroot()
    assert root.tag.endswith("svg")
    for name in ("events", "classify_messages", "personalized_messages", "user_engagement"):
        assert name in picture.svg
    assert "<svg" in picture._repr_html_()


def test_explorer_pages_sorts_and_filters_in_duckdb(wb):
    explorer = wb.explore("marts.user_engagement")
    total = len(wb.table("user_engagement"))
    assert explorer.rows == total and "user_engagement" in explorer.info.value
    explorer.details.selected_index = 1
    assert "histogram" in explorer.stats.value

    explorer.sort("events", descending=True)
    top = wb.sql("select max(events) as m from user_engagement")["m"][0]
    assert explorer.page_frame["events"].iloc[0] == top
    explorer.filter("plan", "team")
    assert set(explorer.page_frame["plan"]) <= {"team"}
    assert len(explorer.frame()) == total


def test_run_result_shows_failing_rows_up_to_date_nodes_and_cut_text_whole_on_hover():
    from datetime import datetime

    from workbench.failing_rows import runnable_query

    now = datetime(2026, 1, 1)
    query = runnable_query('select * from "warehouse"."staging"."stg_invoices" where x',
                           "warehouse")
    long = "a message far longer than a table cell has room for, " * 5
    result = RunResult("r1", now, now, (
        NodeResult("not_null_x", "test", "fail", message="3 failing row(s)", query=query,
                   sample=({"invoice_id": 7},)),
        NodeResult("m", "model", "error", message=long)),
        up_to_date=(NodeResult("stg_events", "model", "skipped", message="up to date"),))
    html = result._repr_html_()
    assert query == 'select * from "staging"."stg_invoices" where x'
    assert "First failing rows" in html and ">7</td>" in html
    assert "&quot;warehouse&quot;" not in html
    assert "…" in html and f'title="{long.strip()}' in html.replace("&#x27;", "'")
    assert "1 node<" in html and "up to date" in html
    assert result.node("stg_events").status == "skipped"
    assert list(result.node("not_null_x").failing_rows().columns) == ["invoice_id"]
    assert RunResult("r2", now, now, (), cancelled=True).status == "cancelled"
