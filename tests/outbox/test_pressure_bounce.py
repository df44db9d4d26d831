"""PressureReader reports a hard bounce as a bounce of the address, not as the contact unsubscribing.

A hard bounce suppresses both the contact and its address in the store (the dispatcher must stop either way),
but the journeys read the contact map as "left": a bounced contact would exit as "unsubscribed" and the contact
policy would give the wrong reason.
"""

from __future__ import annotations

from datetime import timedelta

from longtail.core.journeys.policy import Candidate, ContactPolicyConfig, History, arbitrate
from longtail.store.outbox import OutboxStore, PressureReader
from tests.outbox.helpers import T0, msg


def _history(reader: PressureReader) -> History:
    # As the daily run builds it (longtail.runner.journeys).
    unsubscribed, bounced = reader.suppressions()
    return History(unsubscribed={c: set(ch) for c, ch in unsubscribed.items()}, hard_bounced=frozenset(bounced))


def test_a_hard_bounce_with_a_contact_is_a_bounce_not_an_unsubscribe(store: OutboxStore) -> None:
    store.enqueue([msg(1, to="Gone@Example.com", contact="c1")], now=T0)
    [row] = store.claim("w", T0, 10, 60)
    store.mark_failed(row.key, "550 5.1.1 no such user", None, at=T0, hard_bounce=True)
    reader = PressureReader(store.engine)
    assert reader.suppressions() == ({}, {"gone@example.com"})
    # The dispatcher still stops the next message to that contact (the contact row is kept).
    assert store.suppressed([row]) == {row.key: "suppressed contact: hard bounce: 550 5.1.1 no such user"}
    # The contact policy says why: the address bounced.
    candidate = Candidate(key="k2", contact_id="c1", account_id="a1", channel="email", priority=50,
                          due=T0 + timedelta(days=1), program="onboarding", contact_tz=None, role=None,
                          email="gone@example.com")
    [verdict] = arbitrate([candidate], _history(reader), ContactPolicyConfig().to_policy("UTC"), T0)
    assert (verdict.action, verdict.rule) == ("suppress", "hard_bounced")


def test_unsubscribes_and_bounces_side_by_side(store: OutboxStore) -> None:
    store.enqueue([msg(1, to="gone@example.com", contact="c1")], now=T0)
    [row] = store.claim("w", T0, 10, 60)
    store.mark_failed(row.key, "551 user not local", None, at=T0, hard_bounce=True)
    store.suppress(reason="unsubscribed from message m9", at=T0, contact_id="c2", channel="email")
    store.suppress(reason="opted out by the admin", at=T0, contact_id="c3")
    store.suppress(reason="spam trap", at=T0, email="Trap@Example.com")
    contacts, emails = PressureReader(store.engine).suppressions()
    assert contacts == {"c2": {"email"}, "c3": {"all"}}
    assert emails == {"gone@example.com", "trap@example.com"}


def test_a_transient_failure_suppresses_nothing(store: OutboxStore) -> None:
    store.enqueue([msg(1, contact="c1")], now=T0)
    [row] = store.claim("w", T0, 10, 60)
    store.mark_failed(row.key, "452 mailbox full", T0 + timedelta(minutes=1), at=T0)
    assert PressureReader(store.engine).suppressions() == ({}, set())


def test_an_unsubscribe_after_a_bounce_is_reported_as_an_unsubscribe(store: OutboxStore) -> None:
    store.enqueue([msg(1, to="gone@example.com", contact="c1")], now=T0)
    [row] = store.claim("w", T0, 10, 60)
    store.mark_failed(row.key, "550 no such user", None, at=T0, hard_bounce=True)
    # An earlier email's unsubscribe link, followed after the address stopped working.
    store.suppress(reason="unsubscribed from message m0", at=T0 + timedelta(hours=1), contact_id="c1",
                   channel="email")
    assert PressureReader(store.engine).suppressions() == ({"c1": {"email"}}, {"gone@example.com"})
