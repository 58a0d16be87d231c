"""The sample company itself: its product's features, its sources and its calendar.

Every timestamp in the generator is int64 microseconds since the epoch (UTC).
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np


class Feature(NamedTuple):
    """One product feature: a row of the ``features`` dbt seed."""

    key: str  # stable identifier, the value of events.feature
    name: str  # display name
    category: str
    released_at: str  # ISO date; no event uses the feature before it
    mention: str  # how people refer to it in chat ("the <mention>")


# Ordered by popularity: events favour features near the top, and most users never reach the
# bottom of the list. Two features are released inside the data's time range, so their usage
# starts mid-way, which a feature-usage chart should show.
FEATURES: tuple[Feature, ...] = (
    Feature("sql_cells", "SQL cells", "editor", "2025-03-01", "SQL cell editor"),
    Feature("notebooks", "Notebooks", "editor", "2025-03-01", "notebook editor"),
    Feature("dashboards", "Dashboards", "visualization", "2025-05-15", "dashboard builder"),
    Feature("exports", "Exports", "sharing", "2025-04-01", "export dialog"),
    Feature("scheduler", "Scheduler", "orchestration", "2025-06-10", "scheduler"),
    Feature("ai_assistant", "AI assistant", "editor", "2026-08-19", "AI assistant"),
    Feature("charts", "Chart builder", "visualization", "2025-05-15", "chart builder"),
    Feature("connectors", "Connectors", "ingestion", "2025-07-01", "connector setup"),
    Feature("python_cells", "Python cells", "editor", "2025-09-22", "Python cell editor"),
    Feature("lineage_view", "Lineage view", "governance", "2025-11-03", "lineage view"),
    Feature("alerts", "Alerts", "orchestration", "2025-12-01", "alerts page"),
    Feature("git_sync", "Git sync", "collaboration", "2026-01-20", "Git sync"),
    Feature("comments", "Comments", "collaboration", "2026-02-16", "comments panel"),
    Feature("data_catalog", "Data catalog", "governance", "2026-04-07", "data catalog"),
    Feature("semantic_layer", "Semantic layer", "modeling", "2026-06-10", "semantic layer"),
    Feature("api_access", "API access", "platform", "2025-10-14", "REST API"),
)
FEATURE_KEYS: tuple[str, ...] = tuple(f.key for f in FEATURES)

SOURCES: tuple[str, ...] = ("users", "events", "community_messages", "invoices")
MONTHS: tuple[str, ...] = ("2026-05", "2026-06", "2026-07", "2026-08", "2026-09", "2026-10")
CHANNELS: tuple[str, ...] = ("help", "general", "feedback", "dbt", "show-and-tell")
PLANS: tuple[str, ...] = ("free", "team", "enterprise")
EVENT_TYPES: tuple[str, ...] = ("view", "click", "run", "export")

#: Where the true labels of the chat messages go, relative to the project root. Deliberately not
#: under data/landing: it is an answer key for a classifier, not a source of the warehouse.
LABELED_PATH = Path("data") / "labeled" / "community_messages_labeled.jsonl"

# Rows at scale 1, and the floor that keeps tiny scales (0.01 in tests) meaningful.
BASE_SIZES = {"users": 1_000, "events": 100_000, "community_messages": 10_000, "invoices": 5_000}
MIN_SIZES = {"users": 10, "events": 1_000, "community_messages": 100, "invoices": 50}

US = 1_000_000  # microseconds per second; every timestamp below is int64 microseconds (UTC)
DAY_US = 86_400 * US
MONTH_BOUNDS_US = np.array(
    [np.datetime64(f"{m}-01", "us").astype(np.int64) for m in (*MONTHS, "2026-11")],
    dtype=np.int64,
)
END_US = int(MONTH_BOUNDS_US[-1])


def after_signup(
    rng: np.random.Generator, signed_up_us: np.ndarray, owner: np.ndarray
) -> np.ndarray:
    """A uniform time between each owner's sign-up and the end of the data."""
    start = signed_up_us[owner] + 60 * US  # nobody does anything in their first minute
    return start + (rng.random(len(owner)) * (END_US - start)).astype(np.int64)
