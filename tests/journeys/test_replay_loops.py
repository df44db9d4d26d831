"""Idempotent planning (same state + same facts = same effects and keys), visits, and the loop guard."""

from __future__ import annotations

from longtail.core.journeys.engine import MAX_STEPS_PER_TICK, SendMessage
from tests.journeys.helpers import T0, days, facts, journey_yaml, load_one, messages, start, tick

FULL = journey_yaml("""\
      - {id: hello, type: email, template: welcome}
      - {id: hook, type: webhook, url: "https://hooks.test/x"}
      - {id: pause, type: wait, days: 2}
      - {id: check, type: branch, engaged: opened, step: hello, "yes": tip}
      - {id: again, type: email, template: again}
      - {id: tip, type: in_app, title: t, body: b}
      - {id: call, type: cta, cta_type: risk, reason: r, title: c}
""")


def test_replanning_a_tick_gives_identical_effects_and_keys() -> None:
    journey, conds = load_one(FULL)
    e = start(journey, holdout=False)
    first, second = tick(e, journey, conds, facts(T0)), tick(e, journey, conds, facts(T0))
    assert first == second
    later_facts = facts(days(2))
    a = tick(first.enrollment, journey, conds, later_facts)
    b = tick(first.enrollment, journey, conds, later_facts)
    assert a == b
    assert [m.key for m in messages(a.effects)] == [m.key for m in messages(b.effects)]
    assert len(messages(a.effects)) == 2


def test_replanning_at_a_later_time_keeps_the_keys() -> None:
    """A tick retried a minute later (say, after a crash) plans the same messages under the same keys."""
    journey, conds = load_one(FULL)
    e = start(journey, holdout=False)
    on_time = tick(e, journey, conds, facts(T0))
    retried = tick(e, journey, conds, facts(T0.replace(minute=1)))
    assert [m.key for m in messages(on_time.effects)] == [m.key for m in messages(retried.effects)]


LOOP_WITH_WAIT = journey_yaml("""\
      - {id: ping, type: email, template: ping}
      - {id: pause, type: wait, days: 1}
      - {id: check, type: branch, when: "seats < 20", "yes": ping}
""")


def test_each_visit_of_a_step_gets_its_own_key() -> None:
    journey, conds = load_one(LOOP_WITH_WAIT)
    e = start(journey, holdout=False)
    keys: list[str] = []
    for n in range(4):
        t = tick(e, journey, conds, facts(days(n)))
        e = t.enrollment
        keys.extend(m.key for m in messages(t.effects))
    assert len(keys) == 4 and len(set(keys)) == 4
    assert e.visits["ping"] == 4
    assert e.sent["ping"] == keys[-1]
    t = tick(e, journey, conds, facts(days(4), {"seats": 30}))
    assert t.enrollment.status == "completed" and t.effects == ()


def test_keys_do_not_depend_on_when_the_visit_happens() -> None:
    journey, conds = load_one(LOOP_WITH_WAIT)
    e = tick(start(journey, holdout=False), journey, conds, facts(T0)).enrollment
    soon = messages(tick(e, journey, conds, facts(days(1))).effects)
    late = messages(tick(e, journey, conds, facts(days(9))).effects)
    assert [m.key for m in soon] == [m.key for m in late]


LOOP = journey_yaml("""\
      - {id: ping, type: email, template: ping}
      - {id: check, type: branch, when: "seats < 20", "yes": ping}
""")


def test_loop_without_a_wait_exits_the_contact() -> None:
    journey, conds = load_one(LOOP)
    t = tick(start(journey, holdout=False), journey, conds, facts(T0))
    assert t.enrollment.status == "exited"
    assert t.enrollment.exit_reason is not None and str(MAX_STEPS_PER_TICK) in t.enrollment.exit_reason
    assert sum(t.enrollment.visits.values()) == MAX_STEPS_PER_TICK


def test_loop_guard_does_not_flood_the_contact() -> None:
    """The guarded tick is a bug in the journey: it must not plan the same message a hundred times."""
    journey, conds = load_one(LOOP)
    t = tick(start(journey, holdout=False), journey, conds, facts(T0))
    sent = [x.step_id for x in t.effects if isinstance(x, SendMessage)]
    assert len(sent) <= 1, f"{len(sent)} messages planned in one tick"


def test_loop_that_ends_in_the_same_tick_is_not_cut_short() -> None:
    journey, conds = load_one(LOOP)
    t = tick(start(journey, holdout=False), journey, conds, facts(T0, {"seats": 25}))
    assert t.enrollment.status == "completed"
    assert len(messages(t.effects)) == 1
