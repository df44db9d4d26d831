"""Account 360: money, tier, owner, health with its reasons, a merged timeline, contacts and journeys.

Every read is filtered to the one account in the database or in Parquet (indexed columns, pushed-down
predicates), so the page costs the same with 1k or 100k accounts.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Protocol
from urllib.parse import quote

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
from sqlalchemy import Connection, func, select

from longtail.analytics.health_store import stored_dates
from longtail.core.motion.ctas import Cta
from longtail.core.motion.routing import pool_label
from longtail.predict.score_store import StoredScore, read_account
from longtail.settings import Workspace
from longtail.store import tables
from longtail.store.motion import MotionStore
from longtail.warehouse.account_reads import account_rows
from longtail.warehouse.events import Warehouse
from longtail.web.views._shared import account_link, aware, day_start, engine_of, stored_row, stored_score

HISTORY_DAYS = 180
HISTORY_STEP_DAYS = 7  # a sparkline cannot show daily detail, and each point is one stored day to read
TIMELINE_DAYS = 180
USAGE_WEEKS = 26
ENGAGEMENT_KINDS = ("sent", "opened", "clicked")


class NoteLike(Protocol):
    """A note a CSM wrote on the account (stored by the web app)."""

    @property
    def at(self) -> datetime: ...

    @property
    def author(self) -> str: ...

    @property
    def text(self) -> str: ...


@dataclass(frozen=True)
class Component:
    metric: str
    label: str
    value: float | None
    score: float | None
    weight: float | None
    contribution: float | None


@dataclass(frozen=True)
class HealthToday:
    day: date
    score: float
    band: str
    change_7d: float | None
    change_30d: float | None
    components: tuple[Component, ...]
    reasons: tuple[str, ...]
    path_to_green: tuple[str, ...]
    green_reachable: bool | None


@dataclass(frozen=True)
class HealthPoint:
    day: date
    score: float
    band: str


@dataclass(frozen=True)
class TimelineItem:
    at: datetime
    kind: str  # usage, message, cta, ticket, survey, note
    title: str
    detail: str
    link: str | None = None


@dataclass(frozen=True)
class ContactRow:
    contact_id: str
    name: str | None
    email: str | None
    role: str | None
    title: str | None
    last_activity: datetime | None
    sent: int
    opened: int
    clicked: int


@dataclass(frozen=True)
class JourneyRow:
    enrollment_id: str
    journey_id: str
    contact_id: str
    step: int
    entered_at: datetime | None
    wait_until: datetime | None
    holdout: bool


@dataclass(frozen=True)
class AccountView:
    account_id: str
    name: str
    as_of: date
    industry: str | None
    country: str | None
    arr: float
    mrr: float
    renewal_date: date | None
    tier: str | None
    owner_id: str | None
    owner_name: str | None
    owner_reason: str
    segments: tuple[str, ...]
    health: HealthToday | None
    history: tuple[HealthPoint, ...]
    timeline: tuple[TimelineItem, ...]
    contacts: tuple[ContactRow, ...]
    journeys: tuple[JourneyRow, ...]
    open_ctas: int
    models: tuple[StoredScore, ...] = ()
    """Churn risk and expansion propensity from the latest day the motion stored them, with their reasons."""

    @property
    def link(self) -> str:
        """The page's path (the id percent-encoded); the note form posts to `{link}/notes`."""
        return account_link(self.account_id)


