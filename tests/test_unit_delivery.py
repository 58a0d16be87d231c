"""Message delivery without Prefect or dbt: the outbox channel and the delivery ledger on a
real DuckDB file, including the upgrade from the ledger's old home in ``_workbench``."""

from __future__ import annotations

import json
import logging
import pickle
import resource
import signal
from pathlib import Path

import duckdb
import pytest

from workbench.delivery import (
    LEDGER,
    ChannelUnavailable,
    DeliveryFailed,
    Message,
    OutboxDelivery,
    deliver,
    make_delivery,
    open_ledger,
    statuses,
)
from workbench.errors import ConfigError

LOG = logging.getLogger("test.delivery")
# The ledger as releases before workbench.delivery created it.
OLD_LEDGER_SQL = """
create schema _workbench;
create table _workbench.deliveries (
    key varchar primary key, user_id bigint, email varchar, campaign varchar, period varchar,
    channel varchar, status varchar, attempts integer, last_error varchar, subject varchar,
    body varchar, first_attempt_at timestamp, sent_at timestamp, run_id varchar);
"""


def message(user_id: int, campaign: str = "try_feature") -> Message:
    return Message(key=f"{user_id}:{campaign}:2026-10", user_id=user_id,
                   email=f"user{user_id}@example.com", name=f"User {user_id}",
                   campaign=campaign, period="2026-10", subject=f"Hello {user_id}",
                   body="A message.\n")


def outbox_lines(folder: Path) -> list[dict]:
    return [json.loads(line) for path in sorted(folder.glob("outbox-*.jsonl"))
            for line in path.read_text(encoding="utf-8").splitlines()]


def ledger_rows(db: Path) -> dict[str, dict]:
    with duckdb.connect(str(db), read_only=True) as con:
        result = con.sql(f"select * from {LEDGER} order by key")
        return {row[0]: dict(zip(result.columns, row)) for row in result.fetchall()}


class Refusing:
    """A channel that refuses chosen keys, as a mail server refuses a recipient; with
    ``down_after``, it becomes unavailable after that many messages."""

    channel = "test"
    target = "test://refusing"

    def __init__(self, refuse: set[str] = frozenset(), down_after: int | None = None) -> None:
        self.refuse, self.down_after, self.sent, self.closed = refuse, down_after, [], False

    def recover(self) -> None:
        """Nothing is ever left half done in a list."""

    def send(self, message: Message) -> None:
        if self.down_after is not None and len(self.sent) >= self.down_after:
            raise ChannelUnavailable("server went away", key=message.key, channel=self.channel)
        if message.key in self.refuse:
            raise DeliveryFailed(f"{message.email} refused", key=message.key,
                                 channel=self.channel)
        self.sent.append(message.key)

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def con(tmp_path: Path):
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as con:
        yield con


# -- the outbox -----------------------------------------------------------------------------
def test_outbox_publishes_one_file_per_run_when_closed(tmp_path):
    folder = tmp_path / "outbox"
    outbox = OutboxDelivery(folder, run_id="run/1")
    assert not folder.exists()                       # nothing until the first message
    outbox.send(message(1))
    outbox.send(message(2))
    assert outbox_lines(folder) == []                # a reader never sees half a file
    outbox.close()

    assert outbox.path == folder / "outbox-run_1.jsonl"
    lines = outbox_lines(folder)
    assert [(line["key"], line["channel"], line["run_id"]) for line in lines] == [
        ("1:try_feature:2026-10", "outbox", "run/1"), ("2:try_feature:2026-10", "outbox", "run/1")]
    again = OutboxDelivery(folder, run_id="run/1")   # a reused run id never overwrites
    again.send(message(3))
    again.close()
    assert again.path == folder / "outbox-run_1.2.jsonl" and len(outbox_lines(folder)) == 3


def test_outbox_publishes_the_complete_lines_a_crashed_run_left(tmp_path):
    folder = tmp_path / "outbox"
    folder.mkdir()
    complete = json.dumps({"key": "1:try_feature:2026-10"})
    (folder / ".outbox-crashed.jsonl.part").write_text(complete + '\n{"key": "2:tr')

    outbox = OutboxDelivery(folder, run_id="next")
    outbox.recover()
    outbox.send(message(3))
    outbox.close()
    assert sorted(p.name for p in folder.iterdir()) == ["outbox-crashed.jsonl",
                                                        "outbox-next.jsonl"]
    assert (folder / "outbox-crashed.jsonl").read_text() == complete + "\n"


