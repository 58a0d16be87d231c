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

import csv
import io
import json
import os
import unicodedata
from collections.abc import Callable, Sequence
from pathlib import Path
from string import Formatter
from typing import NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

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
LABELS: tuple[str, ...] = ("question", "feedback", "bug", "praise", "other")
CHANNELS: tuple[str, ...] = ("help", "general", "feedback", "dbt", "show-and-tell")
PLANS: tuple[str, ...] = ("free", "team", "enterprise")
EVENT_TYPES: tuple[str, ...] = ("view", "click", "run", "export")

#: Where the true labels of the chat messages go, relative to the project root. Deliberately not
#: under data/landing: it is an answer key for a classifier, not a source of the warehouse.
LABELED_PATH = Path("data") / "labeled" / "community_messages_labeled.jsonl"

# Rows at scale 1, and the floor that keeps tiny scales (0.01 in tests) meaningful.
_BASE_SIZES = {"users": 1_000, "events": 100_000, "community_messages": 10_000, "invoices": 5_000}
_MIN_SIZES = {"users": 10, "events": 1_000, "community_messages": 100, "invoices": 50}
_LABELED_MAX = 10_000  # all messages up to scale 1, then a fixed sample of this size

_US = 1_000_000  # microseconds per second; every timestamp below is int64 microseconds (UTC)
_DAY_US = 86_400 * _US
_MONTH_BOUNDS_US = np.array(
    [np.datetime64(f"{m}-01", "us").astype(np.int64) for m in (*MONTHS, "2026-11")],
    dtype=np.int64,
)
_START_US, _END_US = int(_MONTH_BOUNDS_US[0]), int(_MONTH_BOUNDS_US[-1])


def features_csv() -> str:
    """The text of the ``features`` dbt seed (``dbt/seeds/features.csv``)."""
    lines = ["feature_key,feature_name,category,released_at"]
    lines += [f"{f.key},{f.name},{f.category},{f.released_at}" for f in FEATURES]
    return "\n".join(lines) + "\n"


def planned_sizes(scale: float = 1.0) -> dict[str, int]:
    """Rows per source at ``scale`` (exact, except users: re-exported rows come on top)."""
    if not scale > 0:
        raise ValueError(f"scale must be positive, got {scale!r}")
    return {k: max(_MIN_SIZES[k], round(n * scale)) for k, n in _BASE_SIZES.items()}


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

    users = _make_users(rngs["users"], sizes["users"])
    written: dict[str, list[Path]] = {name: [] for name in (*SOURCES, "labeled")}
    written["users"] = _write_users(users, landing / "users")
    written["events"] = _write_events(rngs["events"], users, sizes["events"], landing / "events")
    messages = _make_messages(rngs["community_messages"], users, sizes["community_messages"])
    written["community_messages"] = _write_messages(messages, landing / "community_messages")
    written["labeled"] = _write_labeled(rngs["community_messages"], messages, root / LABELED_PATH)
    written["invoices"] = _write_invoices(
        rngs["invoices"], users, sizes["invoices"], landing / "invoices"
    )
    return written


# --------------------------------------------------------------------------------------------
# Writing files: never overwrite, never leave a half-written file under its final name.


def _write_new(path: Path, write: Callable[[Path], None]) -> bool:
    """Write ``path`` through ``write(tmp)`` unless it exists; True if written.

    The temporary name starts with a dot and has another suffix, so that a watcher globbing
    ``*.parquet`` never picks up a half-written file.
    """
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return True


def _write_text(path: Path, text: str) -> bool:
    return _write_new(path, lambda tmp: tmp.write_text(text, encoding="utf-8", newline=""))


def _month_slices(sorted_us: np.ndarray) -> list[tuple[str, slice]]:
    """(month, slice) for rows already sorted by a timestamp column, skipping empty months.

    No empty files: a file with no rows tells a loader nothing, not even its column types.
    """
    cuts = np.searchsorted(sorted_us, _MONTH_BOUNDS_US)
    return [
        (m, slice(int(cuts[i]), int(cuts[i + 1])))
        for i, m in enumerate(MONTHS)
        if cuts[i + 1] > cuts[i]
    ]


