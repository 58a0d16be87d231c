"""``wb.server()`` and ``workbench status``: what the Prefect server serving a project does.

Against real Prefect servers on 127.0.0.1, with the service's own deployments registered and
flow runs created through the REST API. Nothing serves those deployments here, so a created
run stays queued: exactly the "work waiting" a user should see.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from conftest import make_project
from helpers import post
from test_display_theme import literal_colours

from workbench import Workbench
from workbench.config import load_config
from workbench.display.panel import WorkbenchPanel
from workbench.service import free_port, record
from workbench.service.status import read

WORKBENCH = str(Path(sys.executable).parent / "workbench")


def _status_cli(root: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([WORKBENCH, "status"], cwd=root, capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=600)


def _register_deployments(root: Path, api_url: str) -> dict[str, str]:
    """The deployments ``workbench serve`` registers, applied to ``api_url``; name -> id."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from workbench.service import deployments

    with temporary_settings(updates={PREFECT_API_URL: api_url}):
        return {d.name: str(d.apply()) for d in deployments(load_config(root))}


def _create_run(api_url: str, deployment_id: str, at: datetime | None = None) -> dict:
    body = {} if at is None else {"state": {"type": "SCHEDULED", "state_details": {
        "scheduled_time": at.isoformat()}}}
    return post(f"{api_url}/deployments/{deployment_id}/create_flow_run", body).json()


def _with_sla(root: Path, source: str, warn_after: str, error_after: str) -> None:
    """Give ``source`` another freshness SLA in the project's workbench.toml."""
    file = root / "workbench.toml"
    head, section, rest = re.split(rf"(^\[sources\.{source}\]\n)", file.read_text(),
                                   maxsplit=1, flags=re.M)
    body, sep, tail = rest.partition("\n[")
    body = re.sub(r"^(warn_after|error_after) = .*\n?", "", body, flags=re.M)
    body = f'warn_after = "{warn_after}"\nerror_after = "{error_after}"\n' + body
    file.write_text(head + section + body + sep + tail)


def _dead_pid() -> int:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    return int(done.stdout)


def test_without_a_known_server_there_is_no_report_and_status_says_not_served(
        tmp_path, built_project, monkeypatch):
    root = make_project(tmp_path / "project", data=False)
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    # a service that was killed hard leaves its file behind: its process is gone
    state = load_config(root).state_dir
    state.mkdir(exist_ok=True)
    (state / "service.json").write_text(json.dumps({
        "api_url": f"http://127.0.0.1:{free_port()}/api", "pid": _dead_pid(),
        "started_at": "2026-11-26T01:00:00+00:00", "pool": None}))

    assert Workbench(root).server() is None
    assert Workbench(built_project).server() is None
    done = _status_cli(built_project)

    assert done.returncode == 0, done.stdout + done.stderr
    assert "not served" in done.stdout
    assert "Prefect server" not in done.stdout and "Deployments" not in done.stdout


def test_a_server_that_does_not_answer_is_reported_unreachable_without_raising(
        built_project):
    root = built_project
    url = f"http://127.0.0.1:{free_port()}/api"

    started = time.monotonic()
    status = read(load_config(root), api_url=url)

    assert time.monotonic() - started < 5
    assert status is not None and not status.reachable
    assert status.api_url == url and "Connect" in status.error
    assert status.deployments == () and status.queued == ()
    assert f"unreachable at {url}" in str(status)
    assert "unreachable" in status._repr_html_() and "unreachable" in status.summary()
    done = _status_cli(root, PREFECT_API_URL=url)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"unreachable at {url}" in done.stdout


