"""The dispatcher's hot path in OutboxStore (driver-level `mark_sent`, the SQLite claim) on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from longtail.store.outbox import OutboxStore
from longtail.store.tables import engagement_events, outbox
from tests.outbox.helpers import T0, msg


def _utc(value: datetime) -> datetime:
    """SQLite gives naive UTC back, PostgreSQL an aware value in the session's zone."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def test_mark_sent_writes_what_the_core_path_reads_back(store: OutboxStore) -> None:
    store.enqueue([msg(1)], now=T0)
    [row] = store.claim("w", T0, 10, 60)
    at = T0 + timedelta(seconds=5, microseconds=7)
    store.mark_sent(row.key, at)
    store.mark_sent(row.key, at + timedelta(minutes=1))  # a second report moves sent_at, keeps the first event
    sent = store.get(row.key)
    assert sent is not None and sent.status == "sent" and sent.last_error is None
    [event] = store.events(row.key)
    assert (event["event_id"], event["kind"], event["channel"], event["detail"]) == (f"{row.key}:sent", "sent",
                                                                                     "email", None)
    assert (event["contact_id"], event["account_id"]) == (row.contact_id, row.account_id)
    assert _utc(event["at"]) == at
    with store.engine.connect() as conn:
        [(sent_at, lease)] = conn.execute(select(outbox.c.sent_at, outbox.c.lease_until)).all()
        assert (_utc(sent_at), lease) == (at + timedelta(minutes=1), None)
        assert conn.execute(select(engagement_events.c.detail).where(engagement_events.c.detail.is_(None))).all() == []


def test_mark_sent_of_an_unknown_key_raises_and_writes_nothing(store: OutboxStore) -> None:
    with pytest.raises(KeyError):
        store.mark_sent("ob_nope", T0)
    with store.engine.connect() as conn:
        assert conn.execute(select(engagement_events)).all() == []
    store.enqueue([msg(1)], now=T0)  # the pooled connection is usable afterwards
    [row] = store.claim("w", T0, 1, 60)
    store.mark_sent(row.key, T0)
    assert store.counts()["sent"] == 1


def test_claims_take_the_oldest_due_rows_across_pending_and_expired_leases(store: OutboxStore) -> None:
    store.enqueue([msg(i, due=T0 + timedelta(minutes=i)) for i in range(6)], now=T0)
    [oldest] = store.claim("dead", T0 + timedelta(minutes=10), 1, 60)  # msg 0, leased until +11 min
    assert oldest.key == msg(0).key
    later = T0 + timedelta(minutes=12)  # the lease expired: msg 0 competes with the pending rows again
    assert [r.key for r in store.claim("w", later, 3, 60)] == [msg(i, due=T0 + timedelta(minutes=i)).key
                                                               for i in range(3)]
    assert [r.key for r in store.claim("w", later, 10, 60, channel="email")] == [
        msg(i, due=T0 + timedelta(minutes=i)).key for i in range(3, 6)]
    assert store.claim("w", later, 10, 60) == []
    assert store.claim("w", later + timedelta(minutes=2), 10, 60, channel="sms") == []
