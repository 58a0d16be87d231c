"""The sample company's actions against real DuckDB files and a real SMTP server on 127.0.0.1.

Each test writes its own ``marts.recommendation_candidates`` into a DuckDB file in tmp_path,
builds the StepContext the framework would, and asserts on what a person would check: rows in
the delivery ledger, lines in the outbox, e-mails received, files exported.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import duckdb
import pytest
from aiosmtpd.controller import Controller

from workbench.community.export import export_mart
from workbench.community.messages import personalized_messages
from workbench.errors import ConfigError
from workbench.service import free_port
from workbench.steps import StepContext, StepReport

CANDIDATES = '"marts"."recommendation_candidates"'
COLUMNS = ("user_id", "email", "name", "plan", "campaign", "feature_key", "feature_name",
           "question_text", "period")
ROWS = [
    (1, "ada@example.com", "Ada", "pro", "try_feature", "dashboards", "Dashboards", None,
     "2026-10"),
    (2, "bob@example.com", "Bob", "free", "try_feature", "alerts", "Alerts", None, "2026-10"),
    (3, "zoe@example.com", "Zoë", "team", "unanswered_question", "exports", "Exports",
     "How do I schedule a CSV export every Monday?", "2026-10"),
    (4, "cy@example.com", None, "pro", "try_feature", "sql", "SQL cells", None, "2026-10"),
]
NEW_ROW = (5, "eve@example.com", "Eve", "free", "try_feature", "alerts", "Alerts", None,
           "2026-10")


# -- helpers --------------------------------------------------------------------------------
def make_warehouse(tmp_path: Path, rows=ROWS) -> Path:
    path = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("""
            create schema marts;
            create table marts.recommendation_candidates (
                user_id bigint, email varchar, name varchar, plan varchar, campaign varchar,
                feature_key varchar, feature_name varchar, question_text varchar,
                period varchar)""")
        con.executemany("insert into marts.recommendation_candidates values "
                        "(?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    return path


def add_candidate(db: Path, row: tuple) -> None:
    with duckdb.connect(str(db)) as con:
        con.execute("insert into marts.recommendation_candidates values "
                    "(?, ?, ?, ?, ?, ?, ?, ?, ?)", row)


def run(action, db: Path, root: Path, run_id: str, *, dry_run: bool = False,
        inputs: dict[str, str] | None = None, **options) -> StepReport:
    """Call an action as the framework does; a dry run gets a read-only connection."""
    con = duckdb.connect(str(db), read_only=dry_run)
    try:
        return action(StepContext(
            name=action.__name__, run_id=run_id, con=con, options=options,
            inputs=inputs or {"recommendation_candidates": CANDIDATES}, output=None,
            root=root, dry_run=dry_run))
    finally:
        con.close()


def ledger(db: Path) -> dict[str, dict]:
    with duckdb.connect(str(db), read_only=True) as con:
        exists = con.execute("select count(*) from duckdb_tables() "
                             "where schema_name = '_delivery'").fetchall()[0][0]
        if not exists:
            return {}
        result = con.sql("select * from _delivery.deliveries order by key")
        return {r[0]: dict(zip(result.columns, r)) for r in result.fetchall()}


def outbox_lines(root: Path) -> list[dict]:
    return [json.loads(line) for path in sorted((root / "data" / "outbox").glob("outbox-*.jsonl"))
            for line in path.read_text(encoding="utf-8").splitlines()]


def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


# -- a real SMTP server ---------------------------------------------------------------------
class Inbox:
    """An aiosmtpd handler that keeps every accepted e-mail and refuses chosen recipients."""

    def __init__(self) -> None:
        self.received: list[email.message.EmailMessage] = []
        self.refuse: set[str] = set()
        self.hold: str | None = None           # stall this recipient's DATA, then answer 451
        self.holding = threading.Event()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.hold in envelope.rcpt_tos:
            self.holding.set()
            await asyncio.sleep(3)
            return "451 4.3.0 try again later"
        self.received.append(email.message_from_bytes(envelope.original_content,
                                                      policy=email.policy.default))
        return "250 Message accepted for delivery"

    def recipients(self) -> list[str]:
        return sorted(m["To"].addresses[0].addr_spec for m in self.received)




@pytest.fixture
def smtp_server():
    """Start a server for the test; ``start()`` again on the same port after ``stop()``."""

    class Server:
        def __init__(self) -> None:
            self.port, self.inbox, self.controller = free_port(), Inbox(), None

        def start(self) -> None:
            self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)
            self.controller.start()

        def stop(self) -> None:
            if self.controller is not None:
                self.controller.stop()
                self.controller = None

        def options(self) -> dict:
            return {"delivery": "smtp", "smtp": {"host": "127.0.0.1", "port": self.port,
                                                 "sender": "Community <team@example.com>",
                                                 "timeout": 5}}

    server = Server()
    try:
        yield server
    finally:
        server.stop()


# -- outbox ---------------------------------------------------------------------------------
def test_outbox_delivery_writes_the_ledger_and_one_jsonl_file_per_run(tmp_path):
    db = make_warehouse(tmp_path)
    report = run(personalized_messages, db, tmp_path, "run-1")

    assert report.metrics["sent"] == 4 and report.metrics["failed"] == 0
    assert report.rows == 4
    assert report.message.startswith("4 sent, 0 failed (will retry), 0 already sent")
    rows = ledger(db)
    assert sorted(rows) == ["1:try_feature:2026-10", "2:try_feature:2026-10",
                            "3:unanswered_question:2026-10", "4:try_feature:2026-10"]
    assert {(r["status"], r["attempts"], r["channel"], r["run_id"], r["last_error"])
            for r in rows.values()} == {("sent", 1, "outbox", "run-1", None)}
    assert all(r["sent_at"] >= r["first_attempt_at"] for r in rows.values())

    assert listing(tmp_path / "data" / "outbox") == ["outbox-run-1.jsonl"]   # no temp file
    lines = {line["key"]: line for line in outbox_lines(tmp_path)}
    assert set(lines) == set(rows)
    ada = lines["1:try_feature:2026-10"]
    assert ada["email"] == "ada@example.com"
    assert ada["subject"] == "Ada, have you tried Dashboards?"
    assert "Hi Ada," in ada["body"] and ada["subject"] == rows[ada["key"]]["subject"]
    zoe = lines["3:unanswered_question:2026-10"]
    assert "How do I schedule a CSV export every Monday?" in zoe["body"]
    assert "Hi Zoë," in zoe["body"]
    assert "Hi there," in lines["4:try_feature:2026-10"]["body"]      # no name in the mart


def test_rerun_sends_nothing_new_and_a_new_candidate_is_sent_exactly_once(tmp_path):
    db = make_warehouse(tmp_path)
    run(personalized_messages, db, tmp_path, "run-1")

    again = run(personalized_messages, db, tmp_path, "run-2")
    assert again.metrics == {"sent": 0, "failed": 0, "already_sent": 4, "not_attempted": 0,
                             "skipped": 0, "duplicates": 0}
    assert listing(tmp_path / "data" / "outbox") == ["outbox-run-1.jsonl"]

    add_candidate(db, NEW_ROW)
    third = run(personalized_messages, db, tmp_path, "run-3")
    assert (third.metrics["sent"], third.metrics["already_sent"]) == (1, 4)
    assert listing(tmp_path / "data" / "outbox") == ["outbox-run-1.jsonl", "outbox-run-3.jsonl"]
    keys = [line["key"] for line in outbox_lines(tmp_path)]
    assert len(keys) == len(set(keys)) == 5
    assert ledger(db)["5:try_feature:2026-10"]["run_id"] == "run-3"


def test_one_message_per_user_campaign_and_period(tmp_path):
    db = make_warehouse(tmp_path, ROWS + [
        (1, "ada@example.com", "Ada", "pro", "try_feature", "alerts", "Alerts", None, "2026-10"),
        (6, None, "Nomail", "free", "try_feature", "alerts", "Alerts", None, "2026-10")])
    report = run(personalized_messages, db, tmp_path, "run-1")

    assert (report.metrics["sent"], report.metrics["duplicates"],
            report.metrics["skipped"]) == (4, 1, 1)
    # The same of Ada's two features on every run: the first by feature_key.
    assert ledger(db)["1:try_feature:2026-10"]["subject"] == "Ada, have you tried Alerts?"


def test_a_crashed_runs_outbox_part_file_is_published_without_its_torn_line(tmp_path):
    outbox = tmp_path / "data" / "outbox"
    outbox.mkdir(parents=True)
    (outbox / ".outbox-crashed.jsonl.part").write_text('{"key": "9:x:2026-09"}\n{"key": "10:')
    db = make_warehouse(tmp_path)
    run(personalized_messages, db, tmp_path, "run-1")

    assert listing(outbox) == ["outbox-crashed.jsonl", "outbox-run-1.jsonl"]
    assert (outbox / "outbox-crashed.jsonl").read_text() == '{"key": "9:x:2026-09"}\n'


def test_a_reused_run_id_never_overwrites_an_outbox_file(tmp_path):
    db = make_warehouse(tmp_path)
    run(personalized_messages, db, tmp_path, "same")
    add_candidate(db, NEW_ROW)
    run(personalized_messages, db, tmp_path, "same")

    assert listing(tmp_path / "data" / "outbox") == ["outbox-same.2.jsonl", "outbox-same.jsonl"]
    assert len(outbox_lines(tmp_path)) == 5


# -- templates ------------------------------------------------------------------------------
def test_project_templates_override_a_campaign_and_fall_back_for_the_others(tmp_path):
    (tmp_path / "mail").mkdir()
    (tmp_path / "mail" / "try_feature.txt.j2").write_text(
        "Subject: {{ feature_name }} for {{ plan }} users\n\nHello {{ name or 'you' }}\n")
    db = make_warehouse(tmp_path)
    run(personalized_messages, db, tmp_path, "run-1", templates_dir="mail")

    rows = ledger(db)
    assert rows["1:try_feature:2026-10"]["subject"] == "Dashboards for pro users"
    assert rows["1:try_feature:2026-10"]["body"] == "Hello Ada\n"
    assert rows["3:unanswered_question:2026-10"]["subject"].startswith("Your question about")


def test_a_campaign_without_a_template_fails_before_anything_is_sent(tmp_path):
    db = make_warehouse(tmp_path, ROWS + [
        (7, "gus@example.com", "Gus", "pro", "win_back", None, None, None, "2026-10")])
    with pytest.raises(ConfigError, match="win_back.txt.j2") as caught:
        run(personalized_messages, db, tmp_path, "run-1")
    assert caught.value.campaign == "win_back"
    assert ledger(db) == {} and listing(tmp_path / "data" / "outbox") == []


def test_an_undefined_template_variable_is_an_error_not_a_blank(tmp_path):
    (tmp_path / "mail").mkdir()
    (tmp_path / "mail" / "try_feature.txt.j2").write_text("Subject: {{ nickname }}\n\nHi\n")
    db = make_warehouse(tmp_path)
    with pytest.raises(ConfigError, match="nickname"):
        run(personalized_messages, db, tmp_path, "run-1", templates_dir="mail")
    assert ledger(db) == {}


# -- smtp -----------------------------------------------------------------------------------
def test_smtp_delivery_sends_real_emails(tmp_path, smtp_server):
    smtp_server.start()
    db = make_warehouse(tmp_path)
    report = run(personalized_messages, db, tmp_path, "run-1", **smtp_server.options())

    assert report.metrics["sent"] == 4 and report.message.endswith("via smtp")
    inbox = smtp_server.inbox
    assert inbox.recipients() == ["ada@example.com", "bob@example.com", "cy@example.com",
                                  "zoe@example.com"]
    by_to = {m["To"].addresses[0].addr_spec: m for m in inbox.received}
    ada = by_to["ada@example.com"]
    assert ada["Subject"] == "Ada, have you tried Dashboards?"
    assert str(ada["From"]) == "Community <team@example.com>"
    assert ada["X-Workbench-Key"] == "1:try_feature:2026-10"
    assert "Dashboards" in ada.get_content() and "Hi Ada," in ada.get_content()
    zoe = by_to["zoe@example.com"]
    assert zoe["To"].addresses[0].display_name == "Zoë"
    assert "every Monday" in zoe.get_content()
    assert {r["channel"] for r in ledger(db).values()} == {"smtp"}
    assert not (tmp_path / "data" / "outbox").exists()

    run(personalized_messages, db, tmp_path, "run-2", **smtp_server.options())
    assert len(inbox.received) == 4


def test_a_name_with_a_line_break_fails_that_email_only_and_the_rest_are_sent(tmp_path,
                                                                            smtp_server):
    smtp_server.start()
    db = make_warehouse(tmp_path, rows=[ROWS[0], (2, "bob@example.com", "Bob\nBcc: all@x.org",
                                                  *ROWS[1][3:]), *ROWS[2:]])

    report = run(personalized_messages, db, tmp_path, "run-1", **smtp_server.options())

    assert (report.metrics["sent"], report.metrics["failed"]) == (3, 1), report.message
    assert smtp_server.inbox.recipients() == ["ada@example.com", "cy@example.com",
                                              "zoe@example.com"]
    bob = ledger(db)["2:try_feature:2026-10"]
    assert bob["status"] == "failed" and not bob["last_error"].startswith("interrupted")
    assert "2:try_feature:2026-10" in bob["last_error"] and "To header" in bob["last_error"]
    again = run(personalized_messages, db, tmp_path, "run-2", **smtp_server.options())
    assert (again.metrics["sent"], again.metrics["failed"]) == (0, 1)   # still only that one


def test_a_refused_recipient_is_recorded_failed_and_retried_until_delivered(tmp_path,
                                                                            smtp_server):
    smtp_server.inbox.refuse = {"bob@example.com"}
    smtp_server.start()
    db = make_warehouse(tmp_path)

    first = run(personalized_messages, db, tmp_path, "run-1", **smtp_server.options())
    assert (first.metrics["sent"], first.metrics["failed"]) == (3, 1)
    assert first.rows == 3 and "1 failed (will retry)" in first.message
    bob = ledger(db)["2:try_feature:2026-10"]
    assert (bob["status"], bob["attempts"], bob["sent_at"]) == ("failed", 1, None)
    assert "550" in bob["last_error"] and "bob@example.com" in bob["last_error"]

    second = run(personalized_messages, db, tmp_path, "run-2", **smtp_server.options())
    assert (second.metrics["sent"], second.metrics["failed"]) == (0, 1)
    assert ledger(db)["2:try_feature:2026-10"]["attempts"] == 2

    smtp_server.inbox.refuse.clear()
    third = run(personalized_messages, db, tmp_path, "run-3", **smtp_server.options())
    assert third.metrics == {"sent": 1, "failed": 0, "already_sent": 3, "not_attempted": 0,
                             "skipped": 0, "duplicates": 0}
    bob = ledger(db)["2:try_feature:2026-10"]
    assert (bob["status"], bob["attempts"], bob["last_error"], bob["run_id"]) == \
        ("sent", 3, None, "run-3")
    assert bob["first_attempt_at"] < bob["sent_at"]
    assert smtp_server.inbox.recipients() == ["ada@example.com", "bob@example.com",
                                              "cy@example.com", "zoe@example.com"]


def test_a_down_smtp_server_fails_the_run_and_the_next_run_delivers_everything(
        tmp_path, smtp_server, monkeypatch):
    # Settings from the environment this time; nothing listens on the port yet.
    monkeypatch.setenv("WORKBENCH_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("WORKBENCH_SMTP_PORT", str(smtp_server.port))
    monkeypatch.setenv("WORKBENCH_SMTP_SENDER", "team@example.com")
    monkeypatch.setenv("WORKBENCH_SMTP_TIMEOUT", "5")
    db = make_warehouse(tmp_path)

    down = run(personalized_messages, db, tmp_path, "run-1", delivery="smtp")
    assert (down.metrics["sent"], down.metrics["failed"], down.metrics["not_attempted"]) == \
        (0, 1, 3)
    assert "smtp unavailable" in down.message and "3 not attempted" in down.message
    [(key, row)] = ledger(db).items()
    assert row["status"] == "failed" and "127.0.0.1" in row["last_error"]

    smtp_server.start()
    up = run(personalized_messages, db, tmp_path, "run-2", delivery="smtp")
    assert (up.metrics["sent"], up.metrics["failed"]) == (4, 0)
    assert ledger(db)[key]["attempts"] == 2
    assert len(smtp_server.inbox.received) == 4
    assert len(set(smtp_server.inbox.recipients())) == 4


def test_a_run_killed_mid_send_leaves_that_message_failed_and_the_next_run_sends_it(
        tmp_path, smtp_server):
    smtp_server.inbox.hold = "zoe@example.com"       # the third message, by user_id
    smtp_server.start()
    db = make_warehouse(tmp_path)
    script = textwrap.dedent(f"""
        import duckdb, sys
        from pathlib import Path
        from workbench.community.messages import personalized_messages
        from workbench.steps import StepContext
        con = duckdb.connect({str(db)!r})
        personalized_messages(StepContext(
            name="personalized_messages", run_id="killed", con=con,
            options={smtp_server.options()!r},
            inputs={{"recommendation_candidates": {CANDIDATES!r}}}, output=None,
            root=Path({str(tmp_path)!r})))
        """)
    child = subprocess.Popen([sys.executable, "-c", script])
    try:
        assert smtp_server.inbox.holding.wait(timeout=20), "the child never reached zoe"
    finally:
        child.kill()
        child.wait()

    rows = ledger(db)
    assert {k: r["status"] for k, r in rows.items()} == {
        "1:try_feature:2026-10": "sent", "2:try_feature:2026-10": "sent",
        "3:unanswered_question:2026-10": "failed"}          # cy's was never attempted
    assert rows["3:unanswered_question:2026-10"]["last_error"].startswith("interrupted")

    smtp_server.inbox.hold = None
    report = run(personalized_messages, db, tmp_path, "after", **smtp_server.options())
    assert (report.metrics["sent"], report.metrics["already_sent"]) == (2, 2)
    assert ledger(db)["3:unanswered_question:2026-10"]["attempts"] == 2
    assert smtp_server.inbox.recipients() == ["ada@example.com", "bob@example.com",
                                              "cy@example.com", "zoe@example.com"]


def test_smtp_without_a_host_is_a_config_error_that_names_the_setting(tmp_path, monkeypatch):
    monkeypatch.delenv("WORKBENCH_SMTP_HOST", raising=False)
    db = make_warehouse(tmp_path)
    with pytest.raises(ConfigError, match="WORKBENCH_SMTP_HOST"):
        run(personalized_messages, db, tmp_path, "run-1", delivery="smtp",
            smtp={"sender": "team@example.com"})
    assert ledger(db) == {}


# -- dry run --------------------------------------------------------------------------------
def test_dry_run_returns_what_would_be_sent_and_changes_nothing(tmp_path):
    db = make_warehouse(tmp_path)
    fresh = run(personalized_messages, db, tmp_path, "dry-0", dry_run=True)
    assert fresh.rows == 4 and not fresh.frame["already_sent"].any()
    assert ledger(db) == {} and not (tmp_path / "data").exists()   # not even the folders

    run(personalized_messages, db, tmp_path, "run-1")
    add_candidate(db, NEW_ROW)
    before = (ledger(db), listing(tmp_path / "data" / "outbox"))

    report = run(personalized_messages, db, tmp_path, "dry-1", dry_run=True)
    frame = report.frame
    assert list(frame.columns) == ["key", "email", "subject", "body", "already_sent"]
    assert report.rows == len(frame) == 5
    assert frame.set_index("key")["already_sent"].to_dict() == {
        "1:try_feature:2026-10": True, "2:try_feature:2026-10": True,
        "3:unanswered_question:2026-10": True, "4:try_feature:2026-10": True,
        "5:try_feature:2026-10": False}
    assert frame.loc[frame.key == "5:try_feature:2026-10", "subject"].item() == \
        "Eve, have you tried Alerts?"
    assert "would send 1" in report.message
    assert (ledger(db), listing(tmp_path / "data" / "outbox")) == before


# -- export ---------------------------------------------------------------------------------
def test_export_writes_a_parquet_file_duckdb_reads_and_leaves_no_temp_files(tmp_path):
    db = make_warehouse(tmp_path)
    report = run(export_mart, db, tmp_path, "run-1")

    path = tmp_path / "data" / "exports" / "recommendation_candidates.parquet"
    assert report.rows == 4 and str(path) in report.message
    with duckdb.connect() as con:
        assert con.execute("select count(*), count(distinct user_id) from read_parquet(?)",
                           [str(path)]).fetchall()[0] == (4, 4)
        assert con.sql(f"select * from read_parquet('{path}') limit 0").columns == list(COLUMNS)
    assert listing(path.parent) == [path.name]

    add_candidate(db, NEW_ROW)                       # a second export replaces the first
    assert run(export_mart, db, tmp_path, "run-2").rows == 5
    assert duckdb.sql(f"select count(*) from read_parquet('{path}')").fetchall()[0] == (5,)
    assert listing(path.parent) == [path.name]


def test_export_csv_to_a_chosen_path_and_dry_run_writes_nothing(tmp_path):
    db = make_warehouse(tmp_path)
    inputs = {"user_engagement": '"marts"."user_engagement"',
              "recommendation_candidates": CANDIDATES}
    dry = run(export_mart, db, tmp_path, "dry", dry_run=True, inputs=inputs,
              table="recommendation_candidates", format="csv", path="out/candidates.csv")
    assert dry.rows == 4 and "would write 4 rows" in dry.message
    assert dry.frame.loc[0, "path"] == str(tmp_path / "out" / "candidates.csv")
    assert not (tmp_path / "out").exists()

    report = run(export_mart, db, tmp_path, "run-1", inputs=inputs,
                 table="recommendation_candidates", format="csv", path="out/candidates.csv")
    csv = tmp_path / "out" / "candidates.csv"
    assert report.rows == 4
    assert csv.read_text().splitlines()[0] == ",".join(COLUMNS)
    assert listing(csv.parent) == ["candidates.csv"]


def test_export_of_an_undeclared_table_names_the_inputs(tmp_path):
    db = make_warehouse(tmp_path)
    with pytest.raises(ConfigError, match="recommendation_candidates"):
        run(export_mart, db, tmp_path, "run-1", table="users")
