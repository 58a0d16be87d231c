"""Invoices: one CSV per month, billed to paying customers in their currency."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .company import DAY_US, END_US, after_signup
from .files import iso, month_slices, write_text
from .users import COUNTRIES, EUR, Users


def write_invoices(rng: np.random.Generator, u: Users, n: int, folder: Path) -> list[Path]:
    # Billed to paying customers only; enterprise customers get more (and larger) invoices.
    paying = np.flatnonzero(u.final_plan > 0)
    weight = np.where(u.final_plan[paying] == 2, 3.0, 1.0) * (END_US - u.signed_up_us[paying])
    customer = paying[rng.choice(len(paying), size=n, p=weight / weight.sum())]
    issued_day = after_signup(rng, u.signed_up_us, customer) // DAY_US  # days since epoch
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
    currency = np.where(np.isin(country, [COUNTRIES.index(c) for c in EUR]), 1, 0)
    currency[country == COUNTRIES.index("GB")] = 2
    # Older invoices are mostly paid; the last month's are often still open.
    recent = issued_day * DAY_US >= END_US - 30 * DAY_US
    status = np.where(rng.random(n) < np.where(recent, 0.45, 0.88), 0, 1)
    status[rng.random(n) < 0.04] = 2

    width = max(6, len(str(n)))
    days = iso(issued_day * DAY_US, unit="D").tolist()
    uids = u.user_id[customer].tolist()
    written = []
    for month, s in month_slices(issued_day * DAY_US):
        lines = ["invoice_id,user_id,issued_at,amount,currency,status\n"]
        for i in range(s.start, s.stop):
            c = int(cents[i])
            lines.append(
                f"INV-{i + 1:0{width}d},{uids[i]},{days[i]},{c // 100}.{c % 100:02d},"
                f"{('USD', 'EUR', 'GBP')[currency[i]]},{('paid', 'open', 'void')[status[i]]}\n"
            )
        path = folder / f"{month}.csv"
        if write_text(path, "".join(lines)):
            written.append(path)
    return written
