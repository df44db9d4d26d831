"""Re-entry policies: once, after_days (boundary inclusive), every_time; an active enrollment always blocks."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from longtail.core.journeys.engine import may_enter
from longtail.core.journeys.model import Journey
from tests.journeys.helpers import T0, days, journey_yaml, load_one, start

STEPS = "      - {id: hello, type: email, template: welcome}\n"


def journey_with(policy: str) -> Journey:
    journey, _ = load_one(journey_yaml(STEPS, header=f"    re_entry: {policy}\n"))
    return journey


def test_first_entry_is_allowed_for_every_policy() -> None:
    for policy in ("{policy: once}", "{policy: every_time}", "{policy: after_days, days: 30}"):
        assert may_enter(journey_with(policy), [], T0) == (True, "first entry")


@pytest.mark.parametrize("policy", ["{policy: once}", "{policy: every_time}", "{policy: after_days, days: 1}"])
def test_an_active_enrollment_blocks_entry(policy: str) -> None:
    journey = journey_with(policy)
    active = start(journey)
    allowed, reason = may_enter(journey, [active], days(400))
    assert not allowed and reason == "already in the journey"


def test_once_refuses_after_any_earlier_enrollment() -> None:
    journey = journey_with("{policy: once}")
    done = replace(start(journey), status="completed")
    assert may_enter(journey, [done], days(3_000))[0] is False
    assert may_enter(journey, [replace(done, status="exited")], days(3_000))[0] is False


def test_default_policy_is_once() -> None:
    journey, _ = load_one(journey_yaml(STEPS))
    assert may_enter(journey, [replace(start(journey), status="completed")], days(3_000))[0] is False


def test_every_time_allows_as_soon_as_nothing_is_active() -> None:
    journey = journey_with("{policy: every_time}")
    done = replace(start(journey), status="exited")
    assert may_enter(journey, [done], T0)[0] is True


def test_after_days_boundary_counts_from_the_latest_entry() -> None:
    journey = journey_with("{policy: after_days, days: 30}")
    old = replace(start(journey, now=days(-100)), status="completed")
    last = replace(start(journey, now=T0), status="completed")
    history = [last, old]
    assert may_enter(journey, history, days(30) - timedelta(seconds=1))[0] is False
    assert may_enter(journey, history, days(30))[0] is True
    assert may_enter(journey, history, days(31))[0] is True


def test_after_days_blocked_even_when_an_older_one_is_long_ago_and_active_blocks_first() -> None:
    journey = journey_with("{policy: after_days, days: 30}")
    old_active = start(journey, now=days(-100))
    assert may_enter(journey, [old_active], days(500))[0] is False
