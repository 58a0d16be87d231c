"""Community messages: a Slack-like export, one JSON-lines file per month, with threads,
and the answer key of their true labels kept apart under data/labeled/."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from string import Formatter
from typing import NamedTuple

import numpy as np

from ..labels import LABELS
from .chat_text import ANSWERS, FILL, FOLLOW_UPS, TEMPLATES
from .company import CHANNELS, END_US, FEATURES, US, after_signup
from .files import iso, month_slices, write_text
from .users import Users

LABELED_MAX = 10_000  # all messages up to scale 1, then a fixed sample of this size

_LABEL_P = (0.32, 0.15, 0.13, 0.10, 0.30)  # question, feedback, bug, praise, other
# Where each kind of message tends to be posted (columns follow CHANNELS).
_CHANNEL_P = {
    "question": (0.60, 0.12, 0.0, 0.28, 0.0),
    "feedback": (0.0, 0.25, 0.75, 0.0, 0.0),
    "bug": (0.65, 0.05, 0.15, 0.15, 0.0),
    "praise": (0.0, 0.45, 0.25, 0.0, 0.30),
    "other": (0.0, 0.65, 0.0, 0.05, 0.30),
}
_TOP_LEVEL_SHARE = 0.65  # the rest of the messages are replies in threads
_ANSWERED_SHARE = 0.70  # of questions that get at least one reply


class Messages(NamedTuple):
    ts_us: np.ndarray  # int64, strictly increasing: a Slack ts is unique per channel, ours globally
    user_id: np.ndarray
    channel: np.ndarray  # index into CHANNELS
    parent: np.ndarray  # row of the parent message, -1 for top-level
    label: np.ndarray  # index into LABELS
    text: list[str]


def _render(rng: np.random.Generator, templates: Sequence[str], n: int) -> list[str]:
    """n texts: a random template each, its slots filled with random fillers."""
    pools = {**FILL, "feat": tuple(f.mention for f in FEATURES)}
    which = rng.integers(len(templates), size=n)
    out: list[str] = [""] * n
    for t, template in enumerate(templates):
        rows = np.flatnonzero(which == t)
        slots = [name for _, name, _, _ in Formatter().parse(template) if name]
        columns = [
            np.asarray(pools[s], dtype=object)[rng.integers(len(pools[s]), size=len(rows))]
            for s in slots
        ]
        values_per_row = zip(*columns, strict=True) if slots else ((),) * len(rows)
        for row, values in zip(rows, values_per_row, strict=True):
            out[row] = template.format(**dict(zip(slots, values, strict=True)))
    return out


def make_messages(rng: np.random.Generator, u: Users, n: int) -> Messages:
    n_users = len(u.user_id)
    n_top = max(1, round(n * _TOP_LEVEL_SHARE))
    n_replies = n - n_top

    # Top-level posts: a few chatty members post most of them, some time after signing up.
    label = rng.choice(len(LABELS), size=n_top, p=_LABEL_P)
    chattiness = (rng.pareto(1.5, size=n_users) + 0.1) * (END_US - u.signed_up_us)
    author = rng.choice(n_users, size=n_top, p=chattiness / chattiness.sum())
    ts = after_signup(rng, u.signed_up_us, author)
    channel = np.empty(n_top, dtype=np.int64)
    text: list[str] = [""] * n_top
    for k, name in enumerate(LABELS):
        rows = np.flatnonzero(label == k)
        channel[rows] = rng.choice(len(CHANNELS), size=len(rows), p=_CHANNEL_P[name])
        for row, t in zip(rows, _render(rng, TEMPLATES[name], len(rows)), strict=True):
            text[row] = t

    # Replies: ~70% of questions get one or more; the remaining replies go to random questions
    # that were answered (long threads) and to bug reports ("+1, same here").
    questions = rng.permutation(np.flatnonzero(label == LABELS.index("question")))
    answered = questions[: min(round(len(questions) * _ANSWERED_SHARE), n_replies)]
    extra = n_replies - len(answered)
    others = np.flatnonzero(label == LABELS.index("bug"))
    pool = np.concatenate([answered, others]) if len(others) else answered
    if len(pool) == 0:
        pool = np.arange(n_top)
    parent = np.concatenate([answered, rng.choice(pool, size=extra)]).astype(np.int64)
    # Delay: median about 40 minutes, a long tail of days, never past the end of the data.
    delay = (rng.lognormal(np.log(40 * 60), 1.6, size=n_replies) * US).astype(np.int64) + 5 * US
    reply_ts = ts[parent] + np.minimum(delay, (END_US - 1 - ts[parent]) // 2)
    # Repliers: anyone signed up by then; a third of the time one of the early "champions".
    signed_up_by = np.searchsorted(u.signed_up_us, reply_ts, side="right")
    champions = np.minimum(signed_up_by, max(1, n_users // 100))
    pick_from = np.where(rng.random(n_replies) < 0.35, champions, signed_up_by)
    replier = np.floor(rng.random(n_replies) * pick_from).astype(np.int64)

    all_ts = np.concatenate([ts, reply_ts])
    all_user = np.concatenate([author, replier])
    all_channel = np.concatenate([channel, channel[parent]])
    all_parent = np.concatenate([np.full(n_top, -1), parent])
    all_label = np.concatenate([label, np.full(n_replies, LABELS.index("other"))])
    all_text = text + [""] * n_replies
    to_bug = label[parent] == LABELS.index("bug")
    for templates, rows in (
        (ANSWERS, np.flatnonzero(~to_bug)),
        (FOLLOW_UPS, np.flatnonzero(to_bug)),
    ):
        for row, t in zip(rows, _render(rng, templates, len(rows)), strict=True):
            all_text[n_top + row] = t

    # Sort by time and make timestamps strictly increasing (they are the message ids).
    order = np.argsort(all_ts, kind="stable")
    ts_sorted = all_ts[order]
    steps = np.arange(n, dtype=np.int64)
    ts_sorted = np.maximum.accumulate(ts_sorted - steps) + steps
    new_row = np.empty(n, dtype=np.int64)
    new_row[order] = steps
    parent_sorted = all_parent[order]
    parent_sorted = np.where(parent_sorted >= 0, new_row[np.maximum(parent_sorted, 0)], -1)
    # A reply is always later than its parent, so parents still come first after sorting.
    return Messages(
        ts_us=ts_sorted,
        user_id=u.user_id[all_user[order]],
        channel=all_channel[order],
        parent=parent_sorted,
        label=all_label[order],
        text=[all_text[i] for i in order],
    )


def _message_ids(ts_us: np.ndarray) -> list[str]:
    """Slack-style ids: seconds since the epoch, a dot, six digits of microseconds."""
    seconds, micros = (ts_us // US).tolist(), (ts_us % US).tolist()
    return [f"{s}.{us:06d}" for s, us in zip(seconds, micros, strict=True)]


def write_messages(msgs: Messages, folder: Path) -> list[Path]:
    ids = _message_ids(msgs.ts_us)
    times = iso(msgs.ts_us, unit="us", sep="T").tolist()
    users = msgs.user_id.tolist()
    written = []
    for month, s in month_slices(msgs.ts_us):
        lines = []
        for i in range(s.start, s.stop):
            p = int(msgs.parent[i])
            thread = f'"{ids[p]}"' if p >= 0 else "null"
            lines.append(
                f'{{"message_id": "{ids[i]}", "channel": "{CHANNELS[msgs.channel[i]]}", '
                f'"user_id": {users[i]}, "ts": "{times[i]}", "thread_id": {thread}, '
                f'"text": {json.dumps(msgs.text[i], ensure_ascii=False)}}}\n'
            )
        path = folder / f"{month}.jsonl"
        if write_text(path, "".join(lines)):
            written.append(path)
    return written


def write_labeled(rng: np.random.Generator, msgs: Messages, path: Path) -> list[Path]:
    n = len(msgs.text)
    if n <= LABELED_MAX:
        rows = np.arange(n)
    else:
        rows = np.sort(rng.choice(n, size=LABELED_MAX, replace=False))
    ids = _message_ids(msgs.ts_us[rows])
    records = (
        {"message_id": mid, "text": msgs.text[r], "label": LABELS[msgs.label[r]]}
        for mid, r in zip(ids, rows.tolist(), strict=True)
    )
    lines = [json.dumps(record, ensure_ascii=False) + "\n" for record in records]
    return [path] if write_text(path, "".join(lines)) else []
