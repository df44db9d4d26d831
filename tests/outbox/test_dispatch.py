"""The dispatch loop with a scripted channel: outcomes, back-off, attempts, suppression, a channel that is down."""

from __future__ import annotations

from datetime import timedelta

import pytest

from longtail.channels import ChannelDown, HardBounce, PermanentError, TransientError
from longtail.dispatch import BACKOFF_BASE, BACKOFF_CAP, backoff, dispatch
from longtail.store.outbox import OutboxRow, OutboxStore
from tests.outbox.helpers import T0, Clock, FakeChannel, msg


def test_backoff_doubles_up_to_the_cap() -> None:
    assert [backoff(n) for n in (1, 2, 3)] == [BACKOFF_BASE, 2 * BACKOFF_BASE, 4 * BACKOFF_BASE]
    assert backoff(50) == BACKOFF_CAP
    with pytest.raises(ValueError):
        backoff(0)


def test_dispatch_sends_everything_due_and_closes_the_channel(store: OutboxStore) -> None:
    store.enqueue([msg(i) for i in range(25)] + [msg(99, due=T0 + timedelta(days=1))], now=T0)
    channel = FakeChannel()
    counts = dispatch(store, channel, "w", Clock(), batch=10)
    assert (counts.claimed, counts.sent) == (25, 25)
    assert len({r.key for r in channel.sent}) == 25 and channel.closed == 1
    assert store.counts()["sent"] == 25 and store.counts()["pending"] == 1


def test_one_batch_without_until_empty(store: OutboxStore) -> None:
    store.enqueue([msg(i) for i in range(25)], now=T0)
    counts = dispatch(store, FakeChannel(), "w", Clock(), batch=10, until_empty=False)
    assert counts.sent == 10 and store.counts()["pending"] == 15


def test_transient_errors_back_off_then_fail_after_max_attempts(store: OutboxStore) -> None:
    store.enqueue([msg(1)], now=T0)
    clock = Clock()
    channel = FakeChannel(lambda row: TransientError("451 later"))
    retry_times = []
    for _ in range(3):
        counts = dispatch(store, channel, "w", clock, max_attempts=3)
        row = store.get(msg(1).key)
        assert row is not None
        if row.status == "pending":
            assert counts.retried == 1
            retry_times.append(row.due_at - clock.now)
            # Nothing is due before the back-off ends.
            clock.advance(seconds=(row.due_at - clock.now).total_seconds() - 1)
            assert dispatch(store, channel, "w", clock).claimed == 0
            clock.advance(seconds=1)
    assert retry_times == [backoff(1), backoff(2)]
    row = store.get(msg(1).key)
    assert row is not None and row.status == "failed" and "gave up after 3 attempts" in (row.last_error or "")
    assert channel.calls == 3


def test_a_row_claimed_too_often_fails_without_another_send(store: OutboxStore) -> None:
    store.enqueue([msg(1)], now=T0)
    clock = Clock()
    for _ in range(2):  # two dispatchers died holding it
        store.claim("dead", clock.now, 10, 60)
        clock.advance(seconds=61)
    channel = FakeChannel()
    counts = dispatch(store, channel, "w", clock, max_attempts=2)
    assert counts.failed == 1 and channel.calls == 0


def test_permanent_error_and_hard_bounce(store: OutboxStore) -> None:
    store.enqueue([msg(1), msg(2), msg(3)], now=T0)

    def script(row: OutboxRow) -> Exception | None:
        return {"c1": PermanentError("554 no"), "c2": HardBounce("550 no such user")}.get(row.contact_id or "")

    counts = dispatch(store, FakeChannel(script), "w", Clock())
    assert (counts.sent, counts.failed, counts.bounced) == (1, 1, 1)
    # The bounced address is suppressed: a later message to it is not sent.
    store.enqueue([msg(7, to="user2@example.com", due=T0 + timedelta(days=1))], now=T0)
    channel = FakeChannel()
    later = dispatch(store, channel, "w", Clock(T0 + timedelta(days=1)))
    assert later.suppressed == 1 and channel.sent == []
    assert store.counts()["suppressed"] == 1


def test_channel_down_stops_and_gives_the_batch_back(store: OutboxStore) -> None:
    store.enqueue([msg(i) for i in range(5)], now=T0)
    channel = FakeChannel(lambda row: ChannelDown("connection refused"))
    counts = dispatch(store, channel, "w", Clock(), batch=5)
    assert channel.calls == 1 and counts.retried == 1 and counts.released == 4
    assert counts.stopped == "connection refused" and channel.closed == 1
    assert store.counts()["pending"] == 5
    # The released rows are due now, with their attempt undone; the tried one waits for its back-off.
    assert [r.attempts for r in store.claim("w", T0, 10, 60)] == [1, 1, 1, 1]
