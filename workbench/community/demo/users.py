"""Users: one CSV of sign-ups per month, a bit messy (spaces, capitals, NA, blank lines),
with a few users exported again in a later month after upgrading their plan."""

from __future__ import annotations

import csv
import io
import unicodedata
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .company import MONTH_BOUNDS_US, MONTHS, PLANS, US
from .files import iso, write_text


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
COUNTRIES = ("US", "DE", "GB", "FR", "ES", "NL", "BR", "IN", "CA", "PT", "SE", "JP", "AU", "PL",
              "MX")
_COUNTRY_P = (0.28, 0.14, 0.10, 0.07, 0.06, 0.05, 0.06, 0.06, 0.04, 0.03, 0.03, 0.03, 0.02, 0.02,
              0.01)
# Billed in EUR (SE and PL customers too, by their choice).
EUR = {"DE", "FR", "ES", "NL", "PT", "SE", "PL"}
# fmt: on


class Users(NamedTuple):
    user_id: np.ndarray  # int64, 1..n in sign-up order
    signed_up_us: np.ndarray  # int64, sorted
    month: np.ndarray  # index into MONTHS of the sign-up file
    plan: np.ndarray  # index into PLANS, as first exported
    final_plan: np.ndarray  # after the upgrades that re-exports carry
    country: np.ndarray  # index into COUNTRIES, or -1 for missing
    company: np.ndarray  # index into _COMPANIES, or -1 for none
    first: np.ndarray  # index into _FIRST
    last: np.ndarray  # index into _LAST
    email_style: np.ndarray  # 0 lower, 1 Capitalised, 2 UPPER
    email_space: np.ndarray  # bool: surrounded by spaces
    reexport_month: np.ndarray  # month index of a later file that re-exports the user, or -1


def make_users(rng: np.random.Generator, n: int) -> Users:
    # A launch spike in May, then steady growth; every month gets at least one sign-up.
    growth = np.array([2.0, 0.9, 1.0, 1.1, 1.25, 1.4])
    per_month = np.maximum(1, np.floor(n * growth / growth.sum())).astype(np.int64)
    per_month[-1] += n - per_month.sum()  # exact total; the last month absorbs the rounding
    if per_month[-1] < 1:  # only at absurdly small n; keep every month non-empty
        per_month = np.ones(len(MONTHS), dtype=np.int64)
        n = len(MONTHS)
    month = np.repeat(np.arange(len(MONTHS)), per_month)
    span = np.diff(MONTH_BOUNDS_US)[month]
    # Whole seconds, as a product database would export them.
    signed_up = MONTH_BOUNDS_US[month] + (rng.random(n) * (span // US)).astype(np.int64) * US
    order = np.lexsort((signed_up, month))
    signed_up, month = signed_up[order], month[order]

    plan = rng.choice(len(PLANS), size=n, p=[0.62, 0.28, 0.10])
    if not (plan > 0).any():
        plan[0] = 1  # at least one paying customer, so there are invoices at tiny scales
    company = rng.integers(len(_COMPANIES), size=n)
    company[(plan == 0) & (rng.random(n) < 0.7)] = -1  # most free users sign up privately
    company[rng.random(n) < 0.03] = -1
    country = rng.choice(len(COUNTRIES), size=n, p=np.array(_COUNTRY_P) / sum(_COUNTRY_P))
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

    return Users(
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


def _user_rows(u: Users, idx: np.ndarray, plans: np.ndarray) -> list[list[str]]:
    signed_up = iso(u.signed_up_us[idx])
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
                COUNTRIES[u.country[i]] if u.country[i] >= 0 else "NA",
                PLANS[plans[k]],
                str(signed_up[k]),
            ]
        )
    return rows


def write_users(u: Users, folder: Path) -> list[Path]:
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
        if write_text(folder / f"users-{month}.csv", buf.getvalue()):
            written.append(folder / f"users-{month}.csv")
    return written
