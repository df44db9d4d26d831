"""The journey report: funnel, exits and lift from enrollments and outbox outcomes, and read from a store."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from longtail.core.journeys.engine import Enrollment, step_message_key
from longtail.runner.journey_report import GOAL_REASON, journey_report, journey_stats
from longtail.store.db import make_engine, migrate
from longtail.store.enrollments import EnrollmentStore
from longtail.store.outbox import OutboxMessage, OutboxStore
from tests.journeys.helpers import T0, load_one, start

JOURNEY = """
version: 1
journeys:
  - id: nudge
    holdout_pct: 10
    goal: "logins_7d >= 5"
    steps:
      - {id: hello, type: email, template: welcome}
      - {id: pause, type: wait, days: 3}
      - {id: banner, type: in_app, title: Try reports, body: They save time}
      - {id: tell, type: webhook, url: "https://hooks.example.com/x"}
"""


def _enrollment(i: int, *, holdout: bool, visited: tuple[str, ...], step: int, status: str = "active",
                reason: str | None = None) -> Enrollment:
    journey, _ = load_one(JOURNEY)
    e = start(journey, account_id=f"a{i}", contact_id=f"c{i}", holdout=holdout)
    sent = {s: step_message_key(e.enrollment_id, s, 1) for s in visited if s in ("hello", "banner")}
    return replace(e, visits=dict.fromkeys(visited, 1), sent=sent, step=step, status=status,  # type: ignore[arg-type]
                   exit_reason=reason)


def _population() -> list[Enrollment]:
    """30 treated accounts (12 reach the goal) and 25 held out (5 reach it)."""
    out = []
    for i in range(30):
        done = i < 12
        out.append(_enrollment(i, holdout=False, visited=("hello", "banner", "tell") if i < 20 else ("hello",),
                               step=4 if i < 20 else 1, status="exited" if done else "active",
                               reason=GOAL_REASON if done else None))
    for i in range(30, 55):
        done = i < 35
        out.append(_enrollment(i, holdout=True, visited=("hello",), step=1, status="exited" if done else "active",
                               reason=GOAL_REASON if done else None))
    return out


def test_funnel_exits_and_lift_from_hand_counted_population() -> None:
    journey, _ = load_one(JOURNEY)
    population = _population()
    treated = [e for e in population if not e.holdout]
    hello = [step_message_key(e.enrollment_id, "hello", 1) for e in treated]
    statuses = dict.fromkeys(hello, "sent")
    statuses[hello[0]] = "failed"  # one email never went out
    engagement = {hello[1]: frozenset({"opened"}), hello[2]: frozenset({"opened", "clicked"}),
                  hello[0]: frozenset({"bounced"})}
    tell = [step_message_key(e.enrollment_id, "tell", 1) for e in treated[:20]]
    statuses.update(dict.fromkeys(tell, "sent"))
    channels = {**dict.fromkeys(hello, "email"), **dict.fromkeys(tell, "webhook")}
    stats = journey_stats(journey, population, statuses, channels, engagement)
    assert (stats.entered, stats.accounts, stats.treated_enrollments, stats.holdout_enrollments) == (55, 55, 30, 25)
    funnel = {s.step_id: s for s in stats.funnel}
    assert (funnel["hello"].reached, funnel["hello"].sent, funnel["hello"].opened, funnel["hello"].clicked) == \
        (55, 29, 2, 1)
    assert funnel["pause"].reached == 20 + 10 + 25  # passed it (20) or standing at it (35 with step == 1)
    assert funnel["pause"].sent is None
    assert (funnel["banner"].reached, funnel["banner"].sent) == (20, 0)  # never fetched by the product
    assert funnel["tell"].sent == 20
    assert stats.exit_reasons == {GOAL_REASON: 17}
    assert stats.channels["email"] == {"bounced": 1, "clicked": 1, "failed": 1, "opened": 2, "sent": 29}
    assert stats.lift is not None and stats.lift.difference is not None
    assert (stats.lift.treated, stats.lift.treated_converted, stats.lift.holdout, stats.lift.holdout_converted) == \
        (30, 12, 25, 5)
    assert stats.lift.difference.estimate == pytest.approx(12 / 30 - 5 / 25)


def test_small_groups_and_journeys_without_holdout_say_why() -> None:
    journey, _ = load_one(JOURNEY)
    stats = journey_stats(journey, _population()[:25] + _population()[30:35], {}, {}, {})
    assert stats.lift is not None and stats.lift.difference is None
    assert stats.lift.verdict.startswith("not enough data")
    no_holdout = journey.model_copy(update={"holdout_pct": 0})
    assert journey_stats(no_holdout, _population(), {}, {}, {}).notes[0].startswith("the journey has no holdout")


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'state.db'}")
    migrate(engine)
    yield engine
    engine.dispose()


def test_report_from_the_store_cuts_at_as_of(engine: Engine) -> None:
    journey, _ = load_one(JOURNEY)
    population = _population()
    later = replace(population[0], enrollment_id="enr_late", entered_at=T0 + timedelta(days=30))
    EnrollmentStore(engine).save([*population, later], [], T0)
    outbox = OutboxStore(engine)
    key = step_message_key(population[1].enrollment_id, "hello", 1)
    outbox.enqueue([OutboxMessage(key, "email", {"to": "x@example.com"}, T0, contact_id="c1", account_id="a1",
                                  program="nudge")], now=T0)
    outbox.mark_sent(key, T0 + timedelta(days=2))
    outbox.record_event(f"{key}:opened", kind="opened", channel="email", at=T0 + timedelta(days=3),
                        message_key=key)
    early = journey_report(engine, {"nudge": journey}, T0 + timedelta(days=1))[0]
    assert early.entered == 55  # the late entry is not there yet
    assert {s.step_id: s.sent for s in early.funnel}["hello"] == 0  # sent on day 2
    assert early.channels == {"email": {"pending": 1}}
    late = journey_report(engine, {"nudge": journey}, T0 + timedelta(days=40))[0]
    assert late.entered == 56
    hello = {s.step_id: s for s in late.funnel}["hello"]
    assert (hello.sent, hello.opened) == (1, 1)
    with pytest.raises(ValueError, match="aware"):
        journey_report(engine, {"nudge": journey}, T0.replace(tzinfo=None))
