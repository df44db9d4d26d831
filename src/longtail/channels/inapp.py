"""In-app messages: queued in the outbox, delivered when the product fetches them, engagement reported back.

A journey's `in_app` step enqueues an outbox row with channel `in_app` per contact (after the contact policy,
like email). No dispatcher pushes it (see longtail.dispatch): the product's page asks for the contact's
*pending* messages, which are the rows that are due, not expired (`expires_days` after due, default 14), not
dismissed or clicked, and not suppressed. The first fetch marks a row `sent` and records `sent` and
`delivered` engagement events, so caps and the report count it from then on.

The product reports `viewed`, `clicked` and `dismissed`. Each is recorded at most once per (message, action):
the engagement event id is `<message key>:<action>`. A new action is also landed in the warehouse as the
product event `longtail.inapp.<action>` (same event id, so compaction drops a copy), so it becomes features.

Authentication, two keys (both derived from the workspace signing secret, so nothing new to store):

- the **publishable key** (`publishable_key`) names the workspace in the browser; it is public, like a
  Stripe publishable key, and only says which workspace the request is for;
- the **contact token** (`contact_token`) proves which contact the page belongs to: an HMAC-SHA256 of the
  contact id under the **contact key** (`contact_key`). The product's backend holds the contact key and signs
  the logged-in user's contact id when it renders the page. The contact key is derived from the signing
  secret rather than being the secret itself, so the product never holds the key that signs unsubscribe and
  click links.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
from sqlalchemy import Engine, select

from longtail.errors import LongtailError
from longtail.store import tables
from longtail.store.outbox import PENDING, SENT, OutboxRow, OutboxStore
from longtail.warehouse.events import Warehouse, events_schema

CHANNEL = "in_app"
Action = Literal["viewed", "clicked", "dismissed"]
ACTIONS: tuple[Action, ...] = ("viewed", "clicked", "dismissed")
CLOSING_ACTIONS = frozenset({"clicked", "dismissed"})
"""After these the message is no longer pending: the contact acted on it or put it away."""
DEFAULT_EXPIRES_DAYS = 14.0
EVENT_PREFIX = "longtail.inapp."
_PUBLISHABLE_LABEL = b"longtail-inapp-publishable-v1"
_CONTACT_LABEL = b"longtail-inapp-contact-v1"

Landing = Callable[[Sequence[Mapping[str, Any]]], None]
"""Writes product events (rows of the events contract) into the warehouse landing folder."""


class InAppAuthError(LongtailError):
    """Wrong publishable key, or a contact token that does not match the contact."""

    exit_code = 2


class UnknownMessage(LongtailError):
    """No in-app message with this id for this contact."""

    exit_code = 2


def _hmac(key: str, message: bytes) -> str:
    return hmac.new(key.encode("utf-8"), message, hashlib.sha256).hexdigest()


def publishable_key(signing_secret: str) -> str:
    """The workspace's public in-app key: `pk_` and 32 hex digits derived one-way from the signing secret."""
    return "pk_" + _hmac(signing_secret, _PUBLISHABLE_LABEL)[:32]


def contact_key(signing_secret: str) -> str:
    """The key the product's backend uses to sign contact ids (never sent to a browser)."""
    return _hmac(signing_secret, _CONTACT_LABEL)


def contact_token(key: str, contact_id: str) -> str:
    """The contact token: hex HMAC-SHA256 of the contact id under the contact key."""
    return _hmac(key, contact_id.encode("utf-8"))


@dataclass(frozen=True)
class InAppMessage:
    """A pending message as the product sees it."""

    id: str
    title: str
    body: str
    cta_label: str | None
    cta_url: str | None
    due_at: datetime
    expires_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "body": self.body, "cta_label": self.cta_label,
                "cta_url": self.cta_url, "due_at": self.due_at.isoformat(), "expires_at": self.expires_at.isoformat()}


def _expires_at(due: datetime, payload: Mapping[str, Any]) -> datetime:
    days = payload.get("expires_days")
    return due + timedelta(days=float(days) if isinstance(days, int | float) and days > 0 else DEFAULT_EXPIRES_DAYS)


def _aware(value: datetime) -> datetime:
    # SQLite hands back naive UTC; PostgreSQL an aware value.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


