"""Human moves: legal ones change the CTA as expected, illegal ones are refused with a clear message."""

from __future__ import annotations

from datetime import timedelta

import pytest

from longtail.core.motion.ctas import (
    CreateFollowUp,
    CtaTransitionError,
    approve,
    cancel,
    complete,
    escalate,
    plan_follow_up,
    snooze,
    start,
)
from longtail.errors import LongtailError
from tests.motion_ctas.helpers import D0, cta, req

D1 = D0 + timedelta(days=1)


def test_snooze_then_start_early() -> None:
    snoozed = snooze(cta(), D0 + timedelta(days=7), "customer on holiday", D1)
    assert (snoozed.status, snoozed.snoozed_until, snoozed.snooze_reason) == ("snoozed", D0 + timedelta(days=7),
                                                                              "customer on holiday")
    assert snoozed.updated_on == D1
    started = start(snoozed, D1)
    assert (started.status, started.snoozed_until) == ("in_progress", None)


def test_snooze_needs_a_reason_and_a_later_day() -> None:
    with pytest.raises(CtaTransitionError, match="snooze needs a reason"):
        snooze(cta(), D0 + timedelta(days=3), "  ", D1)
    with pytest.raises(CtaTransitionError, match="must be after"):
        snooze(cta(), D1, "later", D1)


@pytest.mark.parametrize("status", ["done", "cancelled"])
def test_closed_ctas_cannot_move(status: str) -> None:
    closed = cta(status=status, closed_on=D0)
    with pytest.raises(CtaTransitionError, match=f"cannot snooze CTA c1: it is {status}"):
        snooze(closed, D0 + timedelta(days=3), "x", D1)
    for move in (lambda c: start(c, D1), lambda c: complete(c, D1), lambda c: cancel(c, D1, "x"),
                 lambda c: approve(c, D1), lambda c: escalate(c, "lead", D1, "x")):
        with pytest.raises(CtaTransitionError):
            move(closed)


def test_held_ctas_must_be_approved_before_work() -> None:
    held = cta(status="held")
    with pytest.raises(CtaTransitionError, match="approve it first"):
        start(held, D1)
    assert approve(held, D1).status == "open"
    assert cancel(held, D1, "bad rule").status == "cancelled"
    with pytest.raises(CtaTransitionError, match="cannot approve CTA c1: it is open"):
        approve(cta(), D1)


def test_moves_cannot_predate_the_cta() -> None:
    with pytest.raises(CtaTransitionError, match="was created on"):
        start(cta(), D0 - timedelta(days=1))


def test_transition_errors_are_usage_errors_for_the_cli() -> None:
    assert issubclass(CtaTransitionError, LongtailError)
    assert CtaTransitionError.exit_code == 2


def test_complete_without_follow_up() -> None:
    closed, follow = complete(start(cta(), D0), D1, "called them")
    assert (closed.status, closed.closed_on, closed.close_reason) == ("done", D1, "called them")
    assert follow is None
    assert complete(cta(), D1)[0].close_reason == "completed"


def test_complete_creates_the_follow_up_request() -> None:
    original = cta(req(follow_up_days=7))
    closed, follow = complete(original, D1, None)
    assert follow is not None
    assert follow.due == D1 + timedelta(days=7)
    assert follow.follow_up_days is None  # a follow-up does not chain forever
    assert follow.key != original.key
    effect = plan_follow_up(closed, follow, D1)
    assert isinstance(effect, CreateFollowUp)
    assert effect.follow_up_of == "c1"
    assert str(follow.due) in effect.reason


def test_cancel_needs_a_reason() -> None:
    with pytest.raises(CtaTransitionError, match="cancel needs a reason"):
        cancel(cta(), D1, "")


def test_escalate() -> None:
    owned = cta(owner_id="m1")
    up = escalate(owned, "lead1", D1, "exec sponsor left")
    assert (up.escalated_to, up.status, up.owner_id) == ("lead1", "open", "m1")
    woke = escalate(snooze(owned, D0 + timedelta(days=9), "wait", D0), "lead1", D1, "urgent now")
    assert (woke.status, woke.snoozed_until) == ("open", None)
    with pytest.raises(CtaTransitionError, match="its own owner"):
        escalate(owned, "m1", D1, "x")
    with pytest.raises(CtaTransitionError, match="escalate needs a reason"):
        escalate(owned, "lead1", D1, "")
