"""The ``personalized_messages`` action: one message per candidate, sent at most once.

It reads the ``recommendation_candidates`` mart (user_id, email, name, plan, campaign,
feature_key, feature_name, question_text, period), renders each row with the Jinja template
``<campaign>.txt.j2`` and hands the message to a delivery backend (``delivery`` option:
``outbox`` by default, or ``smtp``; see ``workbench.delivery``).

**Idempotence.** A message's key is ``user_id:campaign:period``. The core's delivery ledger
(``workbench.delivery.ledger``, table ``_delivery.deliveries``) holds one row per key and is
written as each delivery happens. A key whose row says ``sent`` is never sent again, whatever
the channel; any other due key is sent (again) on every run while the mart still lists it.
Across kills, outbox delivery is exactly once and SMTP sends at most one e-mail twice per
kill (the ledger's docstring says how).
The mart decides *who* should get a message (a question answered since drops out), the
ledger remembers *what was sent*.

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

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import duckdb
import jinja2

from ..delivery import Message, deliver, make_delivery, statuses
from ..delivery.ledger import LEDGER, LEDGER_SQL
from ..errors import ConfigError
from ..steps import StepContext, StepReport

__all__ = ["personalized_messages", "render_messages", "message_key", "LEDGER", "LEDGER_SQL"]

TEMPLATES = Path(__file__).with_name("templates")
DEFAULT_INPUT = "recommendation_candidates"
REQUIRED_COLUMNS = ("user_id", "email", "name", "campaign", "period")
_SUBJECT = re.compile(r"\ASubject:[ \t]*(?P<subject>[^\n]*)\n(?P<body>.*)\Z", re.S)


def message_key(user_id: int, campaign: str, period: str) -> str:
    """The idempotence key of a message: one per user, campaign and period."""
    return f"{user_id}:{campaign}:{period}"


def personalized_messages(ctx: StepContext) -> StepReport:
    """Render and deliver one message per candidate not yet sent; see the module docstring.

    Example, in a notebook, to preview without sending::

        report = personalized_messages(StepContext(..., dry_run=True))
        report.frame        # key, email, subject, body, already_sent
    """
    relation = _input_relation(ctx)
    rows, skipped, duplicates = _read_candidates(ctx.con, relation)
    environment = template_environment(ctx.root, ctx.options.get("templates_dir"))
    status = statuses(ctx.con)
    if not ctx.dry_run:   # render only what is due: a re-run has thousands already sent
        sent_keys = {k for k, v in status.items() if v == "sent"}
        already_rows = [r for r in rows if r["key"] in sent_keys]
        rows = [r for r in rows if r["key"] not in sent_keys]
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

    done = deliver(ctx.con, delivery, due, run_id=ctx.run_id, log=ctx.log, name=ctx.name)
    already_sent = len(already) + done.recovered     # recovered: a killed run's, settled now
    parts = [f"{done.sent} sent", f"{done.failed} failed (will retry)",
             f"{already_sent} already sent"]
    if done.unavailable is not None:
        parts.append(f"{done.not_attempted} not attempted ({delivery.channel} unavailable: "
                     f"{done.unavailable})")
    if skipped:
        parts.append(f"{skipped} skipped (no user_id, campaign, period or email)")
    return StepReport(
        rows=done.sent, message=", ".join(parts) + f" via {delivery.channel}",
        metrics={"sent": done.sent, "failed": done.failed, "already_sent": already_sent,
                 "not_attempted": done.not_attempted, "skipped": skipped,
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
