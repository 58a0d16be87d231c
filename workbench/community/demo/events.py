"""Events: product usage, one Parquet file per month, skewed towards popular features."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa

from .company import END_US, EVENT_TYPES, FEATURE_KEYS, FEATURES, after_signup
from .files import month_slices, write_new, write_parquet
from .users import Users


def write_events(rng: np.random.Generator, u: Users, n: int, folder: Path) -> list[Path]:
    n_users = len(u.user_id)
    # A few power users produce most events; weight by the time each user has had the product.
    activity = rng.lognormal(0.0, 1.2, size=n_users) * (END_US - u.signed_up_us)
    owner = rng.choice(n_users, size=n, p=activity / activity.sum())
    occurred = after_signup(rng, u.signed_up_us, owner)

    # Breadth: how far down the popularity list each user goes. Most stop at the first few
    # features, so the features at the bottom are used by few users.
    breadth = 1 + rng.binomial(len(FEATURES) - 1, rng.beta(1.6, 4.0, size=n_users))
    rank = np.floor(breadth[owner] * rng.random(n) ** 2.2).astype(np.int8)
    del breadth
    released = np.array([np.datetime64(f.released_at, "us").astype(np.int64) for f in FEATURES])
    rank[occurred < released[rank]] = 0  # nobody uses a feature before its release

    event_type = rng.choice(len(EVENT_TYPES), size=n, p=[0.55, 0.25, 0.15, 0.05]).astype(np.int8)
    exports = rank == FEATURE_KEYS.index("exports")
    event_type[exports & (rng.random(n) < 0.7)] = EVENT_TYPES.index("export")
    del exports

    # Sorted by time, numbered in that order, so ids are unique across the monthly files.
    order = np.argsort(occurred, kind="stable")
    occurred, owner, rank, event_type = (
        occurred[order],
        owner[order],
        rank[order],
        event_type[order],
    )
    del order
    features = pa.array(FEATURE_KEYS, pa.string())
    event_types = pa.array(EVENT_TYPES, pa.string())
    written = []
    for month, s in month_slices(occurred):
        table = pa.table(
            {
                "event_id": pa.array(np.arange(s.start + 1, s.stop + 1, dtype=np.int64)),
                "user_id": pa.array(u.user_id[owner[s]]),
                # Dictionary-encoded in memory and on disk; readers see plain strings.
                "feature": pa.DictionaryArray.from_arrays(pa.array(rank[s]), features),
                "event_type": pa.DictionaryArray.from_arrays(pa.array(event_type[s]), event_types),
                "occurred_at": pa.array(occurred[s], pa.timestamp("us")),
            }
        )
        path = folder / f"{month}.parquet"
        if write_new(path, lambda tmp, t=table: write_parquet(t, tmp)):
            written.append(path)
    return written
