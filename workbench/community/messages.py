"""The ``personalized_messages`` action: one message per candidate, sent at most once.

It reads the ``recommendation_candidates`` mart (user_id, email, name, plan, campaign,
feature_key, feature_name, question_text, period), renders each row with the Jinja template
``<campaign>.txt.j2`` and hands the message to a delivery backend (``delivery`` option:
``outbox`` by default, or ``smtp``; see ``workbench.community.delivery``).

**Idempotence.** A message's key is ``user_id:campaign:period``. The ledger table
``_workbench.deliveries`` holds one row per key (schema in ``LEDGER_SQL``), written as each
delivery happens: one message at a time for SMTP, in chunks of ``CHUNK`` messages for the
local outbox (one commit costs a few milliseconds of fsync: committing per message, 1,000
outbox messages took 7 s):

* before a chunk is sent, its rows are upserted as ``failed`` with ``attempts + 1`` and the
  error "interrupted", so a crash mid-chunk leaves rows that the next run retries;
* after the chunk, each row becomes ``sent`` (with ``sent_at``), or stays ``failed`` with the
  real error in ``last_error``.

A key whose row says ``sent`` is never sent again, whatever the channel; any other due key
is sent (again) on every run while the mart still lists it. The mart decides *who* should
get a message (a question answered since drops out), the ledger remembers *what was sent*.
The one window left is a crash between the channel accepting a chunk's messages and the
ledger saying so: that e-mail (or those outbox lines, at most ``CHUNK``) is sent again
next run (at least once, never silently lost); the
outbox line and the e-mail's Message-ID carry the key so a receiver can drop the duplicate.

**Templates.** The first line of a rendered template is ``Subject: ...``, then a blank line,
then the body. Autoescape is off (this is text) and undefined variables are errors. A
project overrides any campaign's template by putting its own ``<campaign>.txt.j2`` in the
folder named by the ``templates_dir`` option (relative to the project root); campaigns it
does not override fall back to the templates shipped here.

Options (``[actions.<name>.options]``)::

    delivery = "outbox"            # or "smtp"
    templates_dir = "templates"    # optional project folder of <campaign>.txt.j2
    input = "recommendation_candidates"   # optional; default that input, else the first
    smtp = {host = "...", port = 587, sender = "Team <team@example.com>", starttls = true}

Failures are data, not exceptions: the report's ``metrics["failed"]`` counts deliveries
that failed this run (recorded, retried next run), so the framework can mark the action as
failed or warned when it is above zero. Configuration problems (no template for a campaign,
a template error, a missing mart column, bad SMTP settings) raise ``ConfigError`` before
anything is sent.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import duckdb
import jinja2

from ..errors import ConfigError
from ..results import utc_now
from ..steps import StepContext, StepReport
from ..warehouse import META
from .delivery import ChannelUnavailable, DeliveryFailed, Message, make_delivery

__all__ = ["personalized_messages", "render_messages", "message_key", "LEDGER", "LEDGER_SQL"]

TEMPLATES = Path(__file__).with_name("templates")
DEFAULT_INPUT = "recommendation_candidates"
REQUIRED_COLUMNS = ("user_id", "email", "name", "campaign", "period")
LEDGER = f"{META}.deliveries"
CHUNK = 100        # messages per ledger transaction (see the module docstring)
LEDGER_SQL = f"""
create schema if not exists {META};
create table if not exists {LEDGER} (
    key varchar primary key,      -- user_id:campaign:period
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
    run_id varchar                -- the run of the last attempt
);
"""
INTERRUPTED = "interrupted: the run stopped while delivering; the outcome is unknown"
_SUBJECT = re.compile(r"\ASubject:[ \t]*(?P<subject>[^\n]*)\n(?P<body>.*)\Z", re.S)


def message_key(user_id: int, campaign: str, period: str) -> str:
    """The idempotence key of a message: one per user, campaign and period."""
    return f"{user_id}:{campaign}:{period}"


def _row_key(row: Mapping[str, Any]) -> str:
    return message_key(row["user_id"], row["campaign"], row["period"])


def personalized_messages(ctx: StepContext) -> StepReport:
    """Render and deliver one message per candidate not yet sent; see the module docstring.

    Example, in a notebook, to preview without sending::

        report = personalized_messages(StepContext(..., dry_run=True))
        report.frame        # key, email, subject, body, already_sent
    """
    relation = _input_relation(ctx)
    rows, skipped, duplicates = _read_candidates(ctx.con, relation)
    environment = template_environment(ctx.root, ctx.options.get("templates_dir"))
    status = _ledger_status(ctx.con)
    if not ctx.dry_run:   # render only what is due: a re-run has thousands already sent
        sent_keys = {k for k, v in status.items() if v == "sent"}
        already_rows = [r for r in rows if _row_key(r) in sent_keys]
        rows = [r for r in rows if _row_key(r) not in sent_keys]
    messages = render_messages(environment, rows)          # every template error before a send
    if ctx.dry_run:
        already = [m for m in messages if status.get(m.key) == "sent"]
        due = [m for m in messages if status.get(m.key) != "sent"]
    else:
        already, due = already_rows, messages
    delivery = make_delivery(ctx.options, ctx.root, ctx.run_id)   # checks options, opens nothing
    if skipped:
        ctx.log.warning("%s: %d candidate(s) without user_id, campaign, period or email skipped",
                        ctx.name, skipped)

    if ctx.dry_run:
        import pandas as pd

        frame = pd.DataFrame(
            [(m.key, m.email, m.subject, m.body, status.get(m.key) == "sent") for m in messages],
            columns=["key", "email", "subject", "body", "already_sent"])
        return StepReport(
            rows=len(frame), frame=frame,
            message=f"dry run: would send {len(due)} via {delivery.channel}, "
                    f"{len(already)} already sent",
            metrics={"would_send": len(due), "already_sent": len(already),
                     "skipped": skipped, "duplicates": duplicates})

    ctx.con.execute(LEDGER_SQL)
    sent = failed = not_attempted = 0
    unavailable: ChannelUnavailable | None = None
    try:
        # Local outbox: chunks, the ledger's commits dominate. SMTP: one message at a time,
        # the network dominates and a crash must re-send at most one e-mail.
        size = CHUNK if delivery.channel == "outbox" else 1
        for start in range(0, len(due), size):
            chunk = due[start:start + size]
            with _transaction(ctx.con):
                _record_attempts(ctx.con, chunk, delivery.channel, ctx.run_id)
            outcomes: list[tuple[Message, str | None]] = []
            for message in chunk:
                try:
                    delivery.send(message)
                except DeliveryFailed as exc:
                    outcomes.append((message, str(exc)))
                    ctx.log.warning("%s: %s not delivered (will retry): %s",
                                    ctx.name, message.key, exc)
                    if isinstance(exc, ChannelUnavailable):
                        unavailable = exc
                        break
                else:
                    outcomes.append((message, None))
            with _transaction(ctx.con):
                _record_sent(ctx.con, [m.key for m, error in outcomes if error is None])
                for message, error in outcomes:
                    if error is not None:
                        _record_failure(ctx.con, message.key, error)
                for message in chunk[len(outcomes):]:
                    _record_failure(ctx.con, message.key, f"not attempted: {unavailable}")
            sent += sum(error is None for _, error in outcomes)
            failed += sum(error is not None for _, error in outcomes)
            if unavailable is not None:
                not_attempted = len(due) - start - len(outcomes)
                break
    finally:
        delivery.close()

    parts = [f"{sent} sent", f"{failed} failed (will retry)", f"{len(already)} already sent"]
    if unavailable is not None:
        parts.append(f"{not_attempted} not attempted ({delivery.channel} unavailable: "
                     f"{unavailable})")
    if skipped:
        parts.append(f"{skipped} skipped (no user_id, campaign, period or email)")
    return StepReport(
        rows=sent, message=", ".join(parts) + f" via {delivery.channel}",
        metrics={"sent": sent, "failed": failed, "already_sent": len(already),
                 "not_attempted": not_attempted, "skipped": skipped,
                 "duplicates": duplicates})


# -- reading --------------------------------------------------------------------------------
def _input_relation(ctx: StepContext) -> str:
    name = ctx.options.get("input") or (DEFAULT_INPUT if DEFAULT_INPUT in ctx.inputs
                                        else next(iter(ctx.inputs), None))
    if name not in ctx.inputs:
        raise ConfigError(f"[actions.{ctx.name}]: input {name!r} is not among its inputs "
                          f"{sorted(ctx.inputs)}", step=ctx.name)
    return ctx.inputs[name]


def _read_candidates(con: duckdb.DuckDBPyConnection, relation: str
                     ) -> tuple[list[dict[str, Any]], int, int]:
    """(rows with a complete key and an e-mail, one per key; skipped; duplicates dropped)."""
    columns = con.sql(f"select * from {relation} limit 0").columns
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise ConfigError(f"{relation} lacks column(s) {missing}; personalized_messages needs "
                          f"{list(REQUIRED_COLUMNS)}", relation=relation, missing=missing)
    order = ", ".join(c for c in ("user_id", "campaign", "period", "feature_key",
                                  "question_text") if c in columns)
    result = con.sql(f"select * from {relation} order by {order}")
    rows = [dict(zip(result.columns, values)) for values in result.fetchall()]
    kept, seen, skipped, duplicates = [], set(), 0, 0
    for row in rows:
        if any(row[c] is None for c in ("user_id", "campaign", "period")) or \
                not str(row["email"] or "").strip():
            skipped += 1
            continue
        key = message_key(row["user_id"], row["campaign"], row["period"])
        if key in seen:
            # One message per user, campaign and period: the mart may offer several features;
            # the first in (feature_key, question_text) order wins, the same one every run.
            duplicates += 1
            continue
        seen.add(key)
        kept.append({**row, "key": key})
    return kept, skipped, duplicates


# -- rendering ------------------------------------------------------------------------------
def template_environment(root: Path, templates_dir: str | None = None) -> jinja2.Environment:
    """Jinja for text: the project's folder first (if given), then the shipped templates."""
    folders = [TEMPLATES]
    if templates_dir:
        folder = Path(templates_dir)
        folder = folder if folder.is_absolute() else Path(root) / folder
        if not folder.is_dir():
            raise ConfigError(f"templates_dir {str(templates_dir)!r} is not a folder "
                              f"(looked for {folder})", path=str(folder))
        folders.insert(0, folder)
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader([str(f) for f in folders]),
        autoescape=False, undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True)


