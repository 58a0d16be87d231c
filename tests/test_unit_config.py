"""workbench.toml parsing: a good file, and a ConfigError naming the key for each kind of
mistake. Pure: no DuckDB file, no Prefect, no dbt."""

from __future__ import annotations

from datetime import timedelta

import pytest

from workbench.config import StepConfig, load_config
from workbench.errors import ConfigError
from workbench.steps import StepConfig as StepConfigFromSteps

GOOD = """
[workbench]
warehouse = "wh/main.duckdb"
lock_timeout = 30
name = "sales team"

[sources.events]
path = "events/*.parquet"
warn_after = "1d"
error_after = "36h"

[sources.invoices]
reader = "readers.py:read"
primary_key = ["invoice_id", "line"]
on_stale = ["reload", "run:marts"]

[sources.users]
path = "users/*.csv"
mode = "replace"
primary_key = "user_id"
[sources.users.options]
header = true

[steps.classify]
function = "package.module:classify"
inputs = "stg_messages"
[steps.classify.options]
backend = "keywords"

[actions.export]
function = "export.py:run"
inputs = ["user_engagement"]

[service]
freshness_every = "5m"
on_stale = "notify"
"""


def _config(tmp_path, text: str):
    (tmp_path / "workbench.toml").write_text(text)
    return load_config(tmp_path)


def test_a_good_file_gives_every_setting_with_defaults_by_convention(tmp_path, monkeypatch):
    monkeypatch.delenv("WORKBENCH_WAREHOUSE", raising=False)
    config = _config(tmp_path, GOOD)

    assert config.warehouse == tmp_path / "wh" / "main.duckdb"
    assert config.dbt_project == tmp_path / "dbt"
    assert config.lock_timeout == 30.0
    assert config.project == "sales-team"
    events, invoices, users = config.sources
    assert (events.format, events.mode, events.warn_after, events.error_after) == (
        "parquet", "append", timedelta(days=1), timedelta(hours=36))
    assert (invoices.format, invoices.reader, invoices.path) == ("custom", "readers.py:read",
                                                                 "invoices/*")
    assert invoices.primary_key == ("invoice_id", "line")
    assert config.stale_answers("invoices") == ("reload", "run:marts")
    assert config.stale_answers("events") == ("notify",)
    assert (users.format, users.mode, users.primary_key, users.options) == (
        "csv", "replace", ("user_id",), {"header": True})
    assert config.steps == (StepConfig("classify", "step", "package.module:classify",
                                       ("stg_messages",), "classify", {"backend": "keywords"}),)
    assert config.actions[0].output is None and config.actions[0].inputs == ("user_engagement",)
    assert config.service.freshness_every == timedelta(minutes=5)


def test_step_config_is_still_importable_from_steps():
    assert StepConfigFromSteps is StepConfig


def test_environment_overrides_the_workbench_table(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_WAREHOUSE", "/elsewhere/w.duckdb")
    assert str(_config(tmp_path, GOOD).warehouse) == "/elsewhere/w.duckdb"


@pytest.mark.parametrize("text, named", [
    ("[workbench]\nwarehose = 'x.duckdb'", "warehose"),
    ("[workbench]\nlock_timeout = 'soon'", "lock_timeout"),
    ("[workbench]\nwarehouse = 3", "warehouse"),
    ("[workbench]\nraw_schema = 'raw data'", "raw_schema"),
    ("workbench = 3", "workbench"),
    ("sources = 3", "sources"),
    ("[sources.events]\npath = 'e/*.csv'\nformt = 'csv'", "formt"),
    ("[sources.events]\npath = 'e/*.csv'\nformat = 'xml'", "format"),
    ("[sources.events]\npath = 'e/*.csv'\nmode = 'upsert'", "mode"),
    ("[sources.events]\npath = 'e/*.csv'\nwarn_after = 'a while'", "warn_after"),
    ("[sources.events]\npath = 'e/*.csv'\nerror_after = '2 days'", "error_after"),
    ("[sources.events]\npath = 'e/*.csv'\noptions = 'header'", "options"),
    ("[sources.events]\npath = 'e/*.csv'\nprimary_key = 3", "primary_key"),
    ("[sources.events]\npath = 'e/*.csv'\non_stale = ['panic']", "on_stale"),
    ("[sources.events]\npath = 3", "path"),
    ("[sources.events]\npath = 'e/*.xyz'\nformat = 'custom'", "reader"),
    ("[sources.bad-name]\npath = 'e/*.csv'", "bad-name"),
    ("[steps.classify]\ninputs = ['a']", "function"),
    ("[steps.classify]\nfunction = 'm:f'\ninputs = 3", "inputs"),
    ("[steps.classify]\nfunction = 'm:f'\noutput = 'messy table'", "output"),
    ("[steps.classify]\nfunction = 'm:f'\nwhen = 'daily'", "when"),
    ("[actions.export]\nfunction = 'm:f'\noutput = 'x'", "output"),
    ("[service]\nfreshness_every = '0s'", "freshness_every"),
    ("[service]\nnotify = 'smtp'", "notify"),
    ("[service]\nevery = '1m'", "every"),
])
def test_each_kind_of_mistake_is_a_config_error_naming_the_key(tmp_path, text, named):
    with pytest.raises(ConfigError) as raised:
        _config(tmp_path, text)
    assert named in str(raised.value)
    assert "workbench.toml" in str(raised.value)


def test_invalid_toml_names_the_file(tmp_path):
    with pytest.raises(ConfigError, match="not valid TOML"):
        _config(tmp_path, "[workbench\n")


def test_an_unknown_source_lists_the_configured_ones(tmp_path):
    config = _config(tmp_path, GOOD)
    with pytest.raises(ConfigError, match="configured sources: events, invoices, users"):
        config.source("event")
