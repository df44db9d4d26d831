"""Priority arbitration (defer vs skip), suppression of each kind, internal channels, bad input."""

from __future__ import annotations

from datetime import datetime, time, timedelta

import pytest

from longtail.core.journeys.policy import Cap, ContactPolicy, History, QuietHours, arbitrate, priority_class

from .helpers import NOW, by_key, cand, policy, sent


def skip_low() -> ContactPolicy:
    """One email per contact per day; low priority skips when the cap binds."""
    return policy(per_day=1, on_cap={"high": "defer", "normal": "defer", "low": "skip"})


def test_higher_priority_takes_the_slot_and_the_verdict_names_it() -> None:
    cands = [cand("low", priority=0, program="nurture"), cand("norm", priority=50, program="tips"),
             cand("high", priority=100, program="renewal")]
    verdicts = by_key(arbitrate(cands, History(), skip_low(), NOW))
    assert verdicts["high"].action == "send"
    assert verdicts["norm"].action == "defer"
    assert verdicts["norm"].taken_by == ("high",)
    assert "the last slot went to 'high' (renewal, priority 100)" in verdicts["norm"].reason
    assert verdicts["low"].action == "skip"
    assert verdicts["low"].until is None
    assert "skipped (low priority skips on cap)" in verdicts["low"].reason


def test_ties_go_to_the_earlier_due_then_the_smaller_key() -> None:
    cands = [cand("b", due=NOW - timedelta(hours=1)), cand("a", due=NOW), cand("c", due=NOW - timedelta(hours=1))]
    verdicts = by_key(arbitrate(cands, History(), policy(per_day=1), NOW))
    assert [k for k, v in verdicts.items() if v.action == "send"] == ["b"]
    verdicts = by_key(arbitrate([cand("b"), cand("a")], History(), policy(per_day=1), NOW))
    assert verdicts["a"].action == "send"


def test_cap_full_from_history_names_no_taker() -> None:
    [v] = arbitrate([cand("k", priority=0)], History(sent=[sent(ago=timedelta(hours=1))]), skip_low(), NOW)
    assert (v.action, v.taken_by) == ("skip", ())
    assert "slot went to" not in v.reason


def test_priority_classes() -> None:
    assert [priority_class(p) for p in (150, 100, 99, 50, 49, 0, -5)] == [
        "high", "high", "normal", "normal", "low", "low", "low"]


@pytest.mark.parametrize(("unsubscribed", "channel", "expected"), [
    ({"c1": "all"}, "email", "suppress"),
    ({"c1": "all"}, "in_app", "suppress"),
    ({"c1": {"all"}}, "in_app", "suppress"),
    ({"c1": {"email"}}, "email", "suppress"),
    ({"c1": {"email"}}, "in_app", "send"),
    ({"c2": "all"}, "email", "send"),
])
def test_unsubscribed(unsubscribed: dict[str, object], channel: str, expected: str) -> None:
    hist = History(unsubscribed=unsubscribed)  # type: ignore[arg-type]
    [v] = arbitrate([cand("k", channel=channel)], hist, ContactPolicy(), NOW)  # type: ignore[arg-type]
    assert v.action == expected
    assert v.rule == ("unsubscribed" if expected == "suppress" else None)


def test_hard_bounced_email_is_suppressed_case_insensitively() -> None:
    hist = History(hard_bounced=frozenset({"Ana@Example.TEST"}))
    [v] = arbitrate([cand("k", email="ana@example.test")], hist, ContactPolicy(), NOW)
    assert (v.action, v.rule) == ("suppress", "hard_bounced")
    [v] = arbitrate([cand("k", channel="in_app", email="ana@example.test")], hist, ContactPolicy(), NOW)
    assert v.action == "send"


def test_contact_without_email_gets_no_email() -> None:
    [v] = arbitrate([cand("k", email=None)], History(), ContactPolicy(), NOW)
    assert (v.action, v.rule) == ("suppress", "no_email")
    [v] = arbitrate([cand("k", email=None, channel="in_app")], History(), ContactPolicy(), NOW)
    assert v.action == "send"


def test_role_opt_out_covers_its_channels_only() -> None:
    pol = ContactPolicy(opt_out_roles=frozenset({"Billing"}))
    verdicts = by_key(arbitrate([cand("e", role="billing"), cand("i", role="billing", channel="in_app"),
                                 cand("o", contact="c2", role="admin")], History(), pol, NOW))
    assert (verdicts["e"].action, verdicts["e"].rule) == ("suppress", "role_opt_out")
    assert verdicts["i"].action == "send"
    assert verdicts["o"].action == "send"
    both = ContactPolicy(opt_out_roles=frozenset({"billing"}), opt_out_channels=frozenset({"email", "in_app"}))
    assert arbitrate([cand("i", role="billing", channel="in_app")], History(), both, NOW)[0].action == "suppress"


def test_suppressed_messages_use_no_capacity() -> None:
    hist = History(hard_bounced=frozenset({"x@example.test"}))
    cands = [cand("a", priority=100, email="x@example.test"), cand("b")]
    verdicts = by_key(arbitrate(cands, hist, policy(per_day=1), NOW))
    assert verdicts["a"].action == "suppress"
    assert verdicts["b"].action == "send"


@pytest.mark.parametrize("channel", ["webhook", "slack", "task"])
def test_internal_channels_are_never_capped_held_or_suppressed(channel: str) -> None:
    now = datetime(2025, 3, 4, 23, 0, tzinfo=NOW.tzinfo)
    pol = ContactPolicy(contact_caps={"email": Cap(per_day=1)}, account_caps={"email": Cap(per_day=1)},
                        quiet_hours=QuietHours(time(20), time(8)), opt_out_roles=frozenset({"billing"}))
    hist = History(sent=[sent(channel=channel, ago=timedelta(minutes=m), now=now) for m in range(1, 6)],  # type: ignore[arg-type]
                   unsubscribed={"c1": "all"})
    cands = [cand(f"k{i}", channel=channel, role="billing", email=None, due=now) for i in range(5)]  # type: ignore[arg-type]
    verdicts = arbitrate(cands, hist, pol, now)
    assert {v.action for v in verdicts} == {"send"}
    assert "internal channel" in verdicts[0].reason


def test_internal_channels_cannot_be_capped() -> None:
    with pytest.raises(ValueError, match="internal channels are never capped: slack"):
        ContactPolicy(contact_caps={"slack": Cap(per_day=1)})  # type: ignore[dict-item]


def test_bad_input_is_rejected() -> None:
    with pytest.raises(ValueError, match="duplicate candidate key 'k'"):
        arbitrate([cand("k"), cand("k", contact="c2", priority=100)], History(), ContactPolicy(), NOW)
    with pytest.raises(ValueError, match="must be time-zone aware"):
        arbitrate([cand("k")], History(), ContactPolicy(), NOW.replace(tzinfo=None))
    with pytest.raises(ValueError, match="contact 'c1' has two time zones"):
        arbitrate([cand("a", contact_tz="Asia/Tokyo"), cand("b")], History(), ContactPolicy(), NOW)
    with pytest.raises(ValueError, match="at least 1 message"):
        Cap(per_day=0)
    with pytest.raises(ValueError, match="start different from the end"):
        QuietHours(time(8), time(8))