def render_messages(environment: jinja2.Environment,
                    rows: list[Mapping[str, Any]]) -> list[Message]:
    """One Message per row; raise ConfigError naming the campaign and template on a problem."""
    templates: dict[str, jinja2.Template] = {}
    messages = []
    for row in rows:
        campaign = row["campaign"]
        name = f"{campaign}.txt.j2"
        try:
            if campaign not in templates:
                templates[campaign] = environment.get_template(name)
            text = templates[campaign].render(row)
        except jinja2.TemplateNotFound:
            folders = getattr(environment.loader, "searchpath", [])
            raise ConfigError(f"no template {name!r} for campaign {campaign!r}: add it to one of "
                              f"{folders} (or set templates_dir)", campaign=campaign,
                              template=name) from None
        except jinja2.TemplateError as exc:
            where = f" line {exc.lineno}" if getattr(exc, "lineno", None) else ""
            raise ConfigError(f"template {name!r}{where} for {row['key']}: "
                              f"{type(exc).__name__}: {exc}", campaign=campaign,
                              template=name) from exc
        match = _SUBJECT.match(text.lstrip("\n"))
        if match is None:
            raise ConfigError(f"template {name!r} must start with a 'Subject: ...' line, then a "
                              f"blank line and the body", campaign=campaign, template=name)
        subject = " ".join(match["subject"].split())    # one header line, whatever the data
        body = match["body"].lstrip("\n").rstrip() + "\n"
        messages.append(Message(key=row["key"], user_id=int(row["user_id"]),
                                email=str(row["email"]).strip(), name=row.get("name"),
                                campaign=campaign, period=str(row["period"]),
                                subject=subject, body=body))
    return messages