def account_view(ws: Workspace, account_id: str, as_of: date, notes: Sequence[NoteLike] = (), *,
                 named_csm_attribute: str = "csm_id") -> AccountView | None:
    """The account page on `as_of`, or None when no account has this id.

    `named_csm_attribute` is the account attribute naming its CSM (the motion's routing.named_csm_attribute).
    """
    engine = engine_of(ws)
    with engine.connect() as conn:
        found = conn.execute(select(tables.accounts).where(tables.accounts.c.account_id == account_id)
                             ).mappings().first()
        if found is None:
            return None
        account = dict(found)
        arr, mrr, renewal = _money(conn, account_id, as_of)
        tier = _tier(conn, account_id)
        segments = _segments(conn, account_id)
        contacts = [dict(r) for r in conn.execute(select(tables.contacts).where(
            tables.contacts.c.account_id == account_id).order_by(tables.contacts.c.contact_id)).mappings()]
        engagement = _engagement(conn, account_id)
        journeys = _journeys(conn, account_id)
        since = as_of - timedelta(days=TIMELINE_DAYS)
        messages = _messages(conn, account_id, since, as_of)
        tickets = _tickets(conn, account_id, since, as_of)
        surveys = _surveys(conn, account_id, since, as_of)
        team = {r.member_id: r.name for r in conn.execute(select(tables.team_members.c.member_id,
                                                                 tables.team_members.c.name))}
    ctas = MotionStore(engine).list_ctas(account=account_id)
    owner_id, owner_reason = _owner(account, ctas, tier, named_csm_attribute)
    usage, last_seen = _usage(ws, account_id, as_of - timedelta(weeks=USAGE_WEEKS), as_of)
    timeline = [*_usage_items(usage), *messages, *(_cta_item(c) for c in ctas if c.created_on <= as_of),
                *tickets, *surveys, *(_note_item(n) for n in notes)]
    timeline = [t for t in timeline if t.at < day_start(as_of + timedelta(days=1))]
    timeline.sort(key=lambda t: (t.at, t.kind, t.title), reverse=True)
    return AccountView(
        account_id=account_id, name=str(account["name"] or account_id), as_of=as_of,
        industry=account["industry"], country=account["country"], arr=arr, mrr=mrr, renewal_date=renewal,
        tier=tier, owner_id=owner_id, owner_name=team.get(owner_id) if owner_id else None, owner_reason=owner_reason,
        segments=segments, health=_health_today(ws, account_id, as_of), history=health_history(ws, account_id, as_of),
        timeline=tuple(timeline), contacts=tuple(_contact_rows(contacts, engagement, last_seen)),
        journeys=tuple(journeys), open_ctas=sum(c.status in ("open", "in_progress", "snoozed", "held") for c in ctas),
        models=tuple(read_account(ws, as_of, account_id)),
    )


# ---------------------------------------------------------------------------------------------- header


def _money(conn: Connection, account_id: str, as_of: date) -> tuple[float, float, date | None]:
    """ARR and MRR of the subscriptions active on `as_of` (start <= day < end, as the retention metrics count
    them), and the earliest end date among them (the next renewal)."""
    s = tables.subscriptions
    rows = conn.execute(select(s.c.mrr, s.c.arr, s.c.end_date).where(
        s.c.account_id == account_id, s.c.start_date <= as_of,
        (s.c.end_date.is_(None)) | (s.c.end_date > as_of))).all()
    ends = [r.end_date for r in rows if r.end_date is not None]
    return (sum(float(r.arr or 0) for r in rows), sum(float(r.mrr or 0) for r in rows), min(ends, default=None))


def _tier(conn: Connection, account_id: str) -> str | None:
    t = tables.tier_history
    return conn.execute(select(t.c.tier).where(t.c.account_id == account_id, t.c.left.is_(None))).scalar()


def _segments(conn: Connection, account_id: str) -> tuple[str, ...]:
    t = tables.segment_membership
    query = select(t.c.segment_id).where(t.c.account_id == account_id, t.c.left.is_(None)).order_by(t.c.segment_id)
    return tuple(conn.execute(query).scalars())


