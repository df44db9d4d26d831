"""Time to value and the health band distribution over time, read from a workspace.

Time to value is computed in the warehouse (`longtail.core.value`); band counts come from the daily health
files `longtail score` stores, grouped by the tier each account held on that day (the tier history) or by an
account column.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from typing import Any

import pyarrow.parquet as pq
from sqlalchemy import select

from longtail.analytics.connect import connect, workspace_feature_defs
from longtail.analytics.health_store import day_file, stored_dates
from longtail.core.value import first_value, time_to_value
from longtail.errors import UsageError
from longtail.settings import Workspace
from longtail.store import tables
from longtail.store.db import make_engine, migrate

NO_GROUP = "(none)"


def ttv_rows(ws: Workspace, d1: date, d2: date, as_of: date, by: str | None = None) -> list[dict[str, Any]]:
    """`time_to_value` for the workspace's accounts created in [d1, d2), one dict per cohort (and group)."""
    milestones = workspace_feature_defs(ws).milestone_events
    with connect(ws) as (con, t):
        if by is not None and by not in t.accounts.columns:
            raise UsageError(f"--by {by!r} is not an account column; known: {', '.join(sorted(t.accounts.columns))}")
        expr = time_to_value(t.accounts, first_value(t.events, tuple(milestones)), d1, d2, as_of=as_of, by=by)
        rows: list[dict[str, Any]] = con.to_pyarrow(expr).to_pylist()
    return rows


def sample_days(available: Sequence[date], d1: date, d2: date, every: int) -> list[date]:
    """Stored days in [d1, d2) at least `every` days apart, starting from the first one."""
    if every < 1:
        raise UsageError(f"--every must be at least 1 day, not {every}")
    picked: list[date] = []
    for day in sorted(available):
        if d1 <= day < d2 and (not picked or day - picked[-1] >= timedelta(days=every)):
            picked.append(day)
    return picked


def tiers_on(ws: Workspace, days: Sequence[date]) -> dict[date, dict[str, str]]:
    """account -> tier held on each of `days`, from the tier history's entered/left spells."""
    engine = make_engine(ws.database_url)
    migrate(engine)
    th = tables.tier_history
    with engine.connect() as conn:
        spells = conn.execute(select(th.c.account_id, th.c.tier, th.c.entered, th.c.left)).all()
    engine.dispose()
    return {day: {a: tier for a, tier, entered, left in spells if entered <= day and (left is None or day < left)}
            for day in days}


def band_rows(ws: Workspace, d1: date, d2: date, every: int = 7, by: str | None = None) -> list[dict[str, Any]]:
    """Accounts per health band on stored days in [d1, d2) about `every` days apart, by tier or account column.

    One dict per (day, group) with a count per band and the total; a group is `(none)` when an account has
    no tier (or no value of the column) on that day.
    """
    days = sample_days(stored_dates(ws), d1, d2, every)
    if not days:
        raise UsageError(f"no stored health between {d1} and {d2}: run `longtail score` for those days first")
    groups_by_day = _groups(ws, days, by)
    rows: list[dict[str, Any]] = []
    for day in days:
        table = pq.read_table(day_file(ws, day), columns=["account_id", "band"])
        group_of = groups_by_day.get(day, {})
        counts: Counter[tuple[str, str]] = Counter()
        for account, band in zip(table.column("account_id").to_pylist(), table.column("band").to_pylist(),
                                 strict=True):
            counts[(group_of.get(account, NO_GROUP) if by else NO_GROUP, str(band))] += 1
        for group in sorted({g for g, _ in counts}):
            bands = {b: n for (g, b), n in sorted(counts.items()) if g == group}
            rows.append({"day": day, "group": group if by else None, "bands": bands, "accounts": sum(bands.values())})
    return rows


def _groups(ws: Workspace, days: Sequence[date], by: str | None) -> Mapping[date, Mapping[str, str]]:
    if by is None:
        return {}
    if by == "tier":
        return tiers_on(ws, days)
    with connect(ws) as (con, t):
        if by not in t.accounts.columns:
            raise UsageError(f"--by {by!r} is neither `tier` nor an account column; known: "
                             f"{', '.join(sorted(t.accounts.columns))}")
        pairs = con.to_pyarrow(t.accounts.select("account_id", value=t.accounts[by].cast("string"))).to_pylist()
    static = {p["account_id"]: p["value"] for p in pairs if p["value"] is not None}
    return dict.fromkeys(days, static)