# -- the ledger -----------------------------------------------------------------------------
def _ledger_status(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """key -> status; reads only, so it works on a dry run's read-only connection."""
    exists = con.execute(
        "select count(*) from duckdb_tables() where database_name = current_database() "
        "and schema_name = ? and table_name = 'deliveries'", [META]).fetchall()[0][0]
    if not exists:
        return {}
    return dict(con.execute(f"select key, status from {LEDGER}").fetchall())


@contextlib.contextmanager
def _transaction(con: duckdb.DuckDBPyConnection):
    con.begin()
    try:
        yield
    except BaseException:
        con.rollback()
        raise
    con.commit()


def _record_attempts(con: duckdb.DuckDBPyConnection, messages: list[Message], channel: str,
                     run_id: str) -> None:
    """Upsert the chunk's rows as failed/"interrupted" before sending, in one statement
    (a per-row upsert costs ~4 ms in DuckDB): if the process dies mid-send, the keys are
    retried next run rather than forgotten."""
    import pyarrow as pa

    now = utc_now()
    attempts = pa.table({
        "key": [m.key for m in messages], "user_id": [m.user_id for m in messages],
        "email": [m.email for m in messages], "campaign": [m.campaign for m in messages],
        "period": [m.period for m in messages], "subject": [m.subject for m in messages],
        "body": [m.body for m in messages]})
    con.register("_workbench_attempts", attempts)
    try:
        con.execute(
            f"""
            insert into {LEDGER} (key, user_id, email, campaign, period, channel, status,
                                  attempts, last_error, subject, body, first_attempt_at,
                                  sent_at, run_id)
            select key, user_id, email, campaign, period, ?, 'failed', 1, ?, subject, body,
                   ?, null, ?
            from _workbench_attempts
            on conflict (key) do update set
                email = excluded.email, channel = excluded.channel, status = 'failed',
                attempts = attempts + 1, last_error = excluded.last_error,
                subject = excluded.subject, body = excluded.body, run_id = excluded.run_id
            """, [channel, INTERRUPTED, now, run_id])
    finally:
        con.unregister("_workbench_attempts")


def _record_sent(con: duckdb.DuckDBPyConnection, keys: list[str]) -> None:
    if keys:
        con.execute(f"update {LEDGER} set status = 'sent', last_error = null, sent_at = ? "
                    f"where key in (select unnest(?::varchar[]))", [utc_now(), keys])


def _record_failure(con: duckdb.DuckDBPyConnection, key: str, error: str) -> None:
    con.execute(f"update {LEDGER} set last_error = ? where key = ?", [error[:2000], key])