def _iso(us: np.ndarray, unit: str = "s", sep: str = " ") -> np.ndarray:
    """Format int64 microsecond timestamps as ISO strings, vectorised."""
    text = np.datetime_as_string(
        us.astype("datetime64[us]").astype(f"datetime64[{unit}]"), unit=unit
    )
    return np.char.replace(text, "T", sep) if sep != "T" and text.size else text


# --------------------------------------------------------------------------------------------
# Users


# fmt: off
_FIRST = (
    "Anna", "Ben", "Chloé", "David", "Emma", "Felix", "Grace", "Hiro", "Isabel", "Jonas", "Kai",
    "Lena", "Mateo", "Nora", "Omar", "Priya", "Quentin", "Rosa", "Sven", "Tara", "Uma", "Victor",
    "Wei", "Ximena", "Yusuf", "Zoë", "Łukasz", "João", "Ana", "Lars", "Amélie", "Sofia", "Ravi",
    "Mia", "Noah", "Olga", "Pablo", "Sara", "Tom", "Ines",
)
_LAST = (
    "Schmidt", "Smith", "García", "Dubois", "Rossi", "Nowak", "Silva", "Müller", "Johnson",
    "Tanaka", "Kim", "Patel", "Larsen", "Fernández", "Martin", "Brown", "Costa", "Weber", "Novak",
    "Jansen", "O'Brien", "Khan", "Nguyen", "Ivanova", "Moreau", "Santos", "Fischer", "Lopez",
    "Andersson", "Wright",
)
# Some company names contain commas on purpose: the CSV must quote them.
_COMPANIES = (
    "Acme Analytics", "Northwind, Inc.", "Globex, LLC", "Initech", "Umbrella Data", "Hooli",
    "Stark Metrics", "Wayne Logistics", "Tyrell Labs", "Cyberdyne Systems", "Soylent, Corp.",
    "Vandelay Industries", "Pied Piper", "Dunder Mifflin", "Blue Harbor Retail",
    "Kestrel Health, GmbH", "Fjord Energy AS", "Sol y Mar S.L.", "Lumière & Fils",
    "Datawise BV", "Tidewater Bank", "Orbital Freight", "Mosaic Media", "Granite Insurance",
    "Helios Solar", "Quokka Games", "Brightside Edu", "Nimbus Cloud, Ltd.", "Atlas Mobility",
    "Papaya Payments",
)
_FREEMAIL = ("gmail.com", "outlook.com", "proton.me", "web.de", "yahoo.com", "icloud.com")
# Namibia ('NA') is left out on purpose: 'NA' means missing in these files.
_COUNTRIES = ("US", "DE", "GB", "FR", "ES", "NL", "BR", "IN", "CA", "PT", "SE", "JP", "AU", "PL",
              "MX")
_COUNTRY_P = (0.28, 0.14, 0.10, 0.07, 0.06, 0.05, 0.06, 0.06, 0.04, 0.03, 0.03, 0.03, 0.02, 0.02,
              0.01)
# Billed in EUR (SE and PL customers too, by their choice).
_EUR = {"DE", "FR", "ES", "NL", "PT", "SE", "PL"}
# fmt: on


class _Users(NamedTuple):
    user_id: np.ndarray  # int64, 1..n in sign-up order
    signed_up_us: np.ndarray  # int64, sorted
    month: np.ndarray  # index into MONTHS of the sign-up file
    plan: np.ndarray  # index into PLANS, as first exported
    final_plan: np.ndarray  # after the upgrades that re-exports carry
    country: np.ndarray  # index into _COUNTRIES, or -1 for missing
    company: np.ndarray  # index into _COMPANIES, or -1 for none
    first: np.ndarray  # index into _FIRST
    last: np.ndarray  # index into _LAST
    email_style: np.ndarray  # 0 lower, 1 Capitalised, 2 UPPER
    email_space: np.ndarray  # bool: surrounded by spaces
    reexport_month: np.ndarray  # month index of a later file that re-exports the user, or -1


