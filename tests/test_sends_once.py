"""Sends happen once, however often the sending process is killed.

A real subprocess runs the ``personalized_messages`` action against a DuckDB file with
thousands of candidates (a few of the ledger's chunks, for the outbox) and is killed with
SIGKILL after a random delay, again and again (ten times for the outbox, five for SMTP,
whose sends are slower), then runs once to the end; the
tests take a minute or so because each round is a fresh process. What a person would count afterwards: every key in exactly one outbox
line across all the outbox files, and ``sent`` in the ledger; with SMTP (a real server on
127.0.0.1), every e-mail received, and at most one received twice per kill.

The seed of each test's random delays is printed, so a failure can be replayed.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest
from aiosmtpd.controller import Controller

from workbench.delivery.ledger import CHUNK
from workbench.service import free_port

CANDIDATES = '"marts"."recommendation_candidates"'
READY_DEADLINE = 120.0      # seconds for the child to import and connect on a busy machine
RUN_DEADLINE = 600.0


def make_warehouse(tmp_path: Path, users: int) -> Path:
    path = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute(f"""
            create schema marts;
            create table marts.recommendation_candidates as
            select i::bigint as user_id, 'user' || i || '@example.com' as email,
                   'User ' || i as name, 'pro' as plan, 'try_feature' as campaign,
                   'alerts' as feature_key, 'Alerts' as feature_name,
                   null::varchar as question_text, '2026-10' as period
            from range(1, {users + 1}) t(i)""")
    return path


def action_process(db: Path, root: Path, run_id: str, options: dict) -> subprocess.Popen:
    """The action in a process of its own, which says ``ready`` once it is about to send."""
    script = textwrap.dedent(f"""
        import duckdb, sys
        from pathlib import Path
        from workbench.community.messages import personalized_messages
        from workbench.steps import StepContext
        con = duckdb.connect({str(db)!r})
        print("ready", flush=True)
        report = personalized_messages(StepContext(
            name="personalized_messages", run_id={run_id!r}, con=con, options={options!r},
            inputs={{"recommendation_candidates": {CANDIDATES!r}}}, output=None,
            root=Path({str(root)!r})))
        con.close()
        print(report.message, flush=True)
        """)
    return subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def kill_at_random(db: Path, root: Path, options: dict, seed: int, *, kills: int,
                   span: float, sending: Callable[[], int]) -> list[str]:
    """Run the action ``kills`` times, each SIGKILLed after a random delay, then once to the
    end; what each round did. Most rounds wait until ``sending()`` (what has gone out so far)
    grows, so that most kills land while messages go out, the rest count from ``ready`` (a
    kill while reading or settling, or a run that finishes first)."""
    chance = random.Random(seed)
    rounds = []
    for n in range(kills):
        child = action_process(db, root, f"killed-{n}", options)
        try:
            assert child.stdout.readline().strip() == "ready", child.stderr.read()
            before, waits = sending(), chance.random() < 0.7
            deadline = time.monotonic() + RUN_DEADLINE
            while waits and sending() == before and child.poll() is None:
                assert time.monotonic() < deadline, "the child never started sending"
                time.sleep(0.01)
            delay = chance.uniform(0, span)
            time.sleep(delay)
            child.send_signal(signal.SIGKILL)
        finally:
            child.kill()
            out, err = child.communicate(timeout=RUN_DEADLINE)
        when = f"{delay:.2f}s after {'sending began' if waits else 'ready'}"
        rounds.append(f"{when}: {out.strip().splitlines()[-1] if out.strip() else 'killed'}"
                      f"; {dict(ledger_statuses(db))} in the ledger")
    last = action_process(db, root, "clean", options)
    out, err = last.communicate(timeout=RUN_DEADLINE)
    assert last.returncode == 0, err
    rounds.append("clean: " + out.strip().splitlines()[-1])
    print(*rounds, sep="\n")
    return rounds


def ledger_statuses(db: Path) -> Counter:
    with duckdb.connect(str(db), read_only=True) as con:
        if not con.execute("select count(*) from duckdb_tables() "
                           "where schema_name = '_delivery'").fetchall()[0][0]:
            return Counter()
        return Counter(status for (status,) in con.execute(
            "select status from _delivery.deliveries").fetchall())


def test_outbox_sends_each_key_exactly_once_across_random_kills(tmp_path):
    # Enough users for a few of the ledger's chunks, so that kills land between chunks too;
    # a chunk takes a fraction of a second, hence the short span.
    users, seed = 8 * CHUNK - 500, random.randrange(1 << 30)
    print(f"seed {seed}")
    db = make_warehouse(tmp_path, users)
    folder = tmp_path / "data" / "outbox"

    def sending() -> int:           # bytes in the outbox, part files included
        return sum(path.stat().st_size for path in folder.glob("*outbox-*"))

    rounds = kill_at_random(db, tmp_path, {}, seed, kills=10, span=0.25, sending=sending)

    keys = Counter(json.loads(line)["key"] for path in folder.glob("outbox-*.jsonl")
                   for line in path.read_text(encoding="utf-8").splitlines())
    twice = {key: n for key, n in keys.items() if n > 1}
    assert not twice, f"sent more than once: {list(twice.items())[:5]}; rounds: {rounds}"
    assert len(keys) == users, rounds
    assert ledger_statuses(db) == Counter({"sent": users}), rounds
    assert not list(folder.glob(".*.part")), rounds       # every part file published


class Inbox:
    """Keeps each accepted e-mail's key (the X-Workbench-Key header)."""

    def __init__(self) -> None:
        self.keys: list[str] = []

    async def handle_DATA(self, server, session, envelope):
        for line in envelope.original_content.decode(errors="replace").splitlines():
            if line.startswith("X-Workbench-Key: "):
                self.keys.append(line.removeprefix("X-Workbench-Key: ").strip())
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_inbox():
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, {"delivery": "smtp", "smtp": {"host": "127.0.0.1", "port": port,
                                                   "sender": "Team <team@example.com>",
                                                   "timeout": 30}}
    finally:
        controller.stop()


def test_smtp_sends_at_most_one_email_twice_per_kill(tmp_path, smtp_inbox):
    inbox, options = smtp_inbox
    users, seed, kills = 60, random.randrange(1 << 30), 5
    print(f"seed {seed}")
    db = make_warehouse(tmp_path, users)

    rounds = kill_at_random(db, tmp_path, options, seed, kills=kills, span=1.0,
                            sending=lambda: len(inbox.keys))

    received = Counter(inbox.keys)
    assert len(received) == users, rounds                 # none lost
    duplicates = sum(n - 1 for n in received.values())
    assert duplicates <= kills, (received.most_common(3), rounds)
    assert ledger_statuses(db) == Counter({"sent": users}), rounds
