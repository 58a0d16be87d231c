"""The table explorer as an analyst meets it: a name resolves as in ``wb.table`` (or is
refused with a "did you mean"), the grid pages through what DuckDB sorted, filtered and
counted, statistics say when they are estimates, nulls are empty cells, and an export
without widgets still shows the first page as a table."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from workbench import ConfigError, TableNotFoundError, Workbench
from workbench.display.explorer import PAGE, Explorer, _cells
from workbench.explore import count, profile


@pytest.fixture(scope="module")
def wb(built_project) -> Workbench:
    return Workbench(built_project)


def test_a_bare_name_opens_that_table_and_a_misspelt_one_is_refused(wb):
    explorer = wb.explore("user_engagement")
    assert explorer.table.value == "marts.user_engagement"
    assert explorer.rows == len(wb.table("user_engagement"))
    with pytest.raises(TableNotFoundError, match="Did you mean 'user_engagement'"):
        wb.explore("user_engagment")
    with pytest.raises(TableNotFoundError, match="Did you mean 'user_engagement'"):
        wb.table("user_engagment")


def test_the_explorer_shows_dbts_table_and_column_descriptions(wb):
    explorer = wb.explore("user_engagement")
    assert "One row per user with their plan" in explorer.info.value
    assert "Distinct days with at least one event." in explorer.schema.value
    assert "Product usage events" in wb.explore("raw.events").info.value   # a dbt source's


def test_a_filter_counts_the_rows_it_leaves_and_the_last_page_ends_there(wb):
    events = wb.table("raw.events")
    notebooks = int((events["feature"] == "notebooks").sum())
    assert PAGE < notebooks < len(events)
    explorer = wb.explore("raw.events")
    assert explorer.grid.status == f"rows 1–{PAGE} of {len(events):,}"

    explorer.filter("feature", "notebooks")
    assert explorer.matching == notebooks
    assert explorer.grid.status == (f"rows 1–{PAGE} of {notebooks:,} "
                                    f"(filtered from {len(events):,})")
    explorer.last_page()
    last = (notebooks - 1) // PAGE * PAGE
    assert explorer.grid.status.startswith(f"rows {last + 1}–{notebooks} of {notebooks}")
    assert len(explorer.grid.rows) == notebooks - last
    assert set(explorer.page_frame["feature"]) == {"notebooks"}

    explorer.grid.offset = 10 * notebooks          # a stale "next" never pages past the end
    assert explorer.grid.offset == last and explorer.grid.rows

    explorer.sort("event_id", descending=True)
    assert explorer.grid.offset == 0
    top = events[events["feature"] == "notebooks"]["event_id"].max()
    assert explorer.page_frame["event_id"].iloc[0] == top
    assert explorer.grid.rows[0][0] == str(top)

    explorer.filter("feature", "no such feature")
    assert explorer.matching == 0 and explorer.grid.status.startswith("no rows match")


def test_a_bad_filter_column_is_shown_not_raised(wb):
    explorer = wb.explore("raw.events")
    explorer.filter("featur", "x")
    assert "Did you mean 'feature'" in explorer.grid.error


def test_distinct_counts_are_exact_or_labelled_approximate(wb):
    with wb.warehouse.reading() as con:
        exact = profile(con, "raw.events").set_index("name")
        estimated = profile(con, "raw.events", exact_up_to=10).set_index("name")
        assert count(con, "raw.events", {"feature": "notebooks"}) < count(con, "raw.events")
    truth = wb.table("raw.events")["event_id"].nunique()
    assert exact.loc["event_id", "distinct"] == truth
    assert exact["distinct_exact"].all() and not estimated["distinct_exact"].any()

    explorer = wb.explore("raw.events")
    assert "open to compute" in explorer.stats.value
    explorer.details.selected_index = 1
    assert f"{truth:,}" in explorer.stats.value and "≈" not in explorer.stats.value


def test_nulls_nan_and_nat_are_empty_cells_not_text():
    frame = pd.DataFrame({"a": [1.5, math.nan], "b": [pd.Timestamp("2026-01-01"), pd.NaT],
                          "c": ["x", None], "d": [[1, 2], None]})
    assert _cells(frame) == [["1.5", "2026-01-01 00:00:00", "x", "[1, 2]"],
                             [None, None, None, None]]


def test_the_explorer_exports_as_its_first_page_not_as_a_widget_repr(wb):
    explorer = wb.explore("user_engagement")
    bundle = explorer._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    html, text = bundle["text/html"], bundle["text/plain"]
    assert "<table" in html and "VBox(" not in html and "VBox(" not in text
    assert html.count("<tr>") == 1 + min(PAGE, explorer.rows)
    assert "marts.user_engagement" in text and "rows 1–" in text
    # data first, the schema and the profile in a collapsed accordion after it
    children = explorer.widget.children
    assert children[1] is explorer.grid and children[2] is explorer.details
    assert explorer.details.selected_index is None


def test_a_project_never_run_says_to_run_it_first(project):
    with pytest.raises(ConfigError, match=r"run wb.run\(\)"):
        Explorer(Workbench(project))
