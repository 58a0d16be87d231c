"""What the service does about late sources: config, once-per-episode, the alert itself.

The whole loop (schedule, event, automation) runs for real in tests/test_service.py; these
check its parts quickly, with a real project and outbox.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

import pytest
from helpers import edit_config

from workbench import ConfigError
from workbench.config import load_config
from workbench.freshness import newly_stale, notify_failed, notify_stale, remember


def _configure(project, service: str, source_line: str = "") -> None:
    edit_config(project, ('primary_key = "invoice_id"\n',
                          f'primary_key = "invoice_id"\n{source_line}'))
    config = project / "workbench.toml"
    config.write_text(config.read_text() + "\n" + service)


def test_stale_answers_default_to_the_service_and_a_source_can_have_its_own(project):
    _configure(project, '[service]\nfreshness_every = "30m"\non_stale = "notify"\n',
               'on_stale = ["reload", "run:revenue_by_month"]\n')
    config = load_config(project)
    assert config.service.freshness_every == timedelta(minutes=30)
    assert config.stale_answers("users") == ("notify",)
    assert config.stale_answers("invoices") == ("reload", "run:revenue_by_month")


def test_an_unknown_stale_answer_is_refused_by_name(project):
    _configure(project, "", 'on_stale = ["reload", "page-someone"]\n')
    with pytest.raises(ConfigError, match=r"\[sources.invoices\].*'page-someone'"):
        load_config(project)


def test_a_source_is_announced_once_per_stale_episode(built_project, tmp_path):
    from workbench import Workbench

    report = Workbench(built_project).freshness()
    late = type(report)([replace(item, state="stale") if item.source == "users" else item
                         for item in report])
    memory = tmp_path / "freshness.json"

    def check(current) -> list[str]:
        announced = [i.source for i in newly_stale(current, memory)]
        remember(current, memory)
        return announced

    assert check(report) == []                      # all fresh after the build
    assert newly_stale(late, memory)[0].source == "users"
    assert check(late) == ["users"]                 # not remembered until announced
    assert check(late) == []                        # still stale: no second answer
    assert check(report) == []                      # fresh again
    assert check(late) == ["users"]                 # a new episode
    assert json.loads(memory.read_text())["users"].startswith("stale since the load of ")


def test_a_source_loaded_and_stale_again_while_nothing_checked_is_a_new_episode(
        built_project, tmp_path):
    """Serve stopped, a file loaded by hand, the SLA passed again, serve started: the first
    check announces it, though the last check saw the source stale too."""
    from workbench import Workbench

    report = Workbench(built_project).freshness()
    users = report["users"]
    before = type(report)([replace(users, state="stale")])
    after = type(report)([replace(users, state="stale",
                                  last_loaded_at=users.last_loaded_at + timedelta(days=1))])
    memory = tmp_path / "freshness.json"
    remember(before, memory)

    assert newly_stale(before, memory) == []
    assert [i.source for i in newly_stale(after, memory)] == ["users"]


def test_a_failed_load_is_alerted_through_the_channel_of_stale_alerts(built_project,
                                                                       tmp_path):
    config = replace(load_config(built_project), root=tmp_path)

    key = notify_failed(config, "invoices", "load", "SourceError: invoices/bad.csv row 3")

    lines = [json.loads(line) for f in (tmp_path / "data" / "outbox").glob("*.jsonl")
             for line in f.read_text().splitlines()]
    assert [m["key"] for m in lines] == [key]
    assert lines[0]["subject"] == "[workbench] load of source invoices failed"
    assert "invoices/bad.csv row 3" in lines[0]["body"]


def test_notify_writes_one_alert_naming_the_source_to_the_outbox(built_project, tmp_path):
    from workbench import Workbench

    config = replace(load_config(built_project), root=tmp_path)
    item = Workbench(built_project).freshness()["invoices"]

    key = notify_stale(config, item)

    lines = [json.loads(line) for f in (tmp_path / "data" / "outbox").glob("*.jsonl")
             for line in f.read_text().splitlines()]
    assert [m["key"] for m in lines] == [key]
    assert lines[0]["email"] == config.service.notify_to
    assert "source invoices is stale" in lines[0]["subject"]
    assert str(config.landing / "invoices" / "*.csv") in lines[0]["body"]


@pytest.mark.parametrize(("service", "source_line", "complaint"), [
    ('[service]\nfreshness_every = "0s"\n', "", "freshness_every must be at least 1s"),
    ('[service]\nnotify = "outbox"\n', "", "notify must be a table"),
    ("", "on_stale = [1]\n", "on_stale answer 1 must be one of"),
])
def test_bad_service_settings_are_refused_when_the_config_is_read(
        project, service, source_line, complaint):
    _configure(project, service, source_line)
    with pytest.raises(ConfigError, match=complaint):
        load_config(project)


def test_a_second_serve_of_the_same_project_is_refused(project):
    import os

    from workbench.service import serve

    state = project / ".workbench"
    state.mkdir()
    record = state / "service.json"
    record.write_text(json.dumps({"api_url": "http://127.0.0.1:9/api", "pid": os.getppid(),
                                  "pool": None, "started_at": "2026-11-26T00:00:00"}))
    with pytest.raises(ConfigError, match=f"already running .* \\(pid {os.getppid()}"):
        serve(project)
    assert record.exists()                  # the running service's file is left alone
