"""Property: over a whole run of message/wait steps, every message step sends once (treated) or never (holdout)."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st

from longtail.core.journeys.engine import Effect, SendMessage
from longtail.core.journeys.model import Journey
from tests.journeys.helpers import T0, facts, start, tick

KINDS = st.lists(st.one_of(st.sampled_from(["email", "in_app"]), st.floats(0.01, 30)), min_size=1, max_size=12)
GAPS = st.lists(st.floats(0, 10), max_size=40)


def build(kinds: list[str | float]) -> Journey:
    steps: list[dict[str, object]] = []
    for i, kind in enumerate(kinds):
        if kind == "email":
            steps.append({"id": f"s{i}", "type": "email", "template": "t"})
        elif kind == "in_app":
            steps.append({"id": f"s{i}", "type": "in_app", "title": "t", "body": "b"})
        else:
            steps.append({"id": f"s{i}", "type": "wait", "days": kind})
    return Journey.model_validate({"id": "prop", "steps": steps})


def whole_run(journey: Journey, holdout: bool, gaps: list[float]) -> tuple[list[Effect], str]:
    """Tick after each random gap, then a tick a year apart until the enrollment finishes."""
    e = start(journey, "acct", "c1", holdout=holdout)
    effects: list[Effect] = []
    now = T0
    times = [now := now + timedelta(days=g) for g in gaps]
    times += [now + timedelta(days=366 * (n + 1)) for n in range(2 * len(journey.steps) + 2)]
    for at in times:
        if e.status != "active":
            break
        t = tick(e, journey, {}, facts(at))
        assert all(isinstance(x, SendMessage) and x.due == at for x in t.effects)
        e = t.enrollment
        effects.extend(t.effects)
    return effects, e.status


@given(KINDS, GAPS)
def test_every_message_step_sends_exactly_once_for_treated(kinds: list[str | float], gaps: list[float]) -> None:
    journey = build(kinds)
    effects, status = whole_run(journey, False, gaps)
    assert status == "completed"
    sent = [x for x in effects if isinstance(x, SendMessage)]
    expected = [s.id for s in journey.steps if s.type in ("email", "in_app")]
    assert [m.step_id for m in sent] == expected
    assert len({m.key for m in sent}) == len(sent)


@given(KINDS, GAPS)
def test_holdout_sends_nothing_over_a_whole_run(kinds: list[str | float], gaps: list[float]) -> None:
    journey = build(kinds)
    effects, status = whole_run(journey, True, gaps)
    assert status == "completed"
    assert effects == []


@given(KINDS, GAPS, GAPS)
def test_keys_are_the_same_whatever_the_tick_times(kinds: list[str | float], gaps: list[float],
                                                  other: list[float]) -> None:
    """Keys come from (enrollment, step, visit), never from when a tick ran."""
    journey = build(kinds)
    one, _ = whole_run(journey, False, gaps)
    two, _ = whole_run(journey, False, other)
    keys = {m.step_id: m.key for m in one if isinstance(m, SendMessage)}
    assert keys == {m.step_id: m.key for m in two if isinstance(m, SendMessage)}
