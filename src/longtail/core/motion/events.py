"""Event signals: something happened on an account between two evaluations, found by the warehouse.

The window is the days (since, until]: from the start of the day after `since` to the end of `until`, in the
workspace time zone, so consecutive daily runs see every event exactly once and a run that skipped days
catches up. Each signal gives one row per account: how many times it happened, when first, and a value
(the lowest NPS score, the ticket priority, the event name) that goes into the fire's inputs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import ibis
import ibis.expr.types as ir

from longtail.core.features import AnalyticTables
from longtail.core.motion.definitions import EventTrigger

CHAMPION = "champion"


@dataclass(frozen=True)
class Window:
    """The days (since, until] as UTC instants [start, end)."""

    since: date
    until: date
    tz: str = "UTC"

    def _start_of(self, day: date) -> datetime:
        return datetime.combine(day, time(0), tzinfo=ZoneInfo(self.tz)).astimezone(UTC)

    @property
    def start(self) -> ir.TimestampScalar:
        return ibis.timestamp(self._start_of(self.since + timedelta(days=1)))

    @property
    def end(self) -> ir.TimestampScalar:
        return ibis.timestamp(self._start_of(self.until + timedelta(days=1)))


def _inside(ts: ir.TimestampValue, w: Window) -> ir.BooleanValue:
    return (ts >= w.start) & (ts < w.end)


def event_fires(tables: AnalyticTables, trigger: EventTrigger, window: Window,
                milestones: tuple[str, ...]) -> ir.Table:
    """account_id, n, first_at, value: the accounts on which `trigger` happened in `window`."""
    kind = trigger.event
    if kind == "nps_detractor":
        s = tables.surveys
        hits = s.filter((s.kind == "nps") & (s.score <= trigger.max_score) & _inside(s.ts, window))
        return hits.group_by("account_id").aggregate(
            n=hits.count(), first_at=hits.ts.min(), value=hits.score.min().cast("string"))
    if kind == "ticket_escalated":
        t = tables.tickets
        # Priorities are compared without case, as the tickets_high_priority_open feature does.
        wanted = [p.lower() for p in trigger.priorities]
        hits = t.filter(t.priority.lower().isin(wanted) & _inside(t.opened_at, window))
        return hits.group_by("account_id").aggregate(
            n=hits.count(), first_at=hits.opened_at.min(), value=hits.ticket_id.min())
    if kind == "champion_changed":
        return _champion_changed(tables.contacts, window)
    names = list(trigger.names) if trigger.names else list(milestones)
    ev = tables.events.filter(tables.events.event.isin(names)) if names else tables.events.filter(ibis.literal(False))
    if kind == "milestone_reached":
        # A milestone counts when it is reached for the first time, not on every repeat of the event.
        ev = ev.group_by(["account_id", "event"]).aggregate(ts=ev.ts.min())
    hits = ev.filter(_inside(ev.ts, window))
    return hits.group_by("account_id").aggregate(n=hits.count(), first_at=hits.ts.min(), value=hits.event.min())


def _champion_changed(contacts: ir.Table, window: Window) -> ir.Table:
    """A champion contact created in the window on an account that had a champion before it."""
    champs = contacts.filter((contacts.role == CHAMPION) & contacts.created_at.notnull())
    new = champs.filter(_inside(champs.created_at, window))
    earlier = champs.filter(champs.created_at < window.start).select("account_id").distinct()
    hits = new.semi_join(earlier, "account_id")
    return hits.group_by("account_id").aggregate(
        n=hits.count(), first_at=hits.created_at.min(), value=hits.contact_id.min())
