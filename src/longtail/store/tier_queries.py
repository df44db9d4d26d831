"""Read-only views of the stored tiers for `longtail tiers list` (table `tier_history`).

Kept apart from `MotionStore` (which the daily run writes through): these queries only report what the
runs stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import Engine, select

from longtail.store import tables


@dataclass(frozen=True)
class CurrentTier:
    """An account's current tier, the day it entered it and the reason the run gave."""

    account_id: str
    tier: str
    since: date
    reason: str


def current_tier_rows(engine: Engine, tier: str | None = None) -> list[CurrentTier]:
    """Each account's open `tier_history` row (optionally only one tier's), by account_id."""
    t = tables.tier_history
    query = select(t.c.account_id, t.c.tier, t.c.entered, t.c.reason).where(t.c.left.is_(None))
    if tier is not None:
        query = query.where(t.c.tier == tier)
    with engine.connect() as conn:
        rows = [CurrentTier(r.account_id, r.tier, r.entered, r.reason) for r in conn.execute(query)]
    return sorted(rows, key=lambda r: r.account_id)


def stored_tier_names(engine: Engine) -> list[str]:
    """The tiers some account is in now, sorted."""
    t = tables.tier_history
    with engine.connect() as conn:
        return sorted(conn.execute(select(t.c.tier).where(t.c.left.is_(None)).distinct()).scalars())