def _attributes(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        loaded = json.loads(value)
        return loaded if isinstance(loaded, dict) else {}
    return dict(value) if isinstance(value, Mapping) else {}


def _owner(account: Mapping[str, Any], ctas: Sequence[Cta], tier: str | None,
           attribute: str) -> tuple[str | None, str]:
    """Who owns the account and why: its named CSM, else the owner of its newest open CTA, else its tier's pool."""
    named = _attributes(account["attributes"]).get(attribute)
    if named:
        return str(named), f"named CSM ({attribute})"
    owned = [c for c in ctas if c.owner_id and c.status in ("open", "in_progress", "snoozed")]
    if owned:
        newest = max(owned, key=lambda c: (c.created_on, c.cta_id))
        return newest.owner_id, f"owner of the open CTA {newest.title!r}"
    # pool_label reads "pool 'mid'" for a tier and "all CSMs" without one; only the former takes "the".
    return None, f"no named CSM: served by {'the ' if tier else ''}{pool_label(tier)}"


# ---------------------------------------------------------------------------------------------- health


def _health_today(ws: Workspace, account_id: str, as_of: date) -> HealthToday | None:
    """Health on the latest stored day up to `as_of` (as /api/health answers): the page is dated today, and
    today's health is only stored once the daily run has gone through."""
    days = [d for d in stored_dates(ws) if d <= as_of]
    if not days:
        return None
    day = max(days)
    row = stored_row(ws, day, account_id)
    if row is None:
        return None
    components = tuple(Component(c["metric"], c.get("label") or c["metric"], c.get("value"), c.get("score"),
                                 c.get("weight"), c.get("contribution")) for c in row["components"])
    return HealthToday(day=day, score=float(row["score"]), band=str(row["band"]), change_7d=row["change_7d"],
                       change_30d=row["change_30d"], components=components, reasons=tuple(row["reasons"]),
                       path_to_green=tuple(str(p.get("sentence", "")) for p in row["path_to_green"]),
                       green_reachable=row["green_reachable"])


def history_days(stored: Sequence[date], as_of: date, days: int = HISTORY_DAYS,
                 step: int = HISTORY_STEP_DAYS) -> list[date]:
    """The stored days to plot: walking back from `as_of` in `step`-day strides over `days`, the latest stored
    day at or before each stride (each stored day at most once), oldest first."""
    window = sorted(d for d in stored if as_of - timedelta(days=days) < d <= as_of)
    chosen: list[date] = []
    cursor = as_of
    while window and cursor > as_of - timedelta(days=days):
        candidates = [d for d in window if d <= cursor]
        if not candidates:
            break
        pick = candidates[-1]
        if not chosen or chosen[-1] != pick:
            chosen.append(pick)
        cursor = min(cursor, pick) - timedelta(days=step)
    return sorted(chosen)


def health_history(ws: Workspace, account_id: str, as_of: date, days: int = HISTORY_DAYS,
                   step: int = HISTORY_STEP_DAYS) -> tuple[HealthPoint, ...]:
    """The account's stored score and band about every `step` days over the last `days` days, oldest first."""
    points = []
    for day in history_days(stored_dates(ws), as_of, days, step):
        found = stored_score(ws, day, account_id)
        if found is not None:
            points.append(HealthPoint(day, found[0], found[1]))
    return tuple(points)


# ---------------------------------------------------------------------------------------------- timeline


def _usage(ws: Workspace, account_id: str, since: date, as_of: date) -> tuple[pa.Table, dict[str, datetime]]:
    """The account's events in [since, as_of] (event, ts) and the last event time per contact.

    Only the row groups that can hold the account are read (`account_rows`), filtered on account and time.
    """
    empty = pa.table({"event": pa.array([], pa.string()), "ts": pa.array([], pa.timestamp("us", "UTC"))})
    parts = Warehouse(ws.warehouse_url, ws.state_dir).parts()
    if not parts or "events" in ws.settings.warehouse_tables:
        # Events that live in an external warehouse are not scanned from a page; the summary is left out.
        return empty, {}
    end = day_start(as_of + timedelta(days=1))
    found = account_rows(parts, account_id, ["event", "ts", "contact_id"],
                           (ds.field("ts") >= day_start(since)) & (ds.field("ts") < end))
    last: dict[str, datetime] = {}
    if found.num_rows:
        grouped = found.group_by("contact_id").aggregate([("ts", "max")])
        for contact, ts in zip(grouped.column("contact_id").to_pylist(), grouped.column("ts_max").to_pylist(),
                               strict=True):
            if contact is not None:
                last[contact] = ts
    return found.select(["event", "ts"]), last


def _usage_items(events: pa.Table) -> list[TimelineItem]:
    """One item per week with events: how many, and the three most frequent."""
    if not events.num_rows:
        return []
    weeks: dict[date, Counter[str]] = {}
    for name, ts in zip(events.column("event").to_pylist(), pc.cast(events.column("ts"), pa.timestamp("us", "UTC"))
                        .to_pylist(), strict=True):
        monday = ts.date() - timedelta(days=ts.weekday())
        weeks.setdefault(monday, Counter())[name] += 1
    items = []
    for monday, counts in weeks.items():
        top = ", ".join(f"{name} {n}" for name, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:3])
        total = sum(counts.values())
        items.append(TimelineItem(day_start(monday), "usage", f"{total:,} product events in the week of {monday}",
                                  f"most frequent: {top}"))
    return items


def _messages(conn: Connection, account_id: str, since: date, as_of: date) -> list[TimelineItem]:
    o, ev = tables.outbox, tables.engagement_events
    rows = conn.execute(select(o.c.id, o.c.channel, o.c.program, o.c.payload, o.c.status, o.c.due_at, o.c.sent_at,
                               o.c.contact_id).where(o.c.account_id == account_id,
                                                     o.c.due_at >= day_start(since))).all()
    kinds: dict[str, set[str]] = {}
    if rows:
        for key, kind in conn.execute(select(ev.c.message_key, ev.c.kind).where(ev.c.account_id == account_id)):
            kinds.setdefault(key, set()).add(kind)
    items = []
    for r in rows:
        at = aware(r.sent_at or r.due_at)
        assert at is not None  # due_at is NOT NULL
        payload = r.payload or {}
        subject = str(payload.get("subject") or r.program or r.channel)
        seen = sorted(kinds.get(r.id, set()) - {"sent"})
        detail = f"{r.channel} to {r.contact_id or 'the account'}: {r.status}"
        if seen:
            detail += f", {', '.join(seen)}"
        items.append(TimelineItem(at, "message", subject, detail))
    return items