def test_a_part_file_whose_writer_is_alive_is_never_recovered(tmp_path):
    folder = tmp_path / "outbox"
    writing = OutboxDelivery(folder, run_id="live")
    writing.send(message(1))

    OutboxDelivery(folder, run_id="other").recover()    # e.g. another process's freshness alert

    assert outbox_lines(folder) == []                   # still the live writer's part file
    writing.send(message(2))
    writing.close()
    assert [line["key"] for line in outbox_lines(folder)] == ["1:try_feature:2026-10",
                                                              "2:try_feature:2026-10"]


def test_a_chunk_whose_write_is_cut_short_counts_only_its_whole_lines(tmp_path):
    # A real short write: the kernel stops at the file-size limit (RLIMIT_FSIZE) mid-line,
    # then refuses the rest (EFBIG), as a full disk would.
    folder = tmp_path / "outbox"
    outbox = OutboxDelivery(folder, run_id="full")
    outbox.send(message(1))
    line = outbox._part.stat().st_size
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (2 * line + line // 2, hard))
    try:
        written, error = outbox.send_many([message(n) for n in range(2, 6)])
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, handler)
    outbox.close()

    assert written == 1
    assert isinstance(error, ChannelUnavailable) and error.key == "3:try_feature:2026-10"
    assert [line["key"] for line in outbox_lines(folder)] == ["1:try_feature:2026-10",
                                                              "2:try_feature:2026-10"]


def test_make_delivery_names_the_unknown_channel(tmp_path):
    assert make_delivery({}, tmp_path, "r").channel == "outbox"
    with pytest.raises(ConfigError, match="'pigeon' is not a channel"):
        make_delivery({"delivery": "pigeon"}, tmp_path, "r")
    with pytest.raises(ConfigError, match="smtp delivery needs host and sender"):
        make_delivery({"delivery": "smtp", "smtp": {}}, tmp_path, "r")


# -- the ledger -----------------------------------------------------------------------------
def test_a_sent_key_is_recorded_once_and_a_refused_one_retried_until_sent(con, tmp_path):
    messages = [message(1), message(2), message(3)]
    refusing = Refusing(refuse={"2:try_feature:2026-10"})
    outcome = deliver(con, refusing, messages, run_id="run-1", log=LOG)
    assert (outcome.sent, outcome.failed, outcome.not_attempted) == (2, 1, 0)
    assert refusing.closed
    assert statuses(con) == {"1:try_feature:2026-10": "sent", "2:try_feature:2026-10": "failed",
                             "3:try_feature:2026-10": "sent"}

    due = [m for m in messages if statuses(con).get(m.key) != "sent"]
    assert [m.key for m in due] == ["2:try_feature:2026-10"]
    outbox = OutboxDelivery(tmp_path / "outbox", run_id="run-2")
    assert deliver(con, outbox, due, run_id="run-2").sent == 1
    con.close()
    rows = ledger_rows(tmp_path / "warehouse.duckdb")
    assert {key: row["status"] for key, row in rows.items()} == dict.fromkeys(rows, "sent")
    retried = rows["2:try_feature:2026-10"]
    assert (retried["attempts"], retried["channel"], retried["run_id"]) == (2, "outbox", "run-2")
    assert retried["last_error"] is None and retried["sent_at"] is not None
    assert rows["1:try_feature:2026-10"]["attempts"] == 1
    assert [line["key"] for line in outbox_lines(tmp_path / "outbox")] == [
        "2:try_feature:2026-10"]


