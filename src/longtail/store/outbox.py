"""The durable outbox: messages waiting to go out, leased to one dispatcher at a time.

Statuses of an `outbox` row:

    pending     waiting for `due_at` (also a transient failure waiting for its retry time)
    sending     claimed by a dispatcher until `lease_until`; claimable again once the lease expires
    sent        the channel accepted it (`sent_at` set, a `sent` engagement event recorded)
    failed      permanent error, hard bounce, or too many attempts (`last_error` says which)
    suppressed  not sent: the contact or address is on the suppression list
    held        parked by the planner (e.g. waiting for approval); never claimed

Delivery guarantee: a row leaves `pending`/`sending` only by a commit made after the channel answered, so
no message is ever lost. A dispatcher that dies after the server accepted a message but before its commit
leaves the row `sending`; once the lease expires another dispatcher sends it again, with the same
Message-ID (derived from the key), so the receiving side can recognise the copy. Each message is committed
on its own, so one crash duplicates at most the one message that was in flight.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Dialect, Engine, and_, func, or_, select, union_all, update
from sqlalchemy.dialects import postgresql, sqlite

from longtail.store import tables

PENDING, SENDING, SENT, FAILED, SUPPRESSED, HELD = "pending", "sending", "sent", "failed", "suppressed", "held"
STATUSES: tuple[str, ...] = (PENDING, SENDING, SENT, FAILED, SUPPRESSED, HELD)
EVENT_KINDS: tuple[str, ...] = (
    "sent", "delivered", "bounced", "opened", "clicked", "unsubscribed", "replied", "viewed", "dismissed",
)
ALL_CHANNELS = "all"
BATCH = 1_000
HARD_BOUNCE_REASON = "hard bounce: "
"""How the reason of a hard bounce's suppression starts (`mark_failed`); `PressureReader` tells bounces from
unsubscribes by it."""


def message_key(*parts: object) -> str:
    """An idempotency key from its parts (journey, enrollment, step, contact, due slot): 'ob_' + 40 hex digits.

    Hashing keeps the key short and safe as a file name whatever the parts contain.
    """
    joined = "\x1f".join(str(p) for p in parts)
    return "ob_" + hashlib.sha256(joined.encode("utf-8")).hexdigest()[:40]


def message_id_for(key: str) -> str:
    """The Message-ID of the row with this key; deterministic so that a re-send carries the same one."""
    return f"<{hashlib.sha256(key.encode('utf-8')).hexdigest()[:32]}@longtail>"


def _utc(value: datetime) -> datetime:
    """`value` in UTC; SQLite stores no offset, so every timestamp written is UTC."""
    if value.tzinfo is None:
        raise ValueError(f"timestamp without a time zone: {value!r}")
    return value.astimezone(UTC)


def _aware(value: datetime | None) -> datetime | None:
    """A timestamp read back: SQLite returns naive UTC, PostgreSQL an aware value."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@dataclass(frozen=True)
class OutboxMessage:
    """A message to enqueue; `key` is the idempotency key (see `message_key`)."""

    key: str
    channel: str
    payload: Mapping[str, Any]
    due_at: datetime
    contact_id: str | None = None
    account_id: str | None = None
    program: str | None = None
    status: str = PENDING


@dataclass(frozen=True)
class OutboxRow:
    """A claimed outbox row, as a channel sees it."""

    key: str
    channel: str
    payload: Mapping[str, Any]
    due_at: datetime
    attempts: int
    message_id: str
    contact_id: str | None = None
    account_id: str | None = None
    program: str | None = None
    status: str = SENDING
    last_error: str | None = None


def _row(values: Mapping[Any, Any]) -> OutboxRow:
    due = _aware(values["due_at"])
    assert due is not None  # due_at is NOT NULL
    return OutboxRow(
        key=values["id"], channel=values["channel"], payload=dict(values["payload"] or {}), due_at=due,
        attempts=int(values["attempts"]), message_id=values["message_id"], contact_id=values["contact_id"],
        account_id=values["account_id"], program=values["program"], status=values["status"],
        last_error=values["last_error"],
    )


def _chunks(items: Sequence[Any], size: int = BATCH) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


