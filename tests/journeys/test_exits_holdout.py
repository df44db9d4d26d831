"""Exits are checked first on every tick (also in waits); holdout contacts walk the same path with no effects."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping

import pytest

from longtail.core.expressions import Condition
from longtail.core.journeys.engine import Enrollment, RequestCta, enroll, in_holdout
from longtail.core.journeys.model import Journey
from tests.journeys.helpers import SALT, T0, days, facts, journey_yaml, load_one, messages, start, tick

GOAL = journey_yaml("""\
      - {id: first, type: email, template: welcome}
      - {id: pause, type: wait, days: 3}
      - {id: second, type: email, template: later}
      - {id: call, type: cta, cta_type: onboarding, reason: r, title: Call}
      - {id: hook, type: webhook, url: "https://hooks.test/x"}
""", header='    goal: "logins_7d >= 5"\n    exit: {segment_left: trial}\n')


def waiting(row: dict[str, object] | None = None, *,
            holdout: bool = False) -> tuple[Journey, Mapping[str, Condition], Enrollment]:
    journey, conds = load_one(GOAL)
    t = tick(start(journey, holdout=holdout), journey, conds, facts(T0, {"seg_trial": True, **(row or {})}))
    assert t.enrollment.status == "active" and t.enrollment.wait_until == days(3)
    return journey, conds, t.enrollment


def test_goal_reached_while_waiting_exits_without_the_next_message() -> None:
    journey, conds, e = waiting()
    t = tick(e, journey, conds, facts(days(3), {"logins_7d": 5, "seg_trial": True}))
    assert t.effects == ()
    assert (t.enrollment.status, t.enrollment.exit_reason) == ("exited", "exited: goal reached")
    assert t.enrollment.wait_until is None


def test_goal_is_checked_before_the_wait_is_over_too() -> None:
    journey, conds, e = waiting()
    t = tick(e, journey, conds, facts(days(1), {"logins_7d": 9, "seg_trial": True}))
    assert t.enrollment.exit_reason == "exited: goal reached"


def test_goal_already_met_at_enrollment_sends_nothing() -> None:
    journey, conds = load_one(GOAL)
    t = tick(start(journey, holdout=False), journey, conds, facts(T0, {"logins_7d": 7, "seg_trial": True}))
    assert t.effects == () and t.enrollment.exit_reason == "exited: goal reached"


def test_unsubscribed_while_waiting_exits() -> None:
    journey, conds, e = waiting()
    f = facts(days(3), {"seg_trial": True}, unsubscribed=True)
    t = tick(e, journey, conds, f)
    assert t.effects == ()
    assert t.enrollment.exit_reason == "exited: the contact unsubscribed"


def test_account_gone_means_churned_and_exits() -> None:
    journey, conds, e = waiting()
    t = tick(e, journey, conds, facts(days(3), account=False))
    assert t.effects == ()
    assert t.enrollment.exit_reason == "exited: the account is no longer a customer"


@pytest.mark.parametrize("flag", [False, None])
def test_segment_left_while_waiting_exits(flag: object) -> None:
    journey, conds, e = waiting()
    row = {"seg_trial": flag} if flag is not None else {}
    t = tick(e, journey, conds, facts(days(3), row))
    assert t.effects == ()
    assert t.enrollment.exit_reason == "exited: left segment trial"


def test_staying_in_the_segment_keeps_going() -> None:
    journey, conds, e = waiting()
    t = tick(e, journey, conds, facts(days(3), {"seg_trial": True}))
    assert [m.step_id for m in messages(t.effects)] == ["second"]
    assert t.enrollment.status == "completed"


def test_disabled_exits_do_not_fire() -> None:
    journey, conds = load_one(journey_yaml(
        "      - {id: pause, type: wait, days: 1}\n      - {id: mail, type: email, template: welcome}\n",
        header="    exit: {unsubscribed: false, churned: false}\n"))
    e = tick(start(journey, holdout=False), journey, conds, facts(T0)).enrollment
    t = tick(e, journey, conds, facts(days(1), account=False, unsubscribed=True))
    assert len(messages(t.effects)) == 1


HOLDOUT = journey_yaml("""\
      - {id: first, type: email, template: welcome}
      - {id: pause, type: wait, days: 3}
      - {id: second, type: in_app, title: t, body: b}
      - {id: call, type: cta, cta_type: onboarding, reason: r, title: Call}
      - {id: hook, type: webhook, url: "https://hooks.test/x"}
""", header='    holdout_pct: 20\n    goal: "logins_7d >= 5"\n')


def test_holdout_is_about_its_percent_of_ten_thousand_accounts_and_whole_accounts() -> None:
    journey, _ = load_one(HOLDOUT)
    held = sum(in_holdout(journey, f"acct_{i}", SALT) for i in range(10_000))
    # 4 standard deviations of binomial(10_000, 0.2) is 160.
    assert abs(held - 2_000) < 160
    groups: dict[str, set[bool]] = defaultdict(set)
    for i in range(300):
        for contact in ("c1", "c2", "c3"):
            groups[f"acct_{i}"].add(enroll(journey, f"acct_{i}", contact, days(i % 7), SALT).holdout)
    assert all(len(g) == 1 for g in groups.values())


def test_no_holdout_when_the_percent_is_zero() -> None:
    journey, _ = load_one(GOAL)
    assert not any(in_holdout(journey, f"acct_{i}", SALT) for i in range(500))


def test_holdout_walks_the_same_steps_and_waits_with_no_effects() -> None:
    journey, conds = load_one(HOLDOUT)
    runs = {}
    for group in (False, True):
        e = start(journey, holdout=group)
        first = tick(e, journey, conds, facts(T0))
        early = tick(first.enrollment, journey, conds, facts(days(2)))
        last = tick(early.enrollment, journey, conds, facts(days(3)))
        runs[group] = (first, early, last)
    treated, held = runs[False], runs[True]
    assert [len(t.effects) for t in treated] == [1, 0, 3]
    assert [len(t.effects) for t in held] == [0, 0, 0]
    for a, b in zip(treated, held, strict=True):
        assert (a.enrollment.step, a.enrollment.status, a.enrollment.wait_until, a.enrollment.visits) == (
            b.enrollment.step, b.enrollment.status, b.enrollment.wait_until, b.enrollment.visits)
        assert len(a.trail) == len(b.trail)
    assert isinstance(treated[2].effects[1], RequestCta)
    assert all("held out" in line for line in held[2].trail if line.startswith(("second", "call", "hook")))
    assert set(held[2].enrollment.sent) == {"first", "second"}


def test_goal_exit_applies_to_holdout_too() -> None:
    journey, conds = load_one(HOLDOUT)
    e = tick(start(journey, holdout=True), journey, conds, facts(T0)).enrollment
    t = tick(e, journey, conds, facts(days(1), {"logins_7d": 6}))
    assert t.enrollment.exit_reason == "exited: goal reached"
