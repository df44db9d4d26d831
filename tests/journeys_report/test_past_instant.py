"""The journey report as of a past instant counts what had happened by then, read from the enrollments' tick log.

A journey is run day by day on a real SQLite store, the way the runner does (enroll, advance, save the ticks,
enqueue and send the messages, record the opens); the report of that workspace as of an earlier instant must
equal, exactly, the report of a second workspace run only up to that instant. The pure part (`rewind`) is checked
by replaying the engine: undoing the ticks after any instant gives back the enrollment as it was then.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from longtail.core.expressions import Condition
from longtail.core.journeys.engine import CallWebhook, Enrollment, Facts, PostSlack, SendMessage, advance
from longtail.core.journeys.history import LoggedTick, rewind, visits_of
from longtail.core.journeys.model import Journey
from longtail.runner.journey_report import Window, journey_report
from longtail.store.db import make_engine, migrate
from longtail.store.enrollments import EnrollmentStore
from longtail.store.outbox import OutboxMessage, OutboxStore, PressureReader
from tests.journeys.helpers import ROW, SALT, T0, load_one, start

JOURNEY = """
version: 1
journeys:
  - id: tour
    holdout_pct: 30
    goal: "logins_7d >= 5"
    steps:
      - {id: hello, type: email, template: welcome}
      - {id: look, type: wait_until, engaged: opened, step: hello, timeout_days: 2, on_timeout: again}
      - {id: banner, type: in_app, title: Try reports, body: They save time}
      - {id: pick, type: split, variants: [{name: a, percent: 50, goto: ping}, {name: b, percent: 50, goto: post}]}
      - {id: ping, type: webhook, url: "https://hooks.example.com/x"}
      - {id: post, type: slack, text: "{account_id} took the tour"}
      - {id: ask, type: cta, cta_type: onboarding, reason: took the tour, title: Call them}
      - {id: rest, type: wait, days: 5}
      - {id: wrap, type: email, template: welcome}
      - {id: done, type: exit}
      - {id: again, type: email, template: welcome}
      - {id: breath, type: wait, days: 1}
      - {id: retry, type: branch, when: "seats >= 20", yes: look, no: done}
