"""``%%sql`` in a real kernel, headless reports with papermill, the table explorer's backend.

The magic and the reports run real Jupyter kernels (``python3``, cwd set as JupyterLab would);
the explorer runs against the published warehouse of a project built by one real run.
"""

from __future__ import annotations

import os
import pickle
import re
import shutil
from pathlib import Path

import duckdb
import nbformat
import pytest
from nbclient import NotebookClient

from workbench import Workbench
from workbench.explore import ColumnNotFoundError, page, profile, table_info
from workbench.report import ReportFailed, ReportResult, parse_parameters, run_report
from workbench.warehouse import READER_CONFIG


def new_notebook(*cells: str | nbformat.NotebookNode) -> nbformat.NotebookNode:
    return nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell(c) if isinstance(c, str) else c for c in cells])


def printed(cell: nbformat.NotebookNode) -> str:
    return "".join(o["text"] for o in cell.outputs if o["output_type"] == "stream")


# -- %%sql ----------------------------------------------------------------------------------
def test_sql_magic_binds_notebook_variables_in_a_real_kernel(built_project: Path):
    expected = int(Workbench(built_project).sql(
        "select count(*) as n from user_engagement where plan = ?", ["team"]).n[0])
    assert expected > 0
    failing = nbformat.v4.new_code_cell("%%sql\nselect * from user_engagment")
    failing.metadata["tags"] = ["raises-exception"]      # nbclient lets this cell fail
    nb = new_notebook(
        "%load_ext workbench.magic",
        "plan = 'team'",
        "%%sql -o df\nselect count(*) as n from user_engagement where plan = :plan",
        "print(int(df.n[0]))",
        "evil = \"team' or '1'='1\"",
        "%%sql sneaky\nselect count(*) as n from user_engagement where plan = {evil}",
        "print(int(sneaky.n[0]))",
        failing,
    )
    NotebookClient(nb, kernel_name="python3", timeout=120,
                   resources={"metadata": {"path": str(built_project / "notebooks")}}).execute()
    query, shown, _, _, injected, error = (nb.cells[2], nb.cells[3], nb.cells[4], nb.cells[5],
                                           nb.cells[6], nb.cells[7])
    assert printed(shown).strip() == str(expected)
    assert any("text/html" in o.get("data", {}) for o in query.outputs)  # the cell renders
    assert printed(injected).strip() == "0"          # the quote is data, not SQL
    [out] = [o for o in error.outputs if o["output_type"] == "error"]
    assert out["ename"] == "CatalogException"
    assert len(out["traceback"]) == 1                # one short message, no traceback
    assert "user_engagment" in out["traceback"][0]
    assert 'Did you mean "user_engagement"' in out["traceback"][0]


def test_sql_magic_caps_the_rows_it_pulls_and_says_when_it_cut(built_project: Path):
    total = int(Workbench(built_project).sql("select count(*) as n from raw.events").n[0])
    assert total > 5
    nb = new_notebook(
        "%load_ext workbench",
        "%%sql capped --limit 5\nselect * from raw.events",
        "print(len(capped))",
        "%config SqlMagic.limit = 3",
        "%%sql small\nselect * from raw.events",
        "%%sql everything --limit 0\nselect * from raw.events",
        "print(len(small), len(everything))",
        "%%sql few\nselect 1 as one",
    )
    NotebookClient(nb, kernel_name="python3", timeout=120,
                   resources={"metadata": {"path": str(built_project / "notebooks")}}).execute()
    assert "first 5 rows shown" in printed(nb.cells[1])
    assert printed(nb.cells[2]).strip() == "5"
    assert "first 3 rows shown" in printed(nb.cells[4])
    assert printed(nb.cells[6]).split() == ["3", str(total)]
    assert printed(nb.cells[5]) == "" and printed(nb.cells[7]) == ""   # nothing cut: no note


# -- explorer -------------------------------------------------------------------------------
@pytest.fixture
def reader(built_project: Path):
    wb = Workbench(built_project)
    with wb.warehouse.reading() as con:
        yield con


@pytest.fixture
def direct(built_project: Path):
    """An independent read-only connection to the same published snapshot (with the
    readers' settings: DuckDB refuses a second configuration of one file in a process)."""
    con = duckdb.connect(os.path.realpath(Workbench(built_project).config.published),
                         read_only=True, config=READER_CONFIG)
    yield con
    con.close()


def test_table_info_describes_a_mart_and_a_view(reader, direct):
    info = table_info(reader, "user_engagement")
    assert (info["schema"], info["name"], info["kind"]) == ("marts", "user_engagement", "table")
    assert info["rows"] == direct.execute(
        "select count(*) from marts.user_engagement").fetchone()[0]
    assert [c["name"] for c in info["columns"]][:3] == ["user_id", "email", "plan"]
    assert info["last_built"] is not None
    assert table_info(reader, "stg_events")["kind"] == "view"


