"""Deterministic sample data for a made-up software company.

The company sells a data tool. Its users sign up (``users``), use the product's features
(``events``), talk in a community chat (``community_messages``) and pay invoices (``invoices``).
:func:`generate` writes those four sources as landing files, the way they would arrive from the
product database, the analytics pipeline, a Slack export and the billing system:

```
data/landing/users/users-2026-05.csv ...          one CSV of sign-ups per month, a bit messy
data/landing/events/2026-05.parquet ...           one Parquet file per month
data/landing/community_messages/2026-05.jsonl ... newline-delimited JSON, like a Slack export
data/landing/invoices/2026-05.csv ...             one CSV per month
data/labeled/community_messages_labeled.jsonl     true label of each message, kept out of landing
```

Example:
    >>> from pathlib import Path
    >>> written = generate(Path("."), scale=0.01)       # doctest: +SKIP
    >>> sorted(written)                                  # doctest: +SKIP
    ['community_messages', 'events', 'invoices', 'labeled', 'users']

The data is synthetic but shaped like the real thing, so that models, tests and notebooks have
something to find: growth month over month, skewed feature popularity, features that most users
never touch, chat questions that go unanswered, dirty CSV values, re-exported users, and so on.

Guarantees:
    * Deterministic: the same ``(scale, seed)`` gives byte-identical files on the same library
      versions (no wall clock anywhere, Parquet written without timestamps or Arrow metadata).
    * Raw files are sacred: an existing file is never overwritten, so running twice is a no-op.
    * Linear in ``scale`` and vectorised: scale 100 (10M events, 1M messages) runs in well under a
      minute and about 1 GB of memory.

The product's features are defined once, in :data:`FEATURES`; the dbt seed
``dbt/seeds/features.csv`` is :func:`features_csv` written out, and a test checks they agree.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..labels import LABELS
from .chat import make_messages, write_labeled, write_messages
from .company import (
    BASE_SIZES,
    CHANNELS,
    FEATURE_KEYS,
    FEATURES,
    LABELED_PATH,
    MIN_SIZES,
    MONTHS,
    SOURCES,
    Feature,
)
from .events import write_events
from .invoices import write_invoices
from .users import make_users, write_users

__all__ = [
    "CHANNELS",
    "FEATURES",
    "FEATURE_KEYS",
    "LABELED_PATH",
    "LABELS",
    "MONTHS",
    "SOURCES",
    "Feature",
    "features_csv",
    "generate",
    "planned_sizes",
]


def features_csv() -> str:
    """The text of the ``features`` dbt seed (``dbt/seeds/features.csv``)."""
    lines = ["feature_key,feature_name,category,released_at"]
    lines += [f"{f.key},{f.name},{f.category},{f.released_at}" for f in FEATURES]
    return "\n".join(lines) + "\n"


def planned_sizes(scale: float = 1.0) -> dict[str, int]:
    """Rows per source at ``scale`` (exact, except users: re-exported rows come on top)."""
    if not scale > 0:
        raise ValueError(f"scale must be positive, got {scale!r}")
    return {k: max(MIN_SIZES[k], round(n * scale)) for k, n in BASE_SIZES.items()}


def generate(root: Path, scale: float = 1.0, seed: int = 42) -> dict[str, list[Path]]:
    """Write the sample company's landing files under ``root/data/landing/<source>/``.

    Args:
        root: the project root; files go to ``root/data/landing`` and ``root/data/labeled``.
        scale: 1.0 gives 1,000 users, 100,000 events, 10,000 messages and 5,000 invoices;
            sizes are linear in scale, with a small floor so that 0.01 still gives every month data.
        seed: the random seed; the same (scale, seed) always gives the same bytes.

    Returns:
        The files written, per source (``users``, ``events``, ``community_messages``,
        ``invoices``), plus ``labeled`` for the answer key. Files that already existed are left
        untouched and not listed, so a second call returns empty lists.
    """
    root = Path(root)
    sizes = planned_sizes(scale)
    landing = root / "data" / "landing"
    # One independent stream per source: changing how one source is drawn leaves the others alone.
    rngs = {name: np.random.default_rng([seed, i]) for i, name in enumerate(SOURCES)}

    users = make_users(rngs["users"], sizes["users"])
    written: dict[str, list[Path]] = {name: [] for name in (*SOURCES, "labeled")}
    written["users"] = write_users(users, landing / "users")
    written["events"] = write_events(rngs["events"], users, sizes["events"], landing / "events")
    messages = make_messages(rngs["community_messages"], users, sizes["community_messages"])
    written["community_messages"] = write_messages(messages, landing / "community_messages")
    written["labeled"] = write_labeled(rngs["community_messages"], messages, root / LABELED_PATH)
    written["invoices"] = write_invoices(
        rngs["invoices"], users, sizes["invoices"], landing / "invoices"
    )
    return written