def _cta_item(cta: Cta) -> TimelineItem:
    state = cta.status if cta.closed_on is None else f"{cta.status} on {cta.closed_on}"
    return TimelineItem(day_start(cta.created_on), "cta", cta.title,
                        f"{cta.priority} priority, {state}; {cta.reason}", f"/cta/{quote(cta.cta_id, safe='')}")


def _tickets(conn: Connection, account_id: str, since: date, as_of: date) -> list[TimelineItem]:
    t = tables.tickets
    rows = conn.execute(select(t.c.ticket_id, t.c.opened_at, t.c.closed_at, t.c.priority, t.c.status, t.c.csat).where(
        t.c.account_id == account_id, t.c.opened_at >= day_start(since))).all()
    items = []
    for r in rows:
        closed = aware(r.closed_at)
        detail = f"{r.status or 'status unknown'}" + (f", closed {closed:%Y-%m-%d}" if closed else "") + (
            f", CSAT {r.csat:g}" if r.csat is not None else "")
        opened = aware(r.opened_at)
        assert opened is not None  # opened_at is NOT NULL
        items.append(TimelineItem(opened, "ticket", f"Ticket {r.ticket_id} ({r.priority or 'no'} priority)", detail))
    return items


def _surveys(conn: Connection, account_id: str, since: date, as_of: date) -> list[TimelineItem]:
    s = tables.survey_responses
    rows = conn.execute(select(s.c.response_id, s.c.contact_id, s.c.ts, s.c.kind, s.c.score, s.c.comment).where(
        s.c.account_id == account_id, s.c.ts >= day_start(since))).all()
    items = []
    for r in rows:
        at = aware(r.ts)
        assert at is not None  # ts is NOT NULL
        score = "" if r.score is None else f" {r.score:g}"
        who = f"from {r.contact_id}" if r.contact_id else "anonymous"
        items.append(TimelineItem(at, "survey", f"{(r.kind or 'survey').upper()}{score}",
                                  f"{who}" + (f": {r.comment}" if r.comment else "")))
    return items


def _note_item(note: NoteLike) -> TimelineItem:
    return TimelineItem(note.at, "note", f"Note by {note.author}", note.text)


# ---------------------------------------------------------------------------------------------- people


def _engagement(conn: Connection, account_id: str) -> dict[str, Counter[str]]:
    ev = tables.engagement_events
    query = (select(ev.c.contact_id, ev.c.kind, func.count()).where(ev.c.account_id == account_id,
                                                                     ev.c.kind.in_(ENGAGEMENT_KINDS))
             .group_by(ev.c.contact_id, ev.c.kind))
    out: dict[str, Counter[str]] = {}
    for contact, kind, n in conn.execute(query):
        if contact is not None:
            out.setdefault(contact, Counter())[kind] = int(n)
    return out


def _contact_rows(contacts: Sequence[Mapping[str, Any]], engagement: Mapping[str, Counter[str]],
                  last_seen: Mapping[str, datetime]) -> list[ContactRow]:
    rows = []
    for c in contacts:
        counts = engagement.get(c["contact_id"], Counter())
        rows.append(ContactRow(c["contact_id"], c["name"], c["email"], c["role"], c["title"],
                               last_seen.get(c["contact_id"]), counts["sent"], counts["opened"], counts["clicked"]))
    # Most recently active first: the people a CSM would call.
    return sorted(rows, key=lambda r: (r.last_activity is None, -(r.last_activity.timestamp() if r.last_activity
                                                                   else 0.0), r.contact_id))


def _journeys(conn: Connection, account_id: str) -> list[JourneyRow]:
    e = tables.enrollments
    rows = conn.execute(select(e).where(e.c.account_id == account_id, e.c.status == "active")
                        .order_by(e.c.entered_at, e.c.enrollment_id)).all()
    return [JourneyRow(r.enrollment_id, r.journey_id, r.contact_id, int(r.step), aware(r.entered_at),
                       aware(r.wait_until), bool(r.holdout)) for r in rows]