def test_served_project_shows_its_deployments_queued_work_and_stale_sources(
        tmp_path, built_project, prefect_server, monkeypatch):
    root = tmp_path / "project"
    shutil.copytree(built_project, root)
    _with_sla(root, "events", warn_after="1s", error_after="1s")   # loaded long ago by now
    ids = _register_deployments(root, prefect_server)
    other = tmp_path / "other"              # a second project on the same server
    shutil.copytree(built_project, other)
    _register_deployments(other, prefect_server)
    queued = _create_run(prefect_server, ids["load-events@project"])
    later = _create_run(prefect_server, ids["load-users@project"],
                        at=datetime.now(timezone.utc) + timedelta(hours=1))
    monkeypatch.setenv("PREFECT_API_URL", prefect_server)

    wb = Workbench(root)
    status = wb.server()

    assert status is not None and status.reachable, status
    assert status.found_by == "PREFECT_API_URL" and status.error is None
    names = {d.name for d in status.deployments}
    assert {"load-events@project", "load-users@project", "build-downstream@project"} <= names
    assert all(name.endswith("@project") for name in names)     # not the other project's
    assert len(post(f"{prefect_server}/deployments/filter", {}).json()) == 2 * len(names)
    assert {d.full_name for d in status.deployments} >= {"workbench-load/load-events@project"}
    triggers = [a["trigger"] for a in post(f"{prefect_server}/automations/filter", {}).json()]
    assert sorted({t["match"]["workbench.project"] for t in triggers}) == ["other", "project"]
    waiting = {r.name: r for r in status.queued}
    assert queued["name"] in waiting and later["name"] not in waiting   # due now, not later
    assert waiting[queued["name"]].deployment == "load-events@project"
    assert waiting[queued["name"]].state in ("Scheduled", "Late")
    assert status.recent_runs == () and status.workers == ()
    assert [s.source for s in status.stale] == ["events"]
    assert status.stale[0].state == "stale"

    text, html = str(status), status._repr_html_()
    assert literal_colours(html) == []            # the theme's colours only
    for shown in (prefect_server, "workbench-load/load-events@project", "build-downstream",
                  queued["name"], "Stale sources"):
        assert shown in text and shown in html, shown
    # the freshness check's schedule may add a due run of its own: count, don't pin
    counts = f"{len(status.running)} running, {len(status.waiting)} queued"
    assert len(status.waiting) >= 1 and f"Queued/running ({counts})" in text
    assert counts in status.summary() and "stale: events (stale)" in status.summary()

    done = _status_cli(root, PREFECT_API_URL=prefect_server)
    assert done.returncode == 0, done.stdout + done.stderr
    server_part = done.stdout.partition(f"Prefect server {prefect_server}")[2]
    assert "load-events@project" in server_part and queued["name"] in server_part
    assert "not served" not in done.stdout

    panel = WorkbenchPanel(wb)       # the service line is read in a thread
    deadline = time.monotonic() + 120
    while not panel.service.value and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "workbench-service-line" in panel.service.value
    assert "queued" in panel.service.value and "deployments" in panel.service.value


def test_the_service_file_finds_the_server_and_its_work_pool_workers(
        tmp_path, prefect_server, monkeypatch):
    root = make_project(tmp_path / "project", data=False)
    post(f"{prefect_server}/work_pools/", {"name": "workbench-pool", "type": "process"})
    post(f"{prefect_server}/work_pools/workbench-pool/workers/heartbeat", {"name": "worker-1"})
    state = load_config(root).state_dir
    state.mkdir(exist_ok=True)
    (state / "service.json").write_text(json.dumps({
        "api_url": prefect_server, "pid": os.getpid(),
        "started_at": "2026-11-26T01:00:00+00:00", "pool": "workbench-pool"}))
    monkeypatch.delenv("PREFECT_API_URL", raising=False)

    status = Workbench(root).server()

    assert status is not None and status.reachable and status.found_by == "service.json"
    assert status.service.pid == os.getpid() and status.service.pool == "workbench-pool"
    assert [(p.name, p.status) for p in status.pools] == [("workbench-pool", "READY")]
    assert [(w.name, w.status) for w in status.workers] == [("worker-1", "ONLINE")]
    assert status.deployments == () and status.stale == ()
    text = str(status)
    assert f"served by workbench serve (pid {os.getpid()}" in text
    assert "Workers (workbench-pool: READY)" in text and "worker-1" in text
    assert "worker-1" in status._repr_html_()


def test_the_service_record_is_kept_by_its_writer_and_counts_while_it_lives(tmp_path):
    config = load_config(make_project(tmp_path / "project", data=False))
    config.state_dir.mkdir(exist_ok=True)

    written = record.write(config, "http://127.0.0.1:9/api", pool="pool-1")

    assert record.read(config) == written and written.pid == os.getpid()
    record.path(config).write_text(json.dumps({"api_url": written.api_url,
                                               "pid": _dead_pid()}))
    assert record.read(config) is None              # its process has gone
    record.remove(config)
    assert record.path(config).exists()             # not ours: left alone
    record.write(config, written.api_url, pool=None)
    record.remove(config)
    assert not record.path(config).exists()


def test_the_service_and_its_status_import_without_prefect_or_dbt():
    """``workbench status`` and ``wb.server()`` stay fast: only the flows import Prefect."""
    code = ("import sys, workbench.service, workbench.service.status, workbench.server_status, "
            "workbench.display.server; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'prefect', 'dbt'}))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
