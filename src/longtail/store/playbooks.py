"""Playbook hits and their measured success (table `playbook_hits`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Engine, and_, bindparam, case, delete, func, select, update

from longtail.core.motion.success import SuccessCheck, SuccessOutcome
from longtail.store import tables

CHUNK = 5_000


@dataclass(frozen=True)
class HitRow:
    playbook_id: str
    account_id: str
    day: date
    definition_hash: str
    signal_id: str
    success_due: date | None


class PlaybookStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def record_hits(self, day: date, hits: Sequence[HitRow]) -> int:
        """Store the day's hits, replacing what that day had (a re-run of the day is idempotent)."""
        t = tables.playbook_hits
        rows = [{"playbook_id": h.playbook_id, "account_id": h.account_id, "day": h.day,
                 "definition_hash": h.definition_hash, "signal_id": h.signal_id, "success_due": h.success_due,
                 "checked_on": None, "success": None, "success_reason": None} for h in hits]
        with self.engine.begin() as conn:
            conn.execute(delete(t).where(t.c.day == day))
            for start in range(0, len(rows), CHUNK):
                conn.execute(t.insert(), rows[start:start + CHUNK])
        return len(rows)

    def due(self, day: date) -> list[SuccessCheck]:
        """Hits whose success horizon has come (on or before `day`) and that were not checked yet."""
        t = tables.playbook_hits
        query = select(t.c.playbook_id, t.c.account_id, t.c.day, t.c.success_due).where(
            and_(t.c.success_due.is_not(None), t.c.success_due <= day, t.c.checked_on.is_(None)))
        with self.engine.connect() as conn:
            return [SuccessCheck(r.playbook_id, r.account_id, r.day, r.success_due) for r in conn.execute(query)]

    def record_outcomes(self, outcomes: Sequence[SuccessOutcome]) -> None:
        t = tables.playbook_hits
        rows = [{"p": o.check.playbook_id, "a": o.check.account_id, "d": o.check.hit_on, "checked_on": o.checked_on,
                 "success": o.success, "success_reason": o.reason} for o in outcomes]
        if not rows:
            return
        stmt = update(t).where(t.c.playbook_id == bindparam("p"), t.c.account_id == bindparam("a"),
                               t.c.day == bindparam("d"))
        with self.engine.begin() as conn:
            conn.execute(stmt, rows)

    def summary(self) -> dict[str, dict[str, Any]]:
        """Per playbook: hits, accounts, checked, succeeded, pending, first and last day."""
        t = tables.playbook_hits
        def count_if(condition: Any) -> Any:  # CASE rather than CAST(boolean): portable to every database
            return func.sum(case((condition, 1), else_=0))

        query = select(
            t.c.playbook_id, func.count().label("hits"), func.count(func.distinct(t.c.account_id)).label("accounts"),
            count_if(t.c.success.is_(True)).label("succeeded"), count_if(t.c.checked_on.is_not(None)).label("checked"),
            count_if(and_(t.c.success_due.is_not(None), t.c.checked_on.is_(None))).label("pending"),
            func.min(t.c.day).label("first"), func.max(t.c.day).label("last"),
        ).group_by(t.c.playbook_id)
        with self.engine.connect() as conn:
            return {r.playbook_id: {"hits": r.hits, "accounts": r.accounts, "checked": int(r.checked or 0),
                                    "succeeded": int(r.succeeded or 0), "pending": int(r.pending or 0),
                                    "first": r.first, "last": r.last} for r in conn.execute(query)}