"""
"""Opened: banner, a split, the CTA, a 5-day rest, wrap, exit. Not opened in 2 days: again, a day's pause, then
back to waiting for the open (a loop: `again` is visited once per round) or out."""

ACCOUNTS = 40
LAST_DAY = 13
"""Workspace A ticks on days 0..13 (T0 is 09:00 on 5 January 2026)."""


def _account_row(i: int, day: int) -> dict[str, Any]:
    """Account i on `day`: even accounts loop (seats >= 20); i % 5 == 2 reaches the goal from day 3, i % 5 == 1
    from day 7; account 39 stops being a customer on day 4."""
    goal_from = 3 if i % 5 == 2 else 7 if i % 5 == 1 else None
    return {**ROW, "seats": 30 if i % 2 == 0 else 10,
            "logins_7d": 6 if goal_from is not None and day >= goal_from else 1}


def _run(engine: Engine, journey: Journey, conditions: Mapping[str, Condition], last_day: int,
         until: datetime | None = None) -> None:
    """Tick days 0..last_day as the runner would; sends, opens and clicks are recorded once their time has come
    (before the tick that follows them), and at the end up to `until` (all of them without it)."""
    store, outbox, reader = EnrollmentStore(engine), OutboxStore(engine), PressureReader(engine)
    later: list[tuple[datetime, str, str, str]] = []
    """(when, message key, channel, what happens then: "sent" or an engagement kind)."""

    def happen(upto: datetime | None) -> None:
        for at, key, channel, kind in sorted(x for x in later if upto is None or x[0] <= upto):
            if kind == "sent":
                outbox.mark_sent(key, at)
            else:
                outbox.record_event(f"{key}:{kind}", kind=kind, channel=channel, at=at, message_key=key)
        later[:] = [x for x in later if upto is not None and x[0] > upto]

    for day in range(last_day + 1):
        now = T0 + timedelta(days=day)
        happen(now)
        new = [start(journey, f"a{i}", f"c{i}", now=now) for i in range(ACCOUNTS) if i % 4 == day]
        running = [*store.active([journey.id]), *new]
        engagement = reader.engagement([k for e in running for k in e.sent.values()])
        ticks = []
        for e in running:
            i = int(e.account_id.removeprefix("a"))
            row = None if i == 39 and day >= 4 else _account_row(i, day)
            ticks.append(advance(e, journey, Facts(now, row, engagement), conditions, SALT))
        store.save(new, ticks, now)
        for t in ticks:
            i = int(t.enrollment.account_id.removeprefix("a"))
            for eff in t.effects:
                if isinstance(eff, SendMessage):
                    key, channel = eff.key, eff.channel
                elif isinstance(eff, CallWebhook | PostSlack):
                    key, channel = eff.key, "webhook" if isinstance(eff, CallWebhook) else "slack"
                else:
                    continue  # CTAs go to the CTA queue, not the outbox
                outbox.enqueue([OutboxMessage(key, channel, {"to": "x@example.com"}, now, contact_id=f"c{i}",
                                              account_id=f"a{i}", program=journey.id)], now=now)
                # Every seventh account's messages leave a day and a half later (pending meanwhile).
                sent_at = now + timedelta(hours=30 if i % 7 == 0 else 1)
                later.append((sent_at, key, channel, "sent"))
                if channel in ("email", "in_app"):
                    opened = "viewed" if channel == "in_app" else "opened"
                    later += [(sent_at + timedelta(hours=h), key, channel, kind)
                              for kind, h, who in ((opened, 2, i % 3 == 0), ("clicked", 3, i % 6 == 0)) if who]
    happen(until)


def _engine(path: Path) -> Engine:
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    return engine


@pytest.fixture(scope="module")
def full(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """Workspace A: the whole run, days 0..LAST_DAY."""
    journey, conditions = load_one(JOURNEY)
    engine = _engine(tmp_path_factory.mktemp("full") / "state.db")
    _run(engine, journey, conditions, LAST_DAY)
    yield engine
    engine.dispose()


@pytest.mark.parametrize(("stop_day", "hours"), [(5, 12), (2, 0), (8, 23)])
def test_report_as_of_an_instant_equals_the_workspace_stopped_then(full: Engine, tmp_path: Path, stop_day: int,
                                                                    hours: int) -> None:
    journey, conditions = load_one(JOURNEY)
    instant = T0 + timedelta(days=stop_day, hours=hours)  # hours=0: exactly at the tick, which counts
    stopped = _engine(tmp_path / "stopped.db")
    _run(stopped, journey, conditions, stop_day, until=instant)
    journeys = {"tour": journey}
    (past,) = journey_report(full, journeys, instant)
    (then,) = journey_report(stopped, journeys, instant)
    assert past == then
    # The same for a window of entry ending at the instant, observed as of its end.
    window = Window(T0 + timedelta(days=1, hours=-9), instant + timedelta(microseconds=1))
    assert journey_report(full, journeys, window) == journey_report(stopped, journeys, window)
    stopped.dispose()


def test_steps_run_after_the_instant_are_not_reached_as_of_it(full: Engine) -> None:
    journey, _ = load_one(JOURNEY)
    instant = T0 + timedelta(days=5, hours=12)
    (past,) = journey_report(full, {"tour": journey}, instant)
    (now,) = journey_report(full, {"tour": journey}, T0 + timedelta(days=LAST_DAY))
    before = {s.step_id: s for s in past.funnel}
    after = {s.step_id: s for s in now.funnel}
    # wrap follows a 5-day rest that starts on day 1 at the earliest: nobody ran it by day 5, many did since.
    assert before["wrap"].reached == before["wrap"].sent == 0
    assert after["wrap"].reached > 0 and after["wrap"].sent is not None and after["wrap"].sent > 0
    assert before["done"].reached < after["done"].reached
    # Whoever got `hello` stood at `look` right after it, as of the instant as now.
    assert before["look"].reached == before["hello"].reached and before["rest"].reached > 0


def test_the_report_as_of_now_reads_the_current_state(full: Engine) -> None:
    journey, _ = load_one(JOURNEY)
    now = T0 + timedelta(days=LAST_DAY, hours=1)
    store = EnrollmentStore(full)
    stored = store.all("tour")
    assert store.log_after([e.enrollment_id for e in stored], now) == {}  # nothing to undo
    (report,) = journey_report(full, {"tour": journey}, now)
    order = [s.id for s in journey.steps]
    for i, (step, funnel) in enumerate(zip(journey.steps, report.funnel, strict=True)):
        if step.type in ("wait", "wait_until"):
            expected = sum(1 for e in stored if e.step == i or any(e.visits.get(s, 0) for s in order[i + 1:]))
        else:
            expected = sum(1 for e in stored if e.visits.get(step.id, 0) > 0)
        assert funnel.reached == expected, step.id
    assert report.entered == ACCOUNTS
    assert dict(report.status) == {k: sum(1 for e in stored if e.status == k) for k in {e.status for e in stored}}


def test_log_after_reads_only_the_enrollments_ticked_later(full: Engine) -> None:
    store = EnrollmentStore(full)
    ids = [e.enrollment_id for e in store.all("tour")]
    instant = T0 + timedelta(days=5, hours=12)
    later = store.log_after([*ids, "enr_unknown"], instant)
    assert later and set(later) < set(ids)
    for log in later.values():
        assert [t.at for t in log] == sorted(t.at for t in log) and log[-1].at > instant
        assert all(t.at.tzinfo is not None and t.trail for t in log)
    assert store.log_after([], instant) == {}


# --- rewind, replayed against the engine -------------------------------------------------------------------------

day_facts = st.fixed_dictionaries({
    "opened": st.booleans(), "seats": st.sampled_from([10, 30]), "logins": st.sampled_from([1, 1, 1, 1, 6]),
    "unsubscribed": st.sampled_from([False] * 12 + [True]), "churned": st.sampled_from([False] * 12 + [True]),
    "hours": st.sampled_from([0, 6, 24, 36]),
})


@settings(max_examples=150, deadline=None)
@given(days=st.lists(day_facts, min_size=1, max_size=25), holdout=st.booleans())
def test_rewind_gives_back_the_enrollment_of_every_earlier_instant(days: list[dict[str, Any]], holdout: bool) -> None:
    journey, conditions = load_one(JOURNEY)
    e = start(journey, holdout=holdout)
    first = e
    states: list[Enrollment] = []
    log: list[LoggedTick] = []
    now = T0
    for d in days:
        row = None if d["churned"] else {**ROW, "seats": d["seats"], "logins_7d": d["logins"]}
        hello = e.sent.get("hello")
        engagement = {hello: frozenset({"opened"})} if d["opened"] and hello else {}
        t = advance(e, journey, Facts(now, row, engagement, unsubscribed=d["unsubscribed"]), conditions, SALT)
        if t.trail:
            # As EnrollmentStore.save: only a tick that did something is stored and logged.
            added = {s: n - e.visits.get(s, 0) for s, n in t.enrollment.visits.items() if n > e.visits.get(s, 0)}
            assert visits_of(journey, t.trail) == added
            e = t.enrollment
            states.append(e)
            log.append(LoggedTick(now, t.trail))
        else:
            assert replace(t.enrollment, updated_at=e.updated_at) == e  # a tick without a trail changed nothing
        now += timedelta(hours=d["hours"] or 1)
    assert rewind(e, journey, log, T0 - timedelta(seconds=1)) == (first if log else e)
    for tick, state in zip(log, states, strict=True):
        assert rewind(e, journey, log, tick.at) == state
        assert rewind(e, journey, list(reversed(log)), tick.at + timedelta(minutes=30)) == state


def test_rewind_without_later_ticks_returns_the_enrollment_and_marks_a_lost_position() -> None:
    journey, conditions = load_one(JOURNEY)
    e = start(journey)
    tick = advance(e, journey, Facts(T0, dict(ROW)), conditions, SALT)
    log = [LoggedTick(T0, tick.trail)]
    assert rewind(tick.enrollment, journey, log, T0) is tick.enrollment
    later = advance(tick.enrollment, journey, Facts(T0 + timedelta(days=3), dict(ROW)), conditions, SALT)
    log.append(LoggedTick(T0 + timedelta(days=3), later.trail))
    assert rewind(later.enrollment, journey, log, T0).step == 1  # waiting at `look`
    # The journey was edited since: `look` is gone, so where the enrollment stood is not a step of it any more.
    edited, _ = load_one(JOURNEY.replace("id: look,", "id: seen,").replace("yes: look", "yes: seen"))
    assert rewind(later.enrollment, edited, log, T0).step == len(edited.steps)
    # Sentences that only look like a visit do not count as one.
    assert visits_of(journey, ("hello: waiting until 2026-01-01T00:00:00+00:00", "exited: exit step hello",
                               "post: slack and more", "again: email", "nobody: email msg_x")) == {}


def test_a_wait_gone_from_the_edited_journey_is_reported(full: Engine, caplog: pytest.LogCaptureFixture) -> None:
    journey, _ = load_one(JOURNEY)
    edited, _ = load_one(JOURNEY.replace("id: look,", "id: seen,").replace("yes: look", "yes: seen"))
    instant = T0 + timedelta(days=2, hours=12)
    (past,) = journey_report(full, {"tour": journey}, instant)
    with caplog.at_level("WARNING", logger="longtail.runner.journey_report"):
        (edit,) = journey_report(full, {"tour": edited}, instant)
    assert "journey_report.position_unknown journey=tour" in caplog.text
    waiting = {s.step_id: s.reached for s in past.funnel}["look"]
    assert {s.step_id: s.reached for s in edit.funnel}["seen"] < waiting
    # The instant may be given in any time zone: stored instants are UTC.
    assert journey_report(full, {"tour": journey}, instant.astimezone(ZoneInfo("America/New_York"))) == [past]