def test_keys_a_killed_run_wrote_are_settled_as_sent_and_the_others_sent_once(con, tmp_path):
    # What a kill mid-chunk leaves: intents for 1..4 committed, the lines of 1 and 2 in the
    # run's part file, 3's line cut in the middle, 4 never written.
    folder = tmp_path / "outbox"
    killed = OutboxDelivery(folder, run_id="killed")
    messages = [message(n) for n in range(1, 5)]
    open_ledger(con)
    from workbench.delivery.ledger import _record_attempts, _transaction
    with _transaction(con):
        _record_attempts(con, messages, "outbox", "killed", killed.target)
    killed.send(messages[0])
    killed.send(messages[1])
    killed._file.write(json.dumps({"key": messages[2].key})[:12].encode())
    killed._file.close()              # the kernel's part of a kill: the lock goes

    outcome = deliver(con, OutboxDelivery(folder, run_id="next"), messages, run_id="next")

    assert (outcome.recovered, outcome.sent) == (2, 2)
    keys = [line["key"] for line in outbox_lines(folder)]
    assert sorted(keys) == [m.key for m in messages]           # each key in one line
    assert sorted(p.name for p in folder.iterdir()) == ["outbox-killed.jsonl",
                                                        "outbox-next.jsonl"]
    assert (folder / "outbox-killed.jsonl").read_text().endswith("\n")   # torn line cut
    assert set(statuses(con).values()) == {"sent"}
    targets = dict(con.execute(f"select key, target from {LEDGER}").fetchall())
    assert targets[messages[0].key] == str(folder / "outbox-killed.jsonl")
    assert targets[messages[3].key] == str(folder / "outbox-next.jsonl")


def test_an_unavailable_channel_stops_and_leaves_the_rest_to_the_next_run(con):
    messages = [message(n) for n in range(1, 6)]
    outcome = deliver(con, Refusing(down_after=2), messages, run_id="run-1", log=LOG)
    assert (outcome.sent, outcome.failed, outcome.not_attempted) == (2, 1, 2)
    assert "server went away" in str(outcome.unavailable)
    errors = dict(con.execute(f"select key, last_error from {LEDGER} "
                              f"where status = 'failed'").fetchall())
    assert errors == {"3:try_feature:2026-10": "server went away"}
    # One message at a time (not the outbox): the untried ones are not even recorded, so
    # the next run finds them due like any other unsent key.
    assert sorted(statuses(con)) == [f"{n}:try_feature:2026-10" for n in (1, 2, 3)]


def test_an_upgraded_warehouse_never_sends_a_key_its_old_ledger_sent(tmp_path):
    db = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute(OLD_LEDGER_SQL)
        con.execute("insert into _workbench.deliveries (key, user_id, email, campaign, period, "
                    "channel, status, attempts, last_error, run_id) values "
                    "('1:try_feature:2026-10', 1, 'a@example.com', 'try_feature', '2026-10', "
                    " 'smtp', 'sent', 1, null, 'old-run'), "
                    "('2:try_feature:2026-10', 2, 'b@example.com', 'try_feature', '2026-10', "
                    " 'smtp', 'failed', 3, 'refused', 'old-run')")
    with duckdb.connect(str(db), read_only=True) as reader:   # a dry run, before the upgrade
        assert statuses(reader) == {"1:try_feature:2026-10": "sent",
                                    "2:try_feature:2026-10": "failed"}

    with duckdb.connect(str(db)) as con:
        open_ledger(con)
        due = [m for m in (message(1), message(2)) if statuses(con).get(m.key) != "sent"]
        assert [m.key for m in due] == ["2:try_feature:2026-10"]
        channel = Refusing()
        deliver(con, channel, due, run_id="new-run")
        assert channel.sent == ["2:try_feature:2026-10"]
        # Copied once: what the old table holds later is not copied again.
        con.execute("insert into _workbench.deliveries (key, status) "
                    "values ('9:try_feature:2026-10', 'sent')")
        open_ledger(con)
    rows = ledger_rows(db)
    assert sorted(rows) == ["1:try_feature:2026-10", "2:try_feature:2026-10"]
    assert rows["1:try_feature:2026-10"]["run_id"] == "old-run"
    assert (rows["2:try_feature:2026-10"]["status"], rows["2:try_feature:2026-10"]["attempts"]
            ) == ("sent", 4)


# -- errors ---------------------------------------------------------------------------------
def test_delivery_and_classifier_errors_live_in_errors_and_keep_their_old_paths():
    import workbench.errors as errors
    from workbench.community import delivery as old_delivery
    from workbench.community.classify import ClassifierError

    assert old_delivery.DeliveryFailed is errors.DeliveryFailed
    assert old_delivery.ChannelUnavailable is errors.ChannelUnavailable
    assert ClassifierError is errors.ClassifierError
    error = pickle.loads(pickle.dumps(ChannelUnavailable("down", key="k", channel="smtp")))
    assert isinstance(error, DeliveryFailed) and (error.key, error.channel) == ("k", "smtp")
