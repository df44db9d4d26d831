"""Journey enrollments (table `enrollments`) and the history of what each tick did (`enrollment_log`)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, bindparam, select, update

from longtail.core.journeys.engine import Enrollment, Tick
from longtail.core.journeys.history import LoggedTick
from longtail.store import tables

CHUNK = 2_000


def _aware(value: datetime | None) -> datetime | None:
    # SQLite returns naive datetimes; every instant here is UTC.
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def _row(e: Enrollment) -> dict[str, Any]:
    return {"enrollment_id": e.enrollment_id, "journey_id": e.journey_id, "account_id": e.account_id,
            "contact_id": e.contact_id, "entered_at": e.entered_at, "holdout": e.holdout, "step": e.step,
            "status": e.status, "wait_until": e.wait_until, "exit_reason": e.exit_reason,
            "updated_at": e.updated_at or e.entered_at, "visits": dict(e.visits), "sent": dict(e.sent),
            "variant": e.variant}


def _enrollment(r: Any) -> Enrollment:
    return Enrollment(
        enrollment_id=r.enrollment_id, journey_id=r.journey_id, account_id=r.account_id, contact_id=r.contact_id,
        entered_at=_aware(r.entered_at) or datetime.min.replace(tzinfo=UTC), holdout=bool(r.holdout), step=r.step,
        status=r.status, wait_until=_aware(r.wait_until), exit_reason=r.exit_reason,
        updated_at=_aware(r.updated_at), visits=dict(r.visits or {}), sent=dict(r.sent or {}), variant=r.variant)


class EnrollmentStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def active(self, journey_ids: Iterable[str] | None = None) -> list[Enrollment]:
        t = tables.enrollments
        query = select(t).where(t.c.status == "active")
        if journey_ids is not None:
            query = query.where(t.c.journey_id.in_(list(journey_ids)))
        with self.engine.connect() as conn:
            return [_enrollment(r) for r in conn.execute(query)]

    def of_contacts(self, journey_id: str, contact_ids: Iterable[str]) -> dict[str, list[Enrollment]]:
        """Every enrollment (any status) of these contacts in one journey, for the re-entry policy."""
        t = tables.enrollments
        wanted = sorted(set(contact_ids))
        out: dict[str, list[Enrollment]] = {}
        with self.engine.connect() as conn:
            for start in range(0, len(wanted), CHUNK):
                part = wanted[start:start + CHUNK]
                query = select(t).where(t.c.journey_id == journey_id, t.c.contact_id.in_(part))
                for r in conn.execute(query):
                    out.setdefault(r.contact_id, []).append(_enrollment(r))
        return out

    def all(self, journey_id: str | None = None) -> list[Enrollment]:
        t = tables.enrollments
        query = select(t) if journey_id is None else select(t).where(t.c.journey_id == journey_id)
        with self.engine.connect() as conn:
            return [_enrollment(r) for r in conn.execute(query)]

    def log_after(self, enrollment_ids: Iterable[str], instant: datetime) -> dict[str, list[LoggedTick]]:
        """Every logged tick, oldest first, of those of `enrollment_ids` that were ticked after `instant` (the
        others are left out: as of now that is usually all of them, and then only the first query runs)."""
        log = tables.enrollment_log
        wanted = sorted(set(enrollment_ids))
        # Stored instants are UTC (SQLite keeps them without an offset), so compare in UTC.
        after = instant.astimezone(UTC)
        out: dict[str, list[LoggedTick]] = {}
        with self.engine.connect() as conn:
            for start in range(0, len(wanted), CHUNK):
                part = wanted[start:start + CHUNK]
                touched = sorted(set(conn.execute(select(log.c.enrollment_id).where(
                    log.c.enrollment_id.in_(part), log.c.at > after)).scalars()))
                if not touched:
                    continue
                query = (select(log.c.enrollment_id, log.c.at, log.c.trail)
                         .where(log.c.enrollment_id.in_(touched)).order_by(log.c.at, log.c.id))
                for r in conn.execute(query):
                    at = r.at if r.at.tzinfo is not None else r.at.replace(tzinfo=UTC)
                    out.setdefault(r.enrollment_id, []).append(LoggedTick(at, tuple(str(line) for line in r.trail)))
        return out

    def save(self, new: Sequence[Enrollment], ticks: Sequence[Tick], at: datetime) -> None:
        """Insert new enrollments (an id that exists is left alone) and store every tick, in one transaction."""
        t = tables.enrollments
        log = tables.enrollment_log
        with self.engine.begin() as conn:
            existing: set[str] = set()
            ids = [e.enrollment_id for e in new]
            for start in range(0, len(ids), CHUNK):
                existing.update(conn.execute(select(t.c.enrollment_id).where(
                    t.c.enrollment_id.in_(ids[start:start + CHUNK]))).scalars())
            fresh = [_row(e) for e in new if e.enrollment_id not in existing]
            if fresh:
                conn.execute(t.insert(), fresh)
            changed = [tick for tick in ticks if tick.trail]
            if changed:
                rows = [{**{k: v for k, v in _row(tick.enrollment).items() if k != "enrollment_id"},
                         "k": tick.enrollment.enrollment_id} for tick in changed]
                conn.execute(update(t).where(t.c.enrollment_id == bindparam("k")), rows)
                conn.execute(log.insert(), [{"enrollment_id": tick.enrollment.enrollment_id, "at": at,
                                             "trail": list(tick.trail)} for tick in changed])
