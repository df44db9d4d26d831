"""plan_ctas: dedupe, refresh, priority, auto-close, wake, idempotency, volume alarm."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from longtail.core.motion.ctas import (
    INTERVENTION_PACKAGE,
    CloseCta,
    CreateCta,
    InvalidCtaRequest,
    RefreshCta,
    WakeCta,
    default_id,
    from_template,
    hold_if_flooding,
    plan_ctas,
)
from longtail.errors import UsageError
from tests.motion_ctas.helpers import D0, active, apply, cta, req

D1 = D0 + timedelta(days=1)


def test_first_fire_creates_one_cta_with_a_deterministic_id() -> None:
    effects = plan_ctas([req(), req()], [], D0)
    assert len(effects) == 1
    created = effects[0]
    assert isinstance(created, CreateCta)
    assert created.status == "open"
    assert created.cta_id == default_id(req(), D0) == plan_ctas([req()], [], D0)[0].cta_id  # type: ignore[union-attr]
    assert created.cta_id != default_id(req(), D1)
    assert "no active CTA" in created.reason


def test_refire_refreshes_instead_of_duplicating() -> None:
    state = apply({}, plan_ctas([req()], [], D0), D0)
    effects = plan_ctas([req(inputs={"events_28d": 1})], list(state.values()), D1)
    assert len(effects) == 1
    refresh = effects[0]
    assert isinstance(refresh, RefreshCta)
    assert refresh.fire_count == 2
    assert refresh.inputs == {"events_28d": 1}
    state = apply(state, effects, D1)
    assert len(state) == 1
    assert next(iter(state.values())).last_fired_on == D1


def test_refire_of_snoozed_and_held_ctas_also_refreshes() -> None:
    snoozed = cta(cta_id="s", status="snoozed", snoozed_until=D0 + timedelta(days=10), snooze_reason="x")
    held = cta(req(account="a2"), cta_id="h", status="held")
    effects = plan_ctas([req(), req(account="a2")], [snoozed, held], D1)
    assert {type(e) for e in effects} == {RefreshCta}
    assert {e.cta_id for e in effects} == {"s", "h"}


@pytest.mark.parametrize(("old", "new", "expected"), [
    ("medium", "urgent", "urgent"), ("high", "low", "high"), ("low", "low", "low"),
])
def test_priority_only_rises(old: str, new: str, expected: str) -> None:
    existing = cta(req(priority=old))  # type: ignore[arg-type]
    (effect,) = plan_ctas([req(priority=new)], [existing], D1)  # type: ignore[arg-type]
    assert isinstance(effect, RefreshCta)
    assert effect.priority == expected
    assert ("raised" in effect.reason) == (expected != old)


def test_batch_duplicates_keep_the_highest_priority() -> None:
    (effect,) = plan_ctas([req(priority="low"), req(priority="urgent"), req(priority="high")], [], D0)
    assert isinstance(effect, CreateCta)
    assert effect.request.priority == "urgent"


def test_a_closed_cta_does_not_block_a_new_one() -> None:
    done = cta(status="done", closed_on=D0)
    (effect,) = plan_ctas([req()], [done], D1)
    assert isinstance(effect, CreateCta)


def test_auto_close_only_for_auto_close_ctas() -> None:
    closing = cta(req(auto_close=True), cta_id="auto")
    keeping = cta(req(account="a2"), cta_id="manual")
    effects = plan_ctas([], [closing, keeping], D1, cleared={closing.key, keeping.key})
    assert effects == (CloseCta("auto", "cancelled", effects[0].reason),)
    assert "cleared" in effects[0].reason


def test_auto_close_of_an_outcome_cta_counts_as_done() -> None:
    outcome = cta(replace(req(auto_close=True), complete_on="outcome"))
    (effect,) = plan_ctas([], [outcome], D1, cleared={outcome.key})
    assert isinstance(effect, CloseCta)
    assert effect.status == "done"


def test_a_key_both_fired_and_cleared_stays_open() -> None:
    existing = cta(req(auto_close=True))
    effects = plan_ctas([req(auto_close=True)], [existing], D1, cleared={existing.key})
    assert [type(e) for e in effects] == [RefreshCta]


def test_snooze_wakes_on_its_day_not_before() -> None:
    snoozed = cta(status="snoozed", snoozed_until=D0 + timedelta(days=5), snooze_reason="holiday")
    assert plan_ctas([], [snoozed], D0 + timedelta(days=4)) == ()
    (effect,) = plan_ctas([], [snoozed], D0 + timedelta(days=5))
    assert isinstance(effect, WakeCta)
    state = apply({"c1": snoozed}, (effect,), D0 + timedelta(days=5))
    assert state["c1"].status == "open"
    assert state["c1"].snoozed_until is None


def test_a_snoozed_cta_that_auto_closes_is_not_woken() -> None:
    snoozed = cta(req(auto_close=True), status="snoozed", snoozed_until=D0, snooze_reason="x")
    effects = plan_ctas([], [snoozed], D1, cleared={snoozed.key})
    assert [type(e) for e in effects] == [CloseCta]


def test_replanning_the_same_day_yields_nothing() -> None:
    snoozed = cta(req(account="z", auto_close=True), cta_id="z", status="snoozed", snoozed_until=D0,
                  snooze_reason="x")
    old = cta(req(account="b"), cta_id="b")
    gone = cta(req(account="g", auto_close=True), cta_id="g")
    requests = [req(), req(account="b", priority="urgent"), req(account="n")]
    state = {c.cta_id: c for c in (snoozed, old, gone)}
    first = plan_ctas(requests, list(state.values()), D1, cleared={gone.key})
    assert {type(e).__name__ for e in first} == {"CreateCta", "RefreshCta", "CloseCta", "WakeCta"}
    state = apply(state, first, D1)
    assert plan_ctas(requests, active(state), D1, cleared={gone.key}) == ()


def test_volume_alarm_holds_every_new_cta_of_a_flooding_run() -> None:
    existing = cta(cta_id="old")
    effects = plan_ctas([req(account=f"a{i}") for i in range(1, 6)], [existing], D1)
    held, decision = hold_if_flooding(effects, 3)
    assert decision.held
    assert decision.reason == "this run would create 4 CTAs, more than the limit of 3; held for approval"
    assert all(e.status == "held" for e in held if isinstance(e, CreateCta))
    assert [e for e in held if isinstance(e, RefreshCta)] == [e for e in effects if isinstance(e, RefreshCta)]
    same, ok = hold_if_flooding(effects, 4)
    assert same == effects
    assert not ok.held
    assert not hold_if_flooding(effects, None)[1].held


def test_intervention_package_template() -> None:
    request = from_template("intervention_package", account_id="a1", reason="low adoption", playbook_id="pb",
                            definition_hash="h", as_of=D0, inputs={"x": 1})
    assert request.checklist == ("Identify the blocker", "Deliver the resource", "Follow up in 7 days")
    assert request.follow_up_days == 7
    assert request.due == D0 + timedelta(days=INTERVENTION_PACKAGE.due_in_days)
    assert from_template("intervention_package", account_id="a1", reason="r", playbook_id="pb",
                         definition_hash="h", as_of=D0, priority="urgent").priority == "urgent"
    with pytest.raises(UsageError, match="unknown CTA template 'nope'"):
        from_template("nope", account_id="a1", reason="r", playbook_id="pb", definition_hash="h", as_of=D0)


def test_requests_are_validated_and_copied() -> None:
    with pytest.raises(InvalidCtaRequest, match="priority must be one of"):
        req(priority="huge")  # type: ignore[arg-type]
    with pytest.raises(InvalidCtaRequest, match="reason"):
        req(reason=" ")
    with pytest.raises(InvalidCtaRequest, match="follow_up_days"):
        req(follow_up_days=0)
    inputs = {"a": 1}
    request = req(inputs=inputs)
    inputs["a"] = 2
    assert request.inputs == {"a": 1}