def _make_users(rng: np.random.Generator, n: int) -> _Users:
    # A launch spike in May, then steady growth; every month gets at least one sign-up.
    growth = np.array([2.0, 0.9, 1.0, 1.1, 1.25, 1.4])
    per_month = np.maximum(1, np.floor(n * growth / growth.sum())).astype(np.int64)
    per_month[-1] += n - per_month.sum()  # exact total; the last month absorbs the rounding
    if per_month[-1] < 1:  # only at absurdly small n; keep every month non-empty
        per_month = np.ones(len(MONTHS), dtype=np.int64)
        n = len(MONTHS)
    month = np.repeat(np.arange(len(MONTHS)), per_month)
    span = np.diff(_MONTH_BOUNDS_US)[month]
    # Whole seconds, as a product database would export them.
    signed_up = _MONTH_BOUNDS_US[month] + (rng.random(n) * (span // _US)).astype(np.int64) * _US
    order = np.lexsort((signed_up, month))
    signed_up, month = signed_up[order], month[order]

    plan = rng.choice(len(PLANS), size=n, p=[0.62, 0.28, 0.10])
    if not (plan > 0).any():
        plan[0] = 1  # at least one paying customer, so there are invoices at tiny scales
    company = rng.integers(len(_COMPANIES), size=n)
    company[(plan == 0) & (rng.random(n) < 0.7)] = -1  # most free users sign up privately
    company[rng.random(n) < 0.03] = -1
    country = rng.choice(len(_COUNTRIES), size=n, p=np.array(_COUNTRY_P) / sum(_COUNTRY_P))
    country[rng.random(n) < 0.04] = -1

    # About 2% of users are exported again in a later month's file after upgrading their plan.
    reexport = np.full(n, -1)
    eligible = np.flatnonzero((month < len(MONTHS) - 1) & (plan < len(PLANS) - 1))
    chosen = eligible[rng.random(len(eligible)) < 0.02]
    if len(chosen) == 0 and len(eligible):
        chosen = eligible[:1]
    reexport[chosen] = rng.integers(month[chosen] + 1, len(MONTHS))
    final_plan = plan.copy()
    final_plan[chosen] += 1

    return _Users(
        user_id=np.arange(1, n + 1, dtype=np.int64),
        signed_up_us=signed_up,
        month=month,
        plan=plan,
        final_plan=final_plan,
        country=country,
        company=company,
        first=rng.integers(len(_FIRST), size=n),
        last=rng.integers(len(_LAST), size=n),
        email_style=rng.choice(3, size=n, p=[0.6, 0.33, 0.07]),
        email_space=rng.random(n) < 0.08,
        reexport_month=reexport,
    )


def _ascii(s: str) -> str:
    return unicodedata.normalize("NFKD", s).encode("ascii", "ignore").decode().replace("'", "")


def _slug(company: str) -> str:
    base = company.split(",")[0].lower().replace("&", "and")
    return "".join(ch for ch in _ascii(base) if ch.isalnum())


def _user_rows(u: _Users, idx: np.ndarray, plans: np.ndarray) -> list[list[str]]:
    signed_up = _iso(u.signed_up_us[idx])
    rows = []
    for k, i in enumerate(idx):
        first, last = _FIRST[u.first[i]], _LAST[u.last[i]]
        company = _COMPANIES[u.company[i]] if u.company[i] >= 0 else None
        local = f"{_ascii(first)}.{_ascii(last)}"
        if company is None:
            email = f"{local}{u.user_id[i] % 997}@{_FREEMAIL[u.user_id[i] % len(_FREEMAIL)]}"
        else:
            tld = (".com", ".io", ".de", ".co.uk")[u.user_id[i] % 4]
            email = f"{local}@{_slug(company)}{tld}"
        email = (email.lower(), email, email.upper())[u.email_style[i]]
        if u.email_space[i]:
            email = f" {email} "  # as pasted into a sign-up form
        rows.append(
            [
                str(u.user_id[i]),
                email,
                f"{first} {last}",
                company or "NA",
                _COUNTRIES[u.country[i]] if u.country[i] >= 0 else "NA",
                PLANS[plans[k]],
                str(signed_up[k]),
            ]
        )
    return rows


def _write_users(u: _Users, folder: Path) -> list[Path]:
    written = []
    for m, month in enumerate(MONTHS):
        new = np.flatnonzero(u.month == m)
        again = np.flatnonzero(u.reexport_month == m)
        rows = _user_rows(u, new, u.plan[new]) + _user_rows(u, again, u.final_plan[again])
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["user_id", "email", "name", "company", "country", "plan", "signed_up_at"])
        for r, row in enumerate(rows):
            writer.writerow(row)
            if r % 97 == 41:  # a few stray blank lines, as hand-edited exports have
                buf.write("\n")
        buf.write("\n")
        if _write_text(folder / f"users-{month}.csv", buf.getvalue()):
            written.append(folder / f"users-{month}.csv")
    return written


# --------------------------------------------------------------------------------------------
# Events


def _after_signup(
    rng: np.random.Generator, signed_up_us: np.ndarray, owner: np.ndarray
) -> np.ndarray:
    """A uniform time between each owner's sign-up and the end of the data."""
    start = signed_up_us[owner] + 60 * _US  # nobody does anything in their first minute
    return start + (rng.random(len(owner)) * (_END_US - start)).astype(np.int64)


def _write_events(rng: np.random.Generator, u: _Users, n: int, folder: Path) -> list[Path]:
    n_users = len(u.user_id)
    # A few power users produce most events; weight by the time each user has had the product.
    activity = rng.lognormal(0.0, 1.2, size=n_users) * (_END_US - u.signed_up_us)
    owner = rng.choice(n_users, size=n, p=activity / activity.sum())
    occurred = _after_signup(rng, u.signed_up_us, owner)

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
    for month, s in _month_slices(occurred):
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
        if _write_new(path, lambda tmp, t=table: _write_parquet(t, tmp)):
            written.append(path)
    return written


def _write_parquet(table: pa.Table, path: Path) -> None:
    # store_schema=False: no Arrow schema blob in the footer, so readers see plain Parquet types
    # (VARCHAR, not a dictionary type) and the bytes depend only on the data and pyarrow version.
    pq.write_table(table, path, compression="zstd", store_schema=False, row_group_size=1 << 20)


# --------------------------------------------------------------------------------------------
# Community messages: built from templates x fillers, each template carrying its true label.

# fmt: off
_FILL: dict[str, tuple[str, ...]] = {
    "task": (
        "make an incremental model only process new partitions",
        "pass a parameter from the scheduler into a SQL cell",
        "share a dashboard with someone outside my workspace",
        "load a whole folder of parquet files at once",
        "test that a column is never null",
        "backfill three months of data without re-running everything",
        "connect to a Postgres replica over SSH",
        "read a CSV that uses semicolons as separators",
        "pin the dbt version for the whole team",
        "rename a model without breaking everything downstream",
        "snapshot a slowly changing dimension",
        "reuse the same CTE in two models",
        "get the run history as a table",
        "export a query result straight to S3",
        "set different warehouses for dev and prod",
        "deduplicate events that arrive twice",
        "trigger a run when a new file lands",
        "limit a notebook to a sample while developing",
        "document the columns of a source",
        "compare two versions of a model before merging",
    ),
    "capability": (
        "run on a cron schedule", "read from S3 directly", "handle 50M rows",
        "show column-level lineage", "send alerts to Slack", "export to Excel",
        "be embedded in our intranet", "work offline",
        "use a service account", "filter by a date parameter",
    ),
    "code": (
        "`select * from read_parquet('data/*.parquet')`",
        "`{{ config(materialized='incremental', unique_key='id') }}`",
        "`dbt build --select state:modified+`",
        '`wb.table("user_engagement")`',
        "`COPY events TO 'out.parquet' (FORMAT parquet)`",
        "`where occurred_at >= (select max(day) from {{ this }})`",
        "`qualify row_number() over (partition by user_id order by _loaded_at desc) = 1`",
        "`pip install -U workbench`",
        "`SET threads = 4;`",
        "`{% if is_incremental() %}`",
        "`df.groupby('feature').size()`",
        "`ATTACH 'warehouse.duckdb' (READ_ONLY)`",
    ),
    "err": (
        "IOException: Could not set lock on file",
        "Catalog Error: Table with name events does not exist!",
        'Binder Error: Referenced column "user_id" not found',
        "Out of Memory Error: failed to allocate data of size 2.0 GiB",
        "Conversion Error: Could not convert string 'NA' to INT32",
        'Parser Error: syntax error at or near "qualify"',
        "504 Gateway Timeout",
        "Compilation Error in model stg_orders",
        "PermissionError: [Errno 13] Permission denied: 'warehouse.duckdb.wal'",
        "KeyError: 'feature_key'",
        "TimeoutError: run exceeded 3600 seconds",
        "Invalid Input Error: CSV Error on Line: 4512",
    ),
    "action": (
        "running two jobs at the same time", "refreshing the dashboard", "exporting to CSV",
        "opening a notebook with 200 cells", "scheduling a run every 5 minutes",
        "loading a 3 GB parquet file", "switching branches in Git sync", "sharing a chart link",
        "running dbt build from the notebook", "connecting to Snowflake",
    ),
    "symptom": (
        "freezes", "shows an empty graph", "loses my last edit", "times out",
        "shows the wrong timezone",
        "duplicates every row", "spins forever", "renders blank in Firefox", "ignores my filter",
        "crashes the tab",
    ),
    "trigger": (
        "the latest update", "I renamed a model", "reconnecting", "a long idle",
        "switching workspaces",
        "adding a second source", "an upgrade to 2.3",
    ),
    "wish": (
        "a dark mode", "keyboard shortcuts", "an option to export as PNG",
        "a way to pin favourites",
        "column search", "version history", "bulk edit", "a compact view", "better error messages",
        "a CLI for it", "an undo button", "templates to start from",
    ),
    "complaint": (
        "it gets slow past a few thousand rows", "the colours are hard to read",
        "the settings are buried three menus deep", "it forgets my layout", "the docs are thin",
    ),
    "workaround": (
        "copy the SQL by hand", "export to CSV and open Excel", "take screenshots",
        "run a cron job on my laptop", "ask an admin every time",
    ),
    "adj": (
        "fantastic", "a game changer", "so much faster", "really polished",
        "exactly what we needed",
    ),
    "emoji": ("", "", "", " 🎉", " 🙏", " 🚀", " 😅", " 👍", " ❤️", " 🔥", " 🤔", " 😍", " :tada:"),
    "tool": (
        "dbt", "DuckDB", "Airflow", "Spark", "Postgres", "Snowflake", "BigQuery", "Excel", "Looker",
        "pandas",
    ),
    "event": (
        "Coalesce", "PyData Berlin", "the DuckDB meetup", "Data Council",
        "the community call on Thursday",
    ),
    "city": ("Berlin", "Lisbon", "Austin", "Bangalore", "Toronto", "Madrid", "Lyon", "São Paulo",
             "Leeds"),
    "domain": ("marketing", "fintech", "healthcare", "logistics", "e-commerce", "gaming",
               "climate"),
    "topic": ("incremental models in DuckDB", "testing dbt sources", "our move off Airflow",
              "cost per query", "data contracts", "notebooks in CI"),
    "til": ("DuckDB can read Excel files", "you can ATTACH a SQLite file", "dbt has a --empty flag",
            "QUALIFY works in DuckDB", "the scheduler supports cron syntax"),
    "hour": ("9", "14", "16", "17"),
    "de_task": ("nur neue Partitionen lädt", "einen Parameter übergibt",
                "einen täglichen Lauf plant", "Ergebnisse als CSV exportiert"),
    "es_task": ("filtrar por fecha", "programar una ejecución diaria",
                "exportar los resultados a Excel", "cargar archivos parquet"),
    "fr_task": ("charger plusieurs fichiers CSV", "planifier un job chaque nuit",
                "partager un tableau de bord", "tester une colonne"),
    "pt_task": ("agendar uma execução diária", "exportar para parquet", "conectar ao Postgres",
                "carregar só as partições novas"),
    "de_wish": ("einen Dark Mode", "Tastenkürzel", "einen PNG-Export", "eine Versionshistorie"),
    "es_wish": ("modo oscuro", "atajos de teclado", "exportar a PNG", "historial de versiones"),
    "fr_wish": ("un mode sombre", "des raccourcis clavier", "un export PNG",
                "un historique des versions"),
    "pt_wish": ("modo escuro", "atalhos de teclado", "exportação para PNG", "histórico de versões"),
}

_TEMPLATES: dict[str, tuple[str, ...]] = {
    "question": (
        "How do I {task}?",
        "How do I {task}? Tried {code} but no luck{emoji}",
        "Is there a way to {task} with the {feat}?",
        "What's the recommended way to {task}?",
        "Can the {feat} {capability}?",
        "Does anyone know how to {task}?",
        "Quick question: can I {task} from the {feat}?",
        "Why does {code} return fewer rows in the {feat} than in {tool}?",
        "Any tips on how to {task}? We come from {tool}{emoji}",
        "hey all, what's the best way to {task}",
        "I'm trying to figure out how to {task}, any pointers appreciated{emoji}",
        "Need help: {task} in the {feat}",
        "Is it possible to {task} when using {tool}?",
        "Weiß jemand, wie man im {feat} {de_task}?",
        "¿Cómo puedo {es_task} en el {feat}?",
        "Comment faire pour {fr_task} avec le {feat} ?",
        "Alguém sabe como {pt_task} no {feat}?",
    ),
    "feedback": (
        "Would love {wish} for the {feat}",
        "It would be great if the {feat} could {capability}.",
        "Feature request: {wish} in the {feat}{emoji}",
        "Suggestion: {wish} for the {feat}. Right now I have to {workaround}.",
        "The {feat} is nice but {complaint}.",
        "+1 for {wish} in the {feat}",
        "Any plans for {wish} in the {feat}? We'd use it daily.",
        "Small thing: the {feat} would be much better with {wish}",
        "We evaluated you against {tool} and the only gap was that the {feat} can't {capability}.",
        "Wäre super, wenn der {feat} {de_wish} hätte.",
        "Sería genial tener {es_wish} en el {feat}.",
        "Ce serait top d'avoir {fr_wish} dans le {feat}.",
        "Seria ótimo ter {pt_wish} no {feat}.",
    ),
    "bug": (
        "Getting `{err}` when {action}",
        "Getting `{err}` when {action}. Any idea?",
        "Bug: the {feat} {symptom} after {trigger}",
        "Since {trigger} the {feat} {symptom}{emoji}",
        "The {feat} fails with `{err}` when {action}",
        "Is it just me, or is the {feat} broken? It {symptom} every time.",
        "Repro: {code} then {action} -> `{err}`",
        "Seeing `{err}` in the {feat} since {trigger}, full log in thread",
        "Seit dem Update: `{err}` beim Öffnen vom {feat}.",
        "Error `{err}` al usar el {feat}.",
        "J'ai l'erreur `{err}` dans le {feat} depuis {trigger}.",
        "Estou recebendo `{err}` no {feat}.",
    ),
    "praise": (
        "The new {feat} is {adj}{emoji}",
        "Just want to say the {feat} saved me hours this week{emoji}",
        "Huge thanks to the team, the {feat} is {adj}!",
        "Switched from {tool} last month and the {feat} alone was worth it{emoji}",
        "Love love love the {feat}{emoji}",
        "Kudos for the {feat} update, {adj}.",
        "Der {feat} ist echt klasse{emoji}",
        "¡Me encanta el {feat}!{emoji}",
        "Le {feat} est génial, merci à l'équipe{emoji}",
        "O {feat} ficou incrível{emoji}",
    ),
    "other": (
        "Good morning everyone{emoji}",
        "Anyone going to {event}?",
        "Hi all, I'm new here, working on {domain} data in {city}{emoji}",
        "Wrote a blog post about {topic}: https://example.com/blog",
        "TIL {til}",
        "Happy Friday!{emoji}",
        "Reminder: office hours today at {hour}:00 UTC",
        "Built a small {domain} dashboard with the {feat} and {tool}, screenshot below{emoji}",
        "Meetup in {city} next week, who's in?",
        "Hallo zusammen, ich bin neu hier{emoji}",
        "¡Hola a todos! Saludos desde {city}",
        "Bonjour à tous, content d'être ici{emoji}",
        "Olá pessoal, alguém de {city} por aqui?",
    ),
}

# Replies are answers or follow-ups: labelled "other", since they neither ask nor judge.
# Questions get answers; bug reports get "me too"s and requests for details.
_ANSWERS: tuple[str, ...] = (
    "You can use {code} for that.",
    "Try {code}, that should do it{emoji}",
    "Check the docs page on the {feat}, there's a section on exactly this.",
    "We do this with {code} in our project, works well.",
    "Thanks, that worked!{emoji}",
    "Not sure, but I think the {feat} doesn't support that yet.",
    "Same question here, following this thread.",
    "Hast du {code} probiert?",
    "Prueba con {code}.",
    "Essaie {code}, ça marche chez moi.",
    "Tenta {code}, aqui funcionou{emoji}",
)
_FOLLOW_UPS: tuple[str, ...] = (
    "+1, same here{emoji}",
    "I had the same problem, upgrading to the latest version fixed it.",
    "Can you share the full error? Which version are you on?",
    "Thanks for the report, we can reproduce it and a fix is on the way{emoji}",
    "Happens to me too when {action}.",
    "Bei mir auch, seit {trigger}.",
)

# fmt: on

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


class _Messages(NamedTuple):
    ts_us: np.ndarray  # int64, strictly increasing: a Slack ts is unique per channel, ours globally
    user_id: np.ndarray
    channel: np.ndarray  # index into CHANNELS
    parent: np.ndarray  # row of the parent message, -1 for top-level
    label: np.ndarray  # index into LABELS
    text: list[str]


def _render(rng: np.random.Generator, templates: Sequence[str], n: int) -> list[str]:
    """n texts: a random template each, its slots filled with random fillers."""
    pools = {**_FILL, "feat": tuple(f.mention for f in FEATURES)}
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


def _make_messages(rng: np.random.Generator, u: _Users, n: int) -> _Messages:
    n_users = len(u.user_id)
    n_top = max(1, round(n * _TOP_LEVEL_SHARE))
    n_replies = n - n_top

    # Top-level posts: a few chatty members post most of them, some time after signing up.
    label = rng.choice(len(LABELS), size=n_top, p=_LABEL_P)
    chattiness = (rng.pareto(1.5, size=n_users) + 0.1) * (_END_US - u.signed_up_us)
    author = rng.choice(n_users, size=n_top, p=chattiness / chattiness.sum())
    ts = _after_signup(rng, u.signed_up_us, author)
    channel = np.empty(n_top, dtype=np.int64)
    text: list[str] = [""] * n_top
    for k, name in enumerate(LABELS):
        rows = np.flatnonzero(label == k)
        channel[rows] = rng.choice(len(CHANNELS), size=len(rows), p=_CHANNEL_P[name])
        for row, t in zip(rows, _render(rng, _TEMPLATES[name], len(rows)), strict=True):
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
    delay = (rng.lognormal(np.log(40 * 60), 1.6, size=n_replies) * _US).astype(np.int64) + 5 * _US
    reply_ts = ts[parent] + np.minimum(delay, (_END_US - 1 - ts[parent]) // 2)
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
        (_ANSWERS, np.flatnonzero(~to_bug)),
        (_FOLLOW_UPS, np.flatnonzero(to_bug)),
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
    return _Messages(
        ts_us=ts_sorted,
        user_id=u.user_id[all_user[order]],
        channel=all_channel[order],
        parent=parent_sorted,
        label=all_label[order],
        text=[all_text[i] for i in order],
    )


def _message_ids(ts_us: np.ndarray) -> list[str]:
    """Slack-style ids: seconds since the epoch, a dot, six digits of microseconds."""
    seconds, micros = (ts_us // _US).tolist(), (ts_us % _US).tolist()
    return [f"{s}.{us:06d}" for s, us in zip(seconds, micros, strict=True)]


def _write_messages(msgs: _Messages, folder: Path) -> list[Path]:
    ids = _message_ids(msgs.ts_us)
    iso = _iso(msgs.ts_us, unit="us", sep="T").tolist()
    users = msgs.user_id.tolist()
    written = []
    for month, s in _month_slices(msgs.ts_us):
        lines = []
        for i in range(s.start, s.stop):
            p = int(msgs.parent[i])
            thread = f'"{ids[p]}"' if p >= 0 else "null"
            lines.append(
                f'{{"message_id": "{ids[i]}", "channel": "{CHANNELS[msgs.channel[i]]}", '
                f'"user_id": {users[i]}, "ts": "{iso[i]}", "thread_id": {thread}, '
                f'"text": {json.dumps(msgs.text[i], ensure_ascii=False)}}}\n'
            )
        path = folder / f"{month}.jsonl"
        if _write_text(path, "".join(lines)):
            written.append(path)
    return written


def _write_labeled(rng: np.random.Generator, msgs: _Messages, path: Path) -> list[Path]:
    n = len(msgs.text)
    if n <= _LABELED_MAX:
        rows = np.arange(n)
    else:
        rows = np.sort(rng.choice(n, size=_LABELED_MAX, replace=False))
    ids = _message_ids(msgs.ts_us[rows])
    records = (
        {"message_id": mid, "text": msgs.text[r], "label": LABELS[msgs.label[r]]}
        for mid, r in zip(ids, rows.tolist(), strict=True)
    )
    lines = [json.dumps(record, ensure_ascii=False) + "\n" for record in records]
    return [path] if _write_text(path, "".join(lines)) else []


# --------------------------------------------------------------------------------------------
# Invoices


def _write_invoices(rng: np.random.Generator, u: _Users, n: int, folder: Path) -> list[Path]:
    # Billed to paying customers only; enterprise customers get more (and larger) invoices.
    paying = np.flatnonzero(u.final_plan > 0)
    weight = np.where(u.final_plan[paying] == 2, 3.0, 1.0) * (_END_US - u.signed_up_us[paying])
    customer = paying[rng.choice(len(paying), size=n, p=weight / weight.sum())]
    issued_day = _after_signup(rng, u.signed_up_us, customer) // _DAY_US  # days since epoch
    order = np.lexsort((customer, issued_day))
    customer, issued_day = customer[order], issued_day[order]

    enterprise = u.final_plan[customer] == 2
    seats = rng.integers(1, 21, size=n)
    cents = np.where(
        enterprise,
        np.round(rng.lognormal(np.log(4_000), 0.7, size=n) * 100),
        seats * 2_500 + rng.choice([0, 0, 0, 990, 1_990], size=n),  # seats at $25 plus add-ons
    ).astype(np.int64)
    country = u.country[customer]
    currency = np.where(np.isin(country, [_COUNTRIES.index(c) for c in _EUR]), 1, 0)
    currency[country == _COUNTRIES.index("GB")] = 2
    # Older invoices are mostly paid; the last month's are often still open.
    recent = issued_day * _DAY_US >= _END_US - 30 * _DAY_US
    status = np.where(rng.random(n) < np.where(recent, 0.45, 0.88), 0, 1)
    status[rng.random(n) < 0.04] = 2

    width = max(6, len(str(n)))
    days = _iso(issued_day * _DAY_US, unit="D").tolist()
    uids = u.user_id[customer].tolist()
    written = []
    for month, s in _month_slices(issued_day * _DAY_US):
        lines = ["invoice_id,user_id,issued_at,amount,currency,status\n"]
        for i in range(s.start, s.stop):
            c = int(cents[i])
            lines.append(
                f"INV-{i + 1:0{width}d},{uids[i]},{days[i]},{c // 100}.{c % 100:02d},"
                f"{('USD', 'EUR', 'GBP')[currency[i]]},{('paid', 'open', 'void')[status[i]]}\n"
            )
        path = folder / f"{month}.csv"
        if _write_text(path, "".join(lines)):
            written.append(path)
    return written