class InAppInbox:
    """Fetch and engagement for in-app messages, over the outbox tables."""

    def __init__(self, engine: Engine, signing_secret: str, landing: Landing | None = None) -> None:
        self.engine = engine
        self.store = OutboxStore(engine)
        self.publishable = publishable_key(signing_secret)
        self.contact_key = contact_key(signing_secret)
        self.landing = landing

    def authenticate(self, key: str, contact_id: str, token: str) -> None:
        """Raise InAppAuthError unless `key` is the publishable key and `token` signs `contact_id`."""
        if not hmac.compare_digest(key.encode("utf-8"), self.publishable.encode("utf-8")):
            raise InAppAuthError("unknown publishable key")
        if not contact_id or not hmac.compare_digest(token.encode("utf-8"),
                                                     contact_token(self.contact_key, contact_id).encode("utf-8")):
            raise InAppAuthError("the contact token does not match the contact")

    def _rows(self, contact_id: str, now: datetime, key: str | None = None) -> list[OutboxRow]:
        out = tables.outbox
        query = select(out).where(out.c.channel == CHANNEL, out.c.contact_id == contact_id,
                                  out.c.status.in_([PENDING, SENT]), out.c.due_at <= now)
        if key is not None:
            query = query.where(out.c.id == key)
        with self.engine.connect() as conn:
            found = conn.execute(query.order_by(out.c.due_at, out.c.id)).mappings().all()
        return [OutboxRow(key=r["id"], channel=r["channel"], payload=dict(r["payload"] or {}),
                          due_at=_aware(r["due_at"]), attempts=int(r["attempts"]), message_id=r["message_id"],
                          contact_id=r["contact_id"], account_id=r["account_id"], program=r["program"],
                          status=r["status"], last_error=r["last_error"]) for r in found]

    def _closed(self, keys: Sequence[str]) -> set[str]:
        ev = tables.engagement_events
        if not keys:
            return set()
        with self.engine.connect() as conn:
            rows = conn.execute(select(ev.c.message_key).where(ev.c.message_key.in_(list(keys)),
                                                               ev.c.kind.in_(sorted(CLOSING_ACTIONS))))
            return {str(r.message_key) for r in rows}

    def pending(self, contact_id: str, now: datetime) -> list[InAppMessage]:
        """The contact's messages to show now, oldest first; the first fetch of each marks it delivered."""
        rows = [r for r in self._rows(contact_id, now) if now < _expires_at(r.due_at, r.payload)]
        blocked = self.store.suppressed(rows)
        for key, reason in blocked.items():
            self.store.mark_suppressed(key, reason)
        closed = self._closed([r.key for r in rows])
        shown = [r for r in rows if r.key not in blocked and r.key not in closed]
        for r in shown:
            if r.status == PENDING:
                self.store.mark_sent(r.key, now)
                self.store.record_event(f"{r.key}:delivered", kind="delivered", channel=CHANNEL, at=now,
                                        message_key=r.key, contact_id=r.contact_id, account_id=r.account_id)
        return [InAppMessage(r.key, str(r.payload.get("title") or ""), str(r.payload.get("body") or ""),
                             r.payload.get("cta_label"), r.payload.get("cta_url"), r.due_at,
                             _expires_at(r.due_at, r.payload)) for r in shown]

    def record(self, contact_id: str, message_id: str, action: str, now: datetime) -> bool:
        """Record `action` on the contact's message; False when it was already recorded (at most once)."""
        if action not in ACTIONS:
            raise UnknownMessage(f"unknown action {action!r}; expected one of {', '.join(ACTIONS)}")
        rows = self._rows(contact_id, now, key=message_id)
        if not rows:
            # Also for another contact's message: the caller learns nothing about ids it does not own.
            raise UnknownMessage(f"no in-app message {message_id!r} for this contact")
        row = rows[0]
        event_id = f"{row.key}:{action}"
        if any(e["event_id"] == event_id for e in self.store.events(row.key)):
            return False
        if self.landing is not None and row.account_id:
            # Land before recording: landing again is harmless (compaction de-duplicates on event_id), while
            # recording first and crashing before landing would lose the feature event for good.
            self.landing([{"event_id": event_id, "account_id": row.account_id, "contact_id": row.contact_id,
                           "event": EVENT_PREFIX + action, "ts": now, "value": None,
                           "properties": json.dumps({"message": row.key, "journey": row.program,
                                                     "step": row.payload.get("step")}, sort_keys=True)}])
        return self.store.record_event(event_id, kind=action, channel=CHANNEL, at=now, message_key=row.key,
                                       contact_id=row.contact_id, account_id=row.account_id)


def warehouse_landing(warehouse_url: str, state_dir: Path) -> Landing:
    """A Landing that writes one Parquet file per call into the workspace's event landing folder."""
    warehouse = Warehouse(warehouse_url, state_dir)

    def land(rows: Sequence[Mapping[str, Any]]) -> None:
        landing = warehouse.open_landing()
        try:
            landing.write(pa.Table.from_pylist([dict(r) for r in rows], schema=events_schema()))
        finally:
            landing.close()

    return land