_SENT_SQL = (
    "UPDATE outbox SET status = :sent, sent_at = :at, lease_until = NULL, last_error = NULL WHERE id = :key "
    "RETURNING contact_id, account_id, channel",
    "INSERT INTO engagement_events (event_id, message_key, contact_id, account_id, channel, kind, at, detail) "
    "VALUES (:event_id, :key, :contact_id, :account_id, :channel, 'sent', :at, :detail) "
    "ON CONFLICT (event_id) DO NOTHING",
)
"""`mark_sent`'s statements, with :name parameters (rewritten to %(name)s for drivers that want those)."""


def _bind_processor(column: Any, dialect: Dialect) -> Callable[[Any], Any]:
    """How SQLAlchemy converts a Python value for `column` before handing it to the driver (identity if not)."""
    process = column.type.dialect_impl(dialect).bind_processor(dialect)
    return process if process is not None else _identity


def _identity(value: Any) -> Any:
    return value


class OutboxStore:
    """Outbox, engagement events and suppressions on SQLite or PostgreSQL."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        # `mark_sent` runs once per message delivered, each in its own commit (the delivery guarantee). Through
        # SQLAlchemy Core that call cost more than writing the email (benchmarks/README.md, bench_email), so it
        # runs two fixed statements on the driver's cursor; the values are converted by the columns' own
        # SQLAlchemy types, so the rows are exactly what the Core path writes.
        dialect = engine.dialect
        named = dialect.paramstyle in ("pyformat", "format")  # psycopg; pysqlite also takes :name
        self._sent_sql = tuple(re.sub(r":(\w+)", r"%(\1)s", sql) if named else sql for sql in _SENT_SQL)
        self._bind_at = _bind_processor(tables.outbox.c.sent_at, dialect)
        self._no_detail = _bind_processor(tables.engagement_events.c.detail, dialect)(None)

    # ------------------------------------------------------------------ writing

    def _insert_ignore(self, conn: Connection, table: Any, rows: Sequence[Mapping[str, Any]], key: str) -> int:
        """Insert rows whose primary key is new; returns how many were inserted."""
        if not rows:
            return 0
        dialect_insert = postgresql.insert if self.dialect == "postgresql" else sqlite.insert
        stmt = dialect_insert(table).on_conflict_do_nothing(index_elements=[key]).returning(table.c[key])
        inserted = 0
        for chunk in _chunks(rows):
            inserted += len(conn.execute(stmt, list(chunk)).all())
        return inserted

    def enqueue(self, messages: Iterable[OutboxMessage], *, now: datetime) -> tuple[int, int]:
        """Add messages; a key already in the outbox is left alone. Returns (inserted, duplicates)."""
        rows = []
        for m in messages:
            if m.status not in (PENDING, HELD):
                raise ValueError(f"{m.key}: a new message is pending or held, not {m.status!r}")
            rows.append({
                "id": m.key, "channel": m.channel, "contact_id": m.contact_id, "account_id": m.account_id,
                "program": m.program, "payload": dict(m.payload), "due_at": _utc(m.due_at), "status": m.status,
                "attempts": 0, "last_error": None, "lease_until": None, "claimed_by": None,
                "message_id": message_id_for(m.key), "created_at": _utc(now), "sent_at": None,
            })
        with self.engine.begin() as conn:
            inserted = self._insert_ignore(conn, tables.outbox, rows, "id")
        return inserted, len(rows) - inserted

    def _claimable(self, now: datetime, channel: str | None) -> Any:
        out = tables.outbox
        claimable = or_(
            and_(out.c.status == PENDING, out.c.due_at <= now),
            and_(out.c.status == SENDING, out.c.lease_until <= now),
        )
        return claimable if channel is None else and_(claimable, out.c.channel == channel)

    def has_due(self, channel: str, now: datetime) -> bool:
        """Whether `claim` would find a row of `channel` at `now` (so a run opens no channel it does not need)."""
        out = tables.outbox
        query = select(out.c.id).where(self._claimable(_utc(now), channel)).limit(1)
        with self.engine.connect() as conn:
            return conn.execute(query).first() is not None

    def claim(self, worker: str, now: datetime, limit: int, lease_seconds: float,
              channel: str | None = None) -> list[OutboxRow]:
        """Lease up to `limit` due rows (pending, or sending with an expired lease) to `worker`, oldest first.

        Each claim counts as an attempt: a row whose dispatcher died was perhaps sent, so it is one.
        """
        now = _utc(now)
        out = tables.outbox
        lease = {"status": SENDING, "claimed_by": worker, "lease_until": now + timedelta(seconds=lease_seconds),
                 "attempts": out.c.attempts + 1}
        if self.dialect == "postgresql":
            pick = select(out.c.id).where(self._claimable(now, channel)).order_by(out.c.due_at, out.c.id).limit(limit)
            # SKIP LOCKED: concurrent dispatchers take disjoint rows instead of queueing on each other's locks.
            with self.engine.begin() as conn:
                keys = list(conn.execute(pick.with_for_update(skip_locked=True)).scalars())
                if not keys:
                    return []
                result = conn.execute(update(out).where(out.c.id.in_(keys)).values(**lease).returning(*out.c))
                rows = [_row(r) for r in result.mappings()]
        else:
            with self.engine.connect() as conn:
                # IMMEDIATE takes the write lock before reading: in WAL mode a deferred transaction that reads
                # and then writes fails with SQLITE_BUSY_SNAPSHOT (busy_timeout does not help) when another
                # dispatcher committed in between.
                conn.exec_driver_sql("BEGIN IMMEDIATE")
                result = conn.execute(update(out).where(out.c.id.in_(self._sqlite_pick(now, limit, channel)))
                                      .values(**lease).returning(*out.c))
                rows = [_row(r) for r in result.mappings()]
                conn.commit()
        return sorted(rows, key=lambda r: (r.due_at, r.key))

    def _sqlite_pick(self, now: datetime, limit: int, channel: str | None) -> Any:
        """The keys `claim` leases on SQLite: the `limit` oldest due rows, found by walking (status, due_at).

        The one-query form (an OR of both statuses, ORDER BY due_at, id) made SQLite collect and sort every due
        row on each claim: draining 100k messages in batches of 100 sorted 100k rows a thousand times. Each
        status is walked in due_at order through ix_outbox_status_due and stops after `limit` rows; rows due at
        the same instant come in the index's (insertion) order instead of by key.
        """
        out = tables.outbox
        on_channel = [] if channel is None else [out.c.channel == channel]
        parts = [
            select(out.c.id, out.c.due_at).where(out.c.status == status, cond, *on_channel)
            .order_by(out.c.due_at).limit(limit).subquery()
            for status, cond in ((PENDING, out.c.due_at <= now), (SENDING, out.c.lease_until <= now))
        ]
        due = union_all(*(select(part.c.id, part.c.due_at) for part in parts)).subquery()
        return select(due.c.id).order_by(due.c.due_at).limit(limit).scalar_subquery()

    def mark_sent(self, key: str, at: datetime) -> None:
        """The channel accepted the message: status sent, and a `sent` engagement event (once per key)."""
        stamp = self._bind_at(_utc(at))
        update_sql, event_sql = self._sent_sql
        conn = self.engine.raw_connection()
        try:
            cursor = conn.cursor()
            cursor.execute(update_sql, {"key": key, "at": stamp, "sent": SENT})
            row = cursor.fetchone()
            if row is None:
                conn.rollback()
                raise KeyError(key)
            contact_id, account_id, channel = row
            cursor.execute(event_sql, {"event_id": f"{key}:sent", "key": key, "contact_id": contact_id,
                                       "account_id": account_id, "channel": channel, "at": stamp,
                                       "detail": self._no_detail})
            cursor.close()
            conn.commit()
        finally:
            conn.close()  # back to the pool; an uncommitted transaction is rolled back there

    def mark_failed(self, key: str, error: str, retry_at: datetime | None, *, at: datetime,
                    hard_bounce: bool = False) -> None:
        """Record a failed send.

        With `retry_at` (transient): back to pending, due again at `retry_at`. Without: failed for good.
        A hard bounce also suppresses the address on this channel and records a `bounced` event.
        """
        at = _utc(at)
        out = tables.outbox
        values: dict[str, Any] = {"last_error": error[:2000], "lease_until": None}
        if retry_at is not None and not hard_bounce:
            values.update(status=PENDING, due_at=_utc(retry_at))
        else:
            values.update(status=FAILED)
        with self.engine.begin() as conn:
            row = conn.execute(
                update(out).where(out.c.id == key).values(**values)
                .returning(out.c.contact_id, out.c.account_id, out.c.channel, out.c.payload)
            ).first()
            if row is None:
                raise KeyError(key)
            if hard_bounce:
                email = (row.payload or {}).get("to")
                self._suppress(conn, row.contact_id, email, channel=row.channel,
                               reason=f"{HARD_BOUNCE_REASON}{error[:500]}", at=at)
                self._event(conn, f"{key}:bounced", message_key=key, contact_id=row.contact_id,
                            account_id=row.account_id, channel=row.channel, kind="bounced", at=at,
                            detail={"error": error[:2000]})

    def mark_suppressed(self, key: str, reason: str) -> None:
        """Not sent because the contact or address is suppressed."""
        out = tables.outbox
        with self.engine.begin() as conn:
            conn.execute(update(out).where(out.c.id == key)
                         .values(status=SUPPRESSED, last_error=reason, lease_until=None))

    def release(self, keys: Sequence[str]) -> None:
        """Give claimed rows back untouched (the channel went down before trying them): pending, attempt undone."""
        out = tables.outbox
        with self.engine.begin() as conn:
            for chunk in _chunks(list(keys)):
                conn.execute(update(out).where(out.c.id.in_(chunk), out.c.status == SENDING)
                             .values(status=PENDING, lease_until=None, claimed_by=None, attempts=out.c.attempts - 1))

    # ------------------------------------------------------------------ events and suppressions

    def _event(self, conn: Connection, event_id: str, *, message_key: str | None, contact_id: str | None,
               account_id: str | None, channel: str, kind: str, at: datetime, detail: Mapping[str, Any] | None,
               ) -> bool:
        if kind not in EVENT_KINDS:
            raise ValueError(f"unknown engagement event kind {kind!r}; expected one of {', '.join(EVENT_KINDS)}")
        row = {"event_id": event_id, "message_key": message_key, "contact_id": contact_id, "account_id": account_id,
               "channel": channel, "kind": kind, "at": _utc(at), "detail": dict(detail) if detail else None}
        return self._insert_ignore(conn, tables.engagement_events, [row], "event_id") == 1

    def record_event(self, event_id: str, *, kind: str, channel: str, at: datetime, message_key: str | None = None,
                     contact_id: str | None = None, account_id: str | None = None,
                     detail: Mapping[str, Any] | None = None) -> bool:
        """Record an engagement event; an `event_id` seen before is ignored (returns False)."""
        with self.engine.begin() as conn:
            return self._event(conn, event_id, message_key=message_key, contact_id=contact_id,
                               account_id=account_id, channel=channel, kind=kind, at=at, detail=detail)

    def _suppress(self, conn: Connection, contact_id: str | None, email: str | None, *, channel: str, reason: str,
                  at: datetime) -> int:
        rows = []
        if contact_id:
            rows.append({"suppression_id": f"contact:{contact_id}:{channel}", "contact_id": contact_id,
                         "email": None, "channel": channel, "reason": reason, "created_at": _utc(at)})
        if email:
            address = email.strip().lower()
            rows.append({"suppression_id": f"email:{address}:{channel}", "contact_id": None, "email": address,
                         "channel": channel, "reason": reason, "created_at": _utc(at)})
        return self._insert_ignore(conn, tables.suppressions, rows, "suppression_id")

    def suppress(self, *, reason: str, at: datetime, contact_id: str | None = None, email: str | None = None,
                 channel: str = ALL_CHANNELS) -> int:
        """Stop messages to a contact and/or an address on `channel` ('all' for every channel).

        A contact already suppressed there by a hard bounce takes the new reason: it shares the bounce's row,
        and an unsubscribe is what `PressureReader` must then report (the contact left, not just its address).
        """
        if not contact_id and not email:
            raise ValueError("suppress needs a contact_id or an email")
        sup = tables.suppressions
        with self.engine.begin() as conn:
            inserted = self._suppress(conn, contact_id, email, channel=channel, reason=reason, at=at)
            if contact_id:
                conn.execute(update(sup).where(sup.c.suppression_id == f"contact:{contact_id}:{channel}",
                                               sup.c.reason.startswith(HARD_BOUNCE_REASON, autoescape=True))
                             .values(reason=reason, created_at=_utc(at)))
            return inserted

    def suppressed(self, rows: Sequence[OutboxRow]) -> dict[str, str]:
        """Of `rows`, those whose contact or `to` address is suppressed on their channel: key -> reason."""
        sup = tables.suppressions
        contacts = {r.contact_id for r in rows if r.contact_id}
        emails = {str(r.payload["to"]).strip().lower() for r in rows if r.payload.get("to")}
        if not contacts and not emails:
            return {}
        found: dict[tuple[str, str, str], str] = {}
        with self.engine.connect() as conn:
            for column, values, kind in ((sup.c.contact_id, contacts, "contact"), (sup.c.email, emails, "email")):
                for chunk in _chunks(sorted(values)):
                    for s in conn.execute(select(sup).where(column.in_(chunk))).mappings():
                        found[(kind, s["contact_id"] or s["email"], s["channel"])] = s["reason"]
        out: dict[str, str] = {}
        for r in rows:
            email = str(r.payload.get("to") or "").strip().lower()
            for kind, value in (("contact", r.contact_id or ""), ("email", email)):
                reason = found.get((kind, value, r.channel)) or found.get((kind, value, ALL_CHANNELS))
                if value and reason is not None:
                    out[r.key] = f"suppressed {kind}: {reason}"
                    break
        return out

    # ------------------------------------------------------------------ reading

    def counts(self, channel: str | None = None) -> dict[str, int]:
        """Number of rows per status (every status present, zero when none)."""
        out = tables.outbox
        stmt = select(out.c.status, func.count()).group_by(out.c.status)
        if channel is not None:
            stmt = stmt.where(out.c.channel == channel)
        result = dict.fromkeys(STATUSES, 0)
        with self.engine.connect() as conn:
            for status, n in conn.execute(stmt):
                result[str(status)] = int(n)
        return result

    def get(self, key: str) -> OutboxRow | None:
        """The row with this key, whatever its status."""
        with self.engine.connect() as conn:
            row = conn.execute(select(tables.outbox).where(tables.outbox.c.id == key)).mappings().first()
        return None if row is None else _row(row)

    def events(self, message_key: str) -> list[dict[str, Any]]:
        """Engagement events of one message, oldest first."""
        ev = tables.engagement_events
        with self.engine.connect() as conn:
            rows = conn.execute(select(ev).where(ev.c.message_key == message_key).order_by(ev.c.at, ev.c.event_id))
            return [dict(r) for r in rows.mappings()]


class PressureReader:
    """What the contact policy needs from the outbox: recent messages, suppressions, engagement."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def recent(self, since: datetime, channels: Sequence[str] = ("email", "in_app")) -> list[dict[str, Any]]:
        """Messages that count against the caps: sent, being sent, or waiting, due from `since` on."""
        t = tables.outbox
        query = select(t.c.contact_id, t.c.account_id, t.c.channel, t.c.due_at, t.c.sent_at).where(
            t.c.channel.in_(list(channels)), t.c.status.in_([PENDING, SENDING, SENT]), t.c.due_at >= since)
        with self.engine.connect() as conn:
            return [{"contact_id": r.contact_id, "account_id": r.account_id, "channel": r.channel,
                     "at": _stored(r.sent_at or r.due_at)} for r in conn.execute(query)]

    def suppressions(self) -> tuple[dict[str, set[str]], set[str]]:
        """(contact -> channels it left, including 'all'; hard-bounced or suppressed email addresses).

        A hard bounce suppresses both the contact and the address (`mark_failed`), but the contact did not
        leave: its address failed. So the contact row of a bounce is not reported as the contact leaving (the
        journey engine would exit it as "unsubscribed"); the bounce is reported through its address, which the
        contact policy suppresses as "hard-bounced". The dispatcher still honours the contact row.
        """
        sup = tables.suppressions
        contacts: dict[str, set[str]] = {}
        emails: set[str] = set()
        with self.engine.connect() as conn:
            for s in conn.execute(select(sup.c.contact_id, sup.c.email, sup.c.channel, sup.c.reason)):
                if s.contact_id and not str(s.reason).startswith(HARD_BOUNCE_REASON):
                    contacts.setdefault(s.contact_id, set()).add(s.channel)
                if s.email:
                    emails.add(s.email.strip().lower())
        return contacts, emails

    def engagement(self, keys: Sequence[str]) -> dict[str, frozenset[str]]:
        """Message key -> the engagement kinds recorded for it."""
        ev = tables.engagement_events
        found: dict[str, set[str]] = {}
        with self.engine.connect() as conn:
            for chunk in _chunks(sorted(set(keys))):
                for r in conn.execute(select(ev.c.message_key, ev.c.kind).where(ev.c.message_key.in_(chunk))):
                    found.setdefault(r.message_key, set()).add(r.kind)
        return {k: frozenset(v) for k, v in found.items()}


def _stored(value: datetime) -> datetime:
    """A timestamp read back: SQLite returns it without an offset, and everything written here is UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
