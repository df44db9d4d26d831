"""Small builders for backtest tests: subscription, fire and health tables from plain tuples."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta

import pyarrow as pa

D0 = date(2024, 1, 1)


def day(n: int) -> date:
    """Day n of the test calendar (day 0 = 2024-01-01)."""
    return D0 + timedelta(days=n)


def subs(rows: Iterable[tuple[str, int, int | None]]) -> pa.Table:
    """Subscriptions (account_id, start_date, end_date) from (account, start day, end day or None)."""
    rows = list(rows)
    return pa.table({
        "account_id": pa.array([r[0] for r in rows], pa.string()),
        "start_date": pa.array([day(r[1]) for r in rows], pa.date32()),
        "end_date": pa.array([None if r[2] is None else day(r[2]) for r in rows], pa.date32()),
    })


def fires(rows: Iterable[tuple[str, int]]) -> pa.Table:
    """Fires (day, account_id) from (account, day number)."""
    rows = list(rows)
    return pa.table({"day": pa.array([day(r[1]) for r in rows], pa.date32()),
                     "account_id": pa.array([r[0] for r in rows], pa.string())})


def health(rows: Iterable[tuple[str, int, str]]) -> pa.Table:
    """Health rows (day, account_id, band) from (account, day number, band)."""
    rows = list(rows)
    return pa.table({"day": pa.array([day(r[1]) for r in rows], pa.date32()),
                     "account_id": pa.array([r[0] for r in rows], pa.string()),
                     "band": pa.array([r[2] for r in rows], pa.string())})
