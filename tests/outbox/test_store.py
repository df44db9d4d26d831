"""OutboxStore on SQLite and PostgreSQL: idempotent enqueue, claims and leases, outcomes, suppressions."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import Engine, inspect, select, text

from longtail.store.db import current_revision, head_revision
from longtail.store.outbox import OutboxStore, message_id_for, message_key
from longtail.store.tables import OUTBOX_TABLES, outbox
from tests.outbox.helpers import T0, msg


def test_migration_0005_matches_the_outbox_tables(sqlite_engine: Engine) -> None:
    assert current_revision(sqlite_engine) == head_revision()
    inspector = inspect(sqlite_engine)
    for table in OUTBOX_TABLES.values():
        migrated = {c["name"]: (str(c["type"]), c["nullable"]) for c in inspector.get_columns(table.name)}
        declared = {c.name: (str(c.type.compile(sqlite_engine.dialect)), c.nullable) for c in table.columns}
        assert migrated == declared, table.name
    assert {i["name"] for i in inspector.get_indexes("outbox")} == {"ix_outbox_status_due", "ix_outbox_account_id"}


def test_keys_and_message_ids_are_deterministic() -> None:
    key = message_key("j", "e1", "s1", "c1", "2026-03-02")
    assert key == message_key("j", "e1", "s1", "c1", "2026-03-02")
    assert key != message_key("j", "e1", "s1", "c1", "2026-03-03")
    assert message_id_for(key) == message_id_for(key)
    assert message_id_for(key).endswith("@longtail>") and message_id_for(key).startswith("<")


def test_enqueue_twice_keeps_one_row(store: OutboxStore) -> None:
    first = [msg(i) for i in range(5)]
    assert store.enqueue(first, now=T0) == (5, 0)
    again = [msg(i) for i in range(7)] + [msg(6)]  # a repeated plan, two new keys, one repeated in the call
    assert store.enqueue(again, now=T0 + timedelta(hours=1)) == (2, 6)
    assert store.counts() == {"pending": 7, "sending": 0, "sent": 0, "failed": 0, "suppressed": 0, "held": 0}


def test_enqueue_does_not_reset_a_sent_row(store: OutboxStore) -> None:
    store.enqueue([msg(1)], now=T0)
    [row] = store.claim("w", T0, 10, 60)
    store.mark_sent(row.key, T0)
    store.enqueue([msg(1)], now=T0 + timedelta(days=1))
    got = store.get(row.key)
    assert got is not None and got.status == "sent"


def test_claim_takes_due_rows_oldest_first_and_leases_them(store: OutboxStore) -> None:
    store.enqueue([msg(i, due=T0 + timedelta(minutes=i)) for i in range(5)], now=T0)
    store.enqueue([msg(9, due=T0 - timedelta(minutes=1), status="held")], now=T0)
    rows = store.claim("w1", T0 + timedelta(minutes=2), 10, 60)
    assert [r.due_at for r in rows] == [T0, T0 + timedelta(minutes=1), T0 + timedelta(minutes=2)]
    assert all(r.attempts == 1 and r.status == "sending" for r in rows)
    assert rows[0].message_id == message_id_for(rows[0].key)
    # Leased rows are not claimable while the lease runs; held rows never are.
    assert store.claim("w2", T0 + timedelta(minutes=2, seconds=30), 10, 60) == []
    assert store.counts()["sending"] == 3 and store.counts()["held"] == 1


def test_an_expired_lease_makes_the_row_claimable_again(store: OutboxStore) -> None:
    store.enqueue([msg(1)], now=T0)
    [first] = store.claim("dead-worker", T0, 10, 60)
    assert store.claim("w2", T0 + timedelta(seconds=59), 10, 60) == []
    [again] = store.claim("w2", T0 + timedelta(seconds=60), 10, 60)
    assert again.key == first.key and again.message_id == first.message_id and again.attempts == 2
    with store.engine.connect() as conn:
        assert conn.execute(select(outbox.c.claimed_by).where(outbox.c.id == first.key)).scalar() == "w2"


def test_claim_respects_limit_and_channel(store: OutboxStore) -> None:
    store.enqueue([msg(i) for i in range(5)], now=T0)
    assert len(store.claim("w", T0, 2, 60)) == 2
    assert store.claim("w", T0, 10, 60, channel="sms") == []
    assert len(store.claim("w", T0, 10, 60, channel="email")) == 3


def test_transient_failure_goes_back_to_pending_until_retry_time(store: OutboxStore) -> None:
    store.enqueue([msg(1)], now=T0)
    [row] = store.claim("w", T0, 10, 60)
    store.mark_failed(row.key, "451 try later", T0 + timedelta(minutes=5), at=T0)
    assert store.claim("w", T0 + timedelta(minutes=4), 10, 60) == []
    [retry] = store.claim("w", T0 + timedelta(minutes=5), 10, 60)
    assert retry.attempts == 2 and retry.last_error == "451 try later"


def test_permanent_failure_is_final(store: OutboxStore) -> None:
    store.enqueue([msg(1)], now=T0)
    [row] = store.claim("w", T0, 10, 60)
    store.mark_failed(row.key, "554 refused", None, at=T0)
    assert store.claim("w", T0 + timedelta(days=30), 10, 60) == []
    assert store.counts()["failed"] == 1


def test_hard_bounce_suppresses_and_records_an_event(store: OutboxStore) -> None:
    store.enqueue([msg(1, to="Bob@Example.com"), msg(2, to="bob@example.com", contact="c-other")], now=T0)
    first, second = store.claim("w", T0, 10, 60)
    store.mark_failed(first.key, "550 no such user", T0 + timedelta(minutes=1), at=T0, hard_bounce=True)
    got = store.get(first.key)
    assert got is not None and got.status == "failed"
    assert [e["kind"] for e in store.events(first.key)] == ["bounced"]
    # The same address under another contact is suppressed too (addresses compare case-insensitively).
    assert set(store.suppressed([first, second])) == {first.key, second.key}


def test_sent_records_one_event_even_if_marked_twice(store: OutboxStore) -> None:
    store.enqueue([msg(1)], now=T0)
    [row] = store.claim("w", T0, 10, 60)
    store.mark_sent(row.key, T0)
    store.mark_sent(row.key, T0 + timedelta(seconds=1))
    assert [e["kind"] for e in store.events(row.key)] == ["sent"]
    got = store.get(row.key)
    assert got is not None and got.status == "sent"


def test_record_event_is_idempotent_and_checks_the_kind(store: OutboxStore) -> None:
    assert store.record_event("ev1", kind="opened", channel="email", at=T0, message_key="k") is True
    assert store.record_event("ev1", kind="opened", channel="email", at=T0, message_key="k") is False
    with pytest.raises(ValueError, match="unknown engagement event kind"):
        store.record_event("ev2", kind="liked", channel="email", at=T0)


def test_suppression_by_channel_or_all(store: OutboxStore) -> None:
    store.enqueue([msg(1), msg(2), msg(3)], now=T0)
    rows = store.claim("w", T0, 10, 60)
    store.suppress(contact_id="c1", channel="email", reason="unsubscribed", at=T0)
    store.suppress(contact_id="c2", channel="sms", reason="unsubscribed", at=T0)
    store.suppress(email="user3@example.com", reason="complaint", at=T0)
    by_contact = {r.contact_id: r.key for r in rows}
    blocked = store.suppressed(rows)
    assert set(blocked) == {by_contact["c1"], by_contact["c3"]}
    assert "complaint" in blocked[by_contact["c3"]]


def test_release_undoes_the_claim(store: OutboxStore) -> None:
    store.enqueue([msg(1)], now=T0)
    [row] = store.claim("w", T0, 10, 60)
    store.release([row.key])
    [again] = store.claim("w", T0, 10, 60)
    assert again.attempts == 1


@pytest.mark.parametrize("engine", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
                         indirect=True)
def test_concurrent_claimers_never_share_a_row(engine: Engine) -> None:
    store = OutboxStore(engine)
    store.enqueue([msg(i) for i in range(300)], now=T0)
    got: dict[str, list[str]] = {"a": [], "b": []}
    errors: list[BaseException] = []

    def worker(name: str) -> None:
        try:
            while rows := store.claim(name, T0, 7, 600):
                got[name].extend(r.key for r in rows)
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in got]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert not set(got["a"]) & set(got["b"])
    assert len(got["a"]) + len(got["b"]) == 300


@pytest.mark.postgres
def test_postgres_claim_skips_rows_locked_by_another_claimer(pg_engine: Engine) -> None:
    store = OutboxStore(pg_engine)
    store.enqueue([msg(i, due=T0 + timedelta(seconds=i)) for i in range(6)], now=T0)
    with pg_engine.connect() as other:
        # Another dispatcher is in the middle of claiming the three oldest rows.
        locked = other.execute(text("SELECT id FROM outbox ORDER BY due_at LIMIT 3 FOR UPDATE")).scalars().all()
        rows = store.claim("w", T0 + timedelta(minutes=1), 10, 60)
        other.rollback()
    assert len(locked) == 3
    assert {r.key for r in rows}.isdisjoint(locked) and len(rows) == 3