def test_page_sorts_filters_and_offsets_in_duckdb(reader, direct):
    got = page(reader, "user_engagement", order_by="events", descending=True,
               filters={"plan": "TEA"}, offset=1, limit=2)
    want = direct.execute(
        "select * from marts.user_engagement where plan ilike '%tea%' "
        "order by events desc nulls last, user_id limit 2 offset 1").df()
    assert len(got) == 2
    assert got["user_id"].tolist() == want["user_id"].tolist()
    assert got.columns.tolist() == want.columns.tolist()


def test_page_rejects_a_sort_or_filter_column_the_table_does_not_have(reader):
    with pytest.raises(ColumnNotFoundError, match="Did you mean 'events'"):
        page(reader, "user_engagement", order_by="evnts")
    with pytest.raises(ColumnNotFoundError):
        page(reader, "user_engagement", order_by="events; drop table marts.user_engagement")
    with pytest.raises(ColumnNotFoundError):
        page(reader, "user_engagement", filters={"plan) or (1=1": "x"})


def test_an_injection_in_a_filter_value_matches_nothing_and_breaks_nothing(reader):
    rows = table_info(reader, "user_engagement")["rows"]
    for evil in ("' or 1=1 --", "x'; drop table marts.user_engagement; --", "%"):
        assert page(reader, "user_engagement", filters={"plan": evil}).empty
    assert len(page(reader, "user_engagement", limit=1000)) == rows


def test_profile_counts_nulls_and_distinct_values(reader, direct):
    prof = profile(reader, "user_engagement").set_index("name")
    total, nulls, distinct, lo, hi = direct.execute(
        "select count(*), count(*) - count(company), count(distinct company), "
        "min(company), max(company) from marts.user_engagement").fetchone()
    company = prof.loc["company"]
    assert nulls > 0
    assert (company.nulls, company.distinct) == (nulls, distinct)
    assert company.null_share == pytest.approx(nulls / total)
    assert (company["min"], company["max"]) == (lo, hi)
    assert company.histogram is None                 # text has no scale
    events = prof.loc["events"]
    assert len(events.histogram) == 10 and sum(events.histogram) == total - events.nulls
    assert len(profile(reader, "user_engagement", max_columns=3)) == 3


# -- reports --------------------------------------------------------------------------------
@pytest.fixture
def project_copy(built_project: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(built_project, tmp_path / "project", symlinks=True))


def test_report_runs_with_parameters_and_writes_html(project_copy: Path):
    params_cell = nbformat.v4.new_code_cell("n = 1")
    params_cell.metadata["tags"] = ["parameters"]
    notebook = project_copy / "notebooks" / "doubling.ipynb"
    nbformat.write(new_notebook(
        nbformat.v4.new_markdown_cell("# Doubling"), params_cell, "print(n * 2)",
        "from pathlib import Path\nprint(Path.cwd().name)"), notebook)

    result = run_report(notebook, root=project_copy, parameters=parse_parameters([("n", "21")]))

    assert isinstance(result, ReportResult) and result.parameters == {"n": 21}
    assert result.html.parent == project_copy / "reports"
    assert re.fullmatch(r"doubling-\d{8}-\d{6}\.html", result.html.name)
    page_html = result.html.read_text()
    assert "<pre>42\n</pre>" in page_html
    assert "<pre>notebooks\n</pre>" in page_html     # the kernel ran in the notebook's folder
    assert not re.search(r"<script[^>]*\bsrc=", page_html)     # nothing from a CDN
    assert result.executed.exists() and result.executed.suffix == ".ipynb"
    assert result.html.name in repr(result) and "<a href=" in result._repr_html_()


def test_a_failing_report_names_the_cell_and_still_writes_html(project_copy: Path):
    notebook = project_copy / "notebooks" / "broken.ipynb"
    nbformat.write(new_notebook("x = 1", "y = x / 0\nprint(y)", "print('never')"), notebook)

    with pytest.raises(ReportFailed) as caught:
        run_report(notebook, root=project_copy, parameters={})

    error = caught.value
    assert "cell 2 of 3" in str(error) and "y = x / 0" in str(error)
    assert "ZeroDivisionError: division by zero" in str(error)
    assert error.cell == 2 and error.ename == "ZeroDivisionError"
    html = Path(error.html).read_text()
    assert "ZeroDivisionError" in html and "never" not in printed_outputs(error.executed)
    assert pickle.loads(pickle.dumps(error)).cell == 2


def printed_outputs(executed: str) -> str:
    return "".join(printed(c) for c in nbformat.read(executed, as_version=4).cells
                   if c.cell_type == "code")


def test_command_line_parameters_are_read_like_papermill():
    assert parse_parameters([("top_n", "5"), ("share", "0.5"), ("plan", "team"),
                             ("flag", "true"), ("country", "NO"), ("day", "2026-01-01"),
                             ("plans", "[team, free]"), ("none", "null")]) == {
        "top_n": 5, "share": 0.5, "plan": "team", "flag": True, "country": "NO",
        "day": "2026-01-01", "plans": ["team", "free"], "none": None}
