"""`wait` and `wait_until`: not before their time, exactly at their time they move on; conditions and engagement."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.journeys.helpers import T0, days, facts, journey_yaml, load_one, messages, start, tick

WAIT = journey_yaml("""\
      - {id: first, type: email, template: welcome}
      - {id: pause, type: wait, days: 3}
      - {id: second, type: email, template: later}
""")


def test_wait_holds_until_its_time_and_moves_on_exactly_at_it() -> None:
    journey, conds = load_one(WAIT)
    t = tick(start(journey, holdout=False), journey, conds, facts(T0))
    assert [m.step_id for m in messages(t.effects)] == ["first"]
    assert t.enrollment.wait_until == days(3)
    assert t.enrollment.status == "active"
    early = tick(t.enrollment, journey, conds, facts(days(3) - timedelta(microseconds=1)))
    assert early.effects == ()
    assert early.enrollment.step == t.enrollment.step
    assert early.enrollment.wait_until == days(3)
    on_time = tick(early.enrollment, journey, conds, facts(days(3)))
    assert [m.step_id for m in messages(on_time.effects)] == ["second"]
    assert on_time.enrollment.status == "completed"
    assert on_time.enrollment.wait_until is None


def test_wait_counts_from_when_it_started_not_from_the_next_tick() -> None:
    journey, conds = load_one(WAIT)
    t = tick(start(journey, holdout=False), journey, conds, facts(T0))
    late = tick(t.enrollment, journey, conds, facts(days(30)))
    assert [m.step_id for m in messages(late.effects)] == ["second"]
    assert late.effects[0].due == days(30)  # type: ignore[union-attr]


def test_two_waits_in_a_row_each_take_their_time() -> None:
    journey, conds = load_one(journey_yaml("""\
      - {id: w1, type: wait, days: 1}
      - {id: w2, type: wait, days: 2}
      - {id: mail, type: email, template: welcome}
"""))
    e = tick(start(journey, holdout=False), journey, conds, facts(T0)).enrollment
    e = tick(e, journey, conds, facts(days(1))).enrollment
    assert e.wait_until == days(3)
    assert tick(e, journey, conds, facts(days(2.5))).effects == ()
    assert len(messages(tick(e, journey, conds, facts(days(3))).effects)) == 1


WAIT_UNTIL_WHEN = journey_yaml("""\
      - {id: hold, type: wait_until, when: "seats >= 20", timeout_days: 7, on_timeout: nudge}
      - {id: congrats, type: email, template: congrats}
      - {id: stop, type: exit}
      - {id: nudge, type: email, template: nudge}
""")


def test_wait_until_condition_moves_on_when_it_holds() -> None:
    journey, conds = load_one(WAIT_UNTIL_WHEN)
    t = tick(start(journey, holdout=False), journey, conds, facts(T0, {"seats": 10}))
    assert t.effects == () and t.enrollment.wait_until == days(7)
    assert tick(t.enrollment, journey, conds, facts(days(2), {"seats": 19})).effects == ()
    met = tick(t.enrollment, journey, conds, facts(days(2), {"seats": 20}))
    assert [m.step_id for m in messages(met.effects)] == ["congrats"]
    assert met.enrollment.exit_reason == "exited: exit step stop"


def test_wait_until_condition_already_true_does_not_wait() -> None:
    journey, conds = load_one(WAIT_UNTIL_WHEN)
    t = tick(start(journey, holdout=False), journey, conds, facts(T0, {"seats": 50}))
    assert [m.step_id for m in messages(t.effects)] == ["congrats"]


def test_wait_until_condition_times_out_to_on_timeout() -> None:
    journey, conds = load_one(WAIT_UNTIL_WHEN)
    e = tick(start(journey, holdout=False), journey, conds, facts(T0)).enrollment
    assert tick(e, journey, conds, facts(days(7) - timedelta(seconds=1))).effects == ()
    out = tick(e, journey, conds, facts(days(7)))
    assert [m.step_id for m in messages(out.effects)] == ["nudge"]
    assert out.enrollment.status == "completed"
    assert any("timed out" in line for line in out.trail)


def test_wait_until_unknown_condition_counts_as_not_met() -> None:
    journey, conds = load_one(WAIT_UNTIL_WHEN)
    t = tick(start(journey, holdout=False), journey, conds, facts(T0, {"seats": None}))
    assert t.effects == () and t.enrollment.status == "active"


def test_wait_until_timeout_without_on_timeout_goes_to_the_next_step() -> None:
    journey, conds = load_one(journey_yaml("""\
      - {id: hold, type: wait_until, when: "seats >= 20", timeout_days: 2}
      - {id: after, type: email, template: welcome}
"""))
    e = tick(start(journey, holdout=False), journey, conds, facts(T0)).enrollment
    assert [m.step_id for m in messages(tick(e, journey, conds, facts(days(2))).effects)] == ["after"]


ENGAGED = journey_yaml("""\
      - {id: invite, type: email, template: invite}
      - {id: hold, type: wait_until, engaged: {kind}, step: invite, timeout_days: 5, on_timeout: remind}
      - {id: thanks, type: in_app, title: Thanks, body: Glad you came}
      - {id: stop, type: exit}
      - {id: remind, type: email, template: reminder}
""")


@pytest.mark.parametrize("kind", ["opened", "clicked", "replied"])
def test_wait_until_engagement_with_the_earlier_message_key(kind: str) -> None:
    journey, conds = load_one(ENGAGED.replace("{kind}", kind))
    t = tick(start(journey, holdout=False), journey, conds, facts(T0))
    (invite,) = messages(t.effects)
    other = "replied" if kind != "replied" else "opened"
    assert tick(t.enrollment, journey, conds,
                facts(days(1), engagement={invite.key: frozenset({other})})).effects == ()
    assert tick(t.enrollment, journey, conds,
                facts(days(1), engagement={"msg_someone_else": frozenset({kind})})).effects == ()
    done = tick(t.enrollment, journey, conds, facts(days(1), engagement={invite.key: frozenset({kind})}))
    assert [m.step_id for m in messages(done.effects)] == ["thanks"]
    assert done.enrollment.exit_reason == "exited: exit step stop"


def test_wait_until_engagement_times_out_to_on_timeout() -> None:
    journey, conds = load_one(ENGAGED.replace("{kind}", "clicked"))
    e = tick(start(journey, holdout=False), journey, conds, facts(T0)).enrollment
    assert tick(e, journey, conds, facts(days(5) - timedelta(seconds=1))).effects == ()
    out = tick(e, journey, conds, facts(days(5)))
    assert [m.step_id for m in messages(out.effects)] == ["remind"]
    assert out.enrollment.status == "completed"
