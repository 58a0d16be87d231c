"""The delivery ledger: one row per message key, so that a key once sent is never sent again.

The table ``_delivery.deliveries`` (schema in ``LEDGER_SQL``) belongs to this module: it is
created, written and read only here. ``deliver`` writes it as each delivery happens: one
message at a time for SMTP, in chunks of ``CHUNK`` messages for the local outbox. Each chunk
costs two commits (a few milliseconds of fsync each) and two statements that take the whole
chunk as an Arrow table, and the outbox writes the chunk in one ``write``: committing per
message, 1,000 outbox messages took 7 s; in chunks of 100, 97,437 took 15 s:

* before a chunk is sent, its rows are upserted as ``failed`` with ``attempts + 1``, the
  error ``INTERRUPTED`` and the ``target`` the chunk goes to (the outbox file): a
  write-ahead intent, committed before the first message leaves;
* after the chunk, each row becomes ``sent`` (with ``sent_at``), or stays ``failed`` with the
  real error in ``last_error``.

A key whose row says ``sent`` is never sent again, whatever the channel. A run killed between
an intent and its outcome leaves rows "in doubt" (still ``INTERRUPTED``). Before sending
anything, the next ``deliver`` settles them:

* **outbox: exactly once.** Each outbox line carries its key, so the ledger reads the keys
  the target file holds (complete lines only; a partial last line is cut off), records those
  as sent and the others as not delivered (sent again if still due), and only then publishes
  the file. A kill at any point, the settling included, leaves every key in exactly one
  outbox line once a run completes.
* **SMTP: at most one duplicate per kill.** An SMTP server cannot be asked what it received,
  so the message in doubt is sent again (at least once, never silently lost). Messages go one
  per intent, so only one message is ever in doubt: a kill makes at most one e-mail twice.
  Its Message-ID is derived from the key, so a receiver can drop the duplicate.

Upgrades: releases before this package kept the ledger as ``_workbench.deliveries``. The
first ``open_ledger`` on such a warehouse copies its rows into the new table, in the same
transaction that creates it, so no key sent before the upgrade is sent again after it.

Example::

    open_ledger(con)
    done = statuses(con)                              # key -> "sent" | "failed"
    due = [m for m in messages if done.get(m.key) != "sent"]
    outcome = deliver(con, make_delivery(options, root, run_id), due, run_id=run_id)
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb

from ..errors import ChannelUnavailable, DeliveryFailed
from ..ledger import SCHEMA as METADATA_SCHEMA
from ..results import utc_now
from . import outbox
from .message import Delivery, Message

SCHEMA = "_delivery"
LEDGER = f"{SCHEMA}.deliveries"
CHUNK = 5000       # outbox messages per ledger transaction (see the module docstring)
LEDGER_SQL = f"""
create schema if not exists {SCHEMA};
create table if not exists {LEDGER} (
    key varchar primary key,      -- e.g. user_id:campaign:period
    user_id bigint,
    email varchar,                -- the address of the last attempt
    campaign varchar,
    period varchar,
    channel varchar,              -- outbox | smtp: the channel of the last attempt
    status varchar,               -- sent | failed
    attempts integer,             -- sends tried, this one included
    last_error varchar,           -- null once sent
    subject varchar,              -- as last rendered
    body varchar,
    first_attempt_at timestamp,   -- UTC
    sent_at timestamp,            -- UTC, null until sent
    run_id varchar,               -- the run of the last attempt
    target varchar                -- where the last attempt went: the outbox file, smtp://host
);
"""
# The columns releases before this package had (copied on upgrade); ``target`` came later
# and is added to a ledger that lacks it (``open_ledger``).
COLUMNS = ("key", "user_id", "email", "campaign", "period", "channel", "status", "attempts",
           "last_error", "subject", "body", "first_attempt_at", "sent_at", "run_id")
# Where releases before this package kept the ledger (the core's metadata schema): read
# only, to copy it once.
OLD_LEDGER = (METADATA_SCHEMA, "deliveries")
INTERRUPTED = "interrupted: the run stopped while delivering; the outcome is unknown"
NOT_WRITTEN = "not delivered: the run stopped before writing it to {target}"

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeliveryOutcome:
    """What ``deliver`` did: counts, and the channel failure that stopped it, if any."""

    sent: int = 0
    failed: int = 0               # tried and failed this run; recorded, retried next run
    not_attempted: int = 0        # left unsent because the channel became unavailable
    unavailable: ChannelUnavailable | None = None
    recovered: int = 0            # in doubt after a kill, found delivered: not sent again


def statuses(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """key -> ``sent`` | ``failed``. Reads only, so it works on a read-only connection (a dry
    run); before the first ``open_ledger`` of an upgraded warehouse it reads the old ledger."""
    for schema, table in ((SCHEMA, "deliveries"), OLD_LEDGER):
        if _exists(con, schema, table):
            return dict(con.execute(f"select key, status from {schema}.{table}").fetchall())
    return {}


def open_ledger(con: duckdb.DuckDBPyConnection) -> None:
    """Create the ledger if it is missing, with the old ledger's rows if there is one; add
    the ``target`` column to a ledger written before it existed."""
    if _exists(con, SCHEMA, "deliveries"):
        if not con.execute("select count(*) from duckdb_columns() where database_name = "
                           "current_database() and schema_name = ? and table_name = "
                           "'deliveries' and column_name = 'target'", [SCHEMA]).fetchall()[0][0]:
            con.execute(f"alter table {LEDGER} add column target varchar")
        return
    with _transaction(con):
        con.execute(LEDGER_SQL)
        if _exists(con, *OLD_LEDGER):
            names = ", ".join(COLUMNS)
            copied = con.execute(
                f"insert into {LEDGER} ({names}) select {names} from "
                f"{OLD_LEDGER[0]}.{OLD_LEDGER[1]} on conflict do nothing").fetchall()[0][0]
            _log.info("delivery ledger: %d row(s) copied from %s.%s into %s", copied,
                      *OLD_LEDGER, LEDGER)


def deliver(con: duckdb.DuckDBPyConnection, delivery: Delivery, messages: Sequence[Message],
            *, run_id: str, log: logging.Logger | logging.LoggerAdapter = _log,
            name: str = "delivery") -> DeliveryOutcome:
    """Send ``messages`` through ``delivery``, recording each in the ledger; close the channel.

    A ``DeliveryFailed`` is recorded and the next message tried; a ``ChannelUnavailable``
    stops the run, and the messages left are recorded as not attempted. Call ``statuses``
    first to leave out what was sent: this sends every message it is given, except those a
    killed run is found to have delivered (settled first, see the module docstring).
    """
    open_ledger(con)
    sent = failed = not_attempted = 0
    unavailable: ChannelUnavailable | None = None
    try:
        recovered = _settle(con)
        delivery.recover()
        if recovered:
            log.info("%s: %d message(s) found delivered by a run that was stopped before it "
                     "said so; not sent again", name, len(recovered))
            messages = [m for m in messages if m.key not in recovered]
        # Local outbox: chunks, the ledger's commits dominate. SMTP: one message at a time,
        # the network dominates and a crash must re-send at most one e-mail.
        size = CHUNK if delivery.channel == "outbox" else 1
        for start in range(0, len(messages), size):
            chunk = messages[start:start + size]
            with _transaction(con):
                _record_attempts(con, chunk, delivery.channel, run_id, delivery.target)
            outcomes, unavailable = _send(delivery, chunk, log, name)
            with _transaction(con):
                _record_sent(con, [m.key for m, error in outcomes if error is None])
                for message, error in outcomes:
                    if error is not None:
                        _record_failure(con, [message.key], error)
                _record_failure(con, [m.key for m in chunk[len(outcomes):]],
                                f"not attempted: {unavailable}")
            sent += sum(error is None for _, error in outcomes)
            failed += sum(error is not None for _, error in outcomes)
            if unavailable is not None:
                not_attempted = len(messages) - start - len(outcomes)
                break
    finally:
        delivery.close()
    return DeliveryOutcome(sent, failed, not_attempted, unavailable, len(recovered))


def _send(delivery: Delivery, chunk: Sequence[Message],
          log: logging.Logger | logging.LoggerAdapter, name: str
          ) -> tuple[list[tuple[Message, str | None]], ChannelUnavailable | None]:
    """Send a chunk: (each message tried, with its error or None; the channel failure that
    stopped the chunk). A channel with ``send_many`` (the outbox) takes the chunk in one
    write and says how many messages it wrote whole; the others go one by one."""
    outcomes: list[tuple[Message, str | None]] = []
    send_many = getattr(delivery, "send_many", None)
    if send_many is not None:
        written, error = send_many(chunk)
        outcomes = [(message, None) for message in chunk[:written]]
        if error is None:
            return outcomes, None
        outcomes.append((chunk[written], str(error)))
        log.warning("%s: %s not delivered (will retry): %s", name, chunk[written].key, error)
        return outcomes, error
    for message in chunk:
        try:
            delivery.send(message)
        except DeliveryFailed as exc:
            outcomes.append((message, str(exc)))
            log.warning("%s: %s not delivered (will retry): %s", name, message.key, exc)
            if isinstance(exc, ChannelUnavailable):
                return outcomes, exc
        else:
            outcomes.append((message, None))
    return outcomes, None


def _settle(con: duckdb.DuckDBPyConnection) -> set[str]:
    """Settle the outbox keys a killed run left in doubt against the files they went to;
    return those found written. The ledger commits before a file is published, so a kill
    here leaves the same doubt for the next run to settle."""
    in_doubt: dict[str, set[str]] = {}
    for key, target in con.execute(
            f"select key, target from {LEDGER} where status = 'failed' and last_error = ? "
            f"and channel = 'outbox' and target is not null", [INTERRUPTED]).fetchall():
        in_doubt.setdefault(target, set()).add(key)
    if not in_doubt:
        return set()
    written: set[str] = set()
    with _transaction(con):
        for target, keys in in_doubt.items():
            found = keys & outbox.written_keys(Path(target))
            written |= found
            _record_failure(con, sorted(keys - found), NOT_WRITTEN.format(target=target))
        _record_sent(con, sorted(written))
    for target in in_doubt:
        outbox.publish(Path(target))
    return written


def _exists(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    return con.execute(
        "select count(*) from duckdb_tables() where database_name = current_database() "
        "and schema_name = ? and table_name = ?", [schema, table]).fetchall()[0][0] > 0


@contextlib.contextmanager
def _transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    con.begin()
    try:
        yield
    except BaseException:
        con.rollback()
        raise
    con.commit()


def _record_attempts(con: duckdb.DuckDBPyConnection, messages: Sequence[Message],
                     channel: str, run_id: str, target: str) -> None:
    """Upsert the chunk's rows as failed/"interrupted" before sending, in one statement
    (a per-row upsert costs ~4 ms in DuckDB): if the process dies mid-send, the keys are
    retried next run rather than forgotten."""
    import pyarrow as pa

    attempts = pa.table({
        "key": [m.key for m in messages], "user_id": [m.user_id for m in messages],
        "email": [m.email for m in messages], "campaign": [m.campaign for m in messages],
        "period": [m.period for m in messages], "subject": [m.subject for m in messages],
        "body": [m.body for m in messages]})
    con.register("_delivery_attempts", attempts)
    try:
        con.execute(
            f"""
            insert into {LEDGER} (key, user_id, email, campaign, period, channel, status,
                                  attempts, last_error, subject, body, first_attempt_at,
                                  sent_at, run_id, target)
            select key, user_id, email, campaign, period, ?, 'failed', 1, ?, subject, body,
                   ?, null, ?, ?
            from _delivery_attempts
            on conflict (key) do update set
                email = excluded.email, channel = excluded.channel, status = 'failed',
                attempts = attempts + 1, last_error = excluded.last_error,
                subject = excluded.subject, body = excluded.body, run_id = excluded.run_id,
                target = excluded.target
            """, [channel, INTERRUPTED, utc_now(), run_id, target])
    finally:
        con.unregister("_delivery_attempts")


def _record_sent(con: duckdb.DuckDBPyConnection, keys: list[str]) -> None:
    with _registered_keys(con, keys) as relation:
        if relation:
            con.execute(f"update {LEDGER} set status = 'sent', last_error = null, sent_at = ? "
                        f"from {relation} k where {LEDGER}.key = k.key", [utc_now()])


def _record_failure(con: duckdb.DuckDBPyConnection, keys: list[str], error: str) -> None:
    with _registered_keys(con, keys) as relation:
        if relation:
            con.execute(f"update {LEDGER} set last_error = ? from {relation} k "
                        f"where {LEDGER}.key = k.key", [error[:2000]])


@contextlib.contextmanager
def _registered_keys(con: duckdb.DuckDBPyConnection, keys: list[str]) -> Iterator[str | None]:
    """``keys`` as a relation to join (one statement for a chunk, however large), or None
    when there are none."""
    if not keys:
        yield None
        return
    import pyarrow as pa

    con.register("_delivery_keys", pa.table({"key": pa.array(keys, pa.string())}))
    try:
        yield "_delivery_keys"
    finally:
        con.unregister("_delivery_keys")
