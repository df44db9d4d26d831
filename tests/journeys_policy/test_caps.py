"""Caps per contact and per account, per local calendar day and per rolling 168 hours."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from longtail.core.journeys.policy import Cap, ContactPolicy, History, arbitrate

from .helpers import NOW, by_key, cand, policy, sent


def test_contact_day_cap_counts_history_and_defers_to_local_midnight() -> None:
    hist = History(sent=[sent(ago=timedelta(hours=2))])
    pol = policy(per_day=1, workspace_tz="Europe/Berlin")
    [v] = arbitrate([cand("k1")], hist, pol, NOW)
    assert v.action == "defer"
    assert v.caps == ("contact_day",)
    assert v.until == datetime(2025, 3, 4, 23, 0, tzinfo=UTC)  # 00:00 CET on 5 March
    assert "contact already got 1 email today (cap 1/day, Europe/Berlin)" in v.reason
    assert "deferred to 2025-03-05 00:00 local (Europe/Berlin)" in v.reason


def test_contact_day_cap_ignores_yesterday_and_internal_channels() -> None:
    hist = History(sent=[sent(ago=timedelta(hours=17)), sent(channel="task", ago=timedelta(hours=1))])
    [v] = arbitrate([cand("k1")], hist, policy(per_day=1), NOW)  # UTC day started 16 h ago
    assert v.action == "send"
    assert "contact email 1/1 today" in v.reason


def test_grants_in_the_same_call_count() -> None:
    verdicts = by_key(arbitrate([cand("k1"), cand("k2"), cand("k3")], History(), policy(per_day=2), NOW))
    assert [verdicts[k].action for k in ("k1", "k2", "k3")] == ["send", "send", "defer"]
    assert verdicts["k3"].taken_by == ("k1", "k2")


def test_rolling_seven_days_frees_when_the_oldest_ages_out() -> None:
    hist = History(sent=[sent(ago=timedelta(hours=h)) for h in (167, 100, 50)])
    [v] = arbitrate([cand("k1")], hist, policy(per_7_days=3), NOW)
    assert v.action == "defer"
    assert v.caps == ("contact_7d",)
    assert v.until == NOW + timedelta(hours=1)
    assert "contact already got 3 emails in the last 7 days (cap 3/7 days)" in v.reason


def test_rolling_window_excludes_exactly_168_hours_and_the_future() -> None:
    hist = History(sent=[sent(ago=timedelta(hours=168)), sent(ago=timedelta(hours=1)),
                         sent(ago=timedelta(hours=-1))])
    [v] = arbitrate([cand("k1")], hist, policy(per_7_days=2), NOW)
    assert v.action == "send"


def test_rolling_window_over_the_cap_waits_for_enough_messages_to_age_out() -> None:
    # Three in the window against a cap of 2 (the cap was lowered): room again when two have aged out.
    hist = History(sent=[sent(ago=timedelta(hours=h)) for h in (160, 120, 10)])
    [v] = arbitrate([cand("k1")], hist, policy(per_7_days=2), NOW)
    assert v.until == NOW - timedelta(hours=120) + timedelta(hours=168)


def test_several_binding_caps_defer_until_all_free() -> None:
    hist = History(sent=[sent(ago=timedelta(hours=h)) for h in (1, 30, 60)])
    [v] = arbitrate([cand("k1")], hist, policy(per_day=1, per_7_days=3), NOW)
    assert set(v.caps) == {"contact_day", "contact_7d"}
    assert v.until == NOW - timedelta(hours=60) + timedelta(hours=168)


def test_account_day_cap_across_contacts() -> None:
    hist = History(sent=[sent("c9", ago=timedelta(hours=1))])
    cands = [cand(f"k{i}", contact=f"c{i}") for i in range(3)]
    verdicts = by_key(arbitrate(cands, hist, policy(acct_day=2), NOW))
    assert [verdicts[f"k{i}"].action for i in range(3)] == ["send", "defer", "defer"]
    assert verdicts["k1"].caps == ("account_day",)
    assert verdicts["k1"].taken_by == ("k0",)
    assert "account already got 2 emails today" in verdicts["k1"].reason


def test_account_day_uses_the_account_time_zone() -> None:
    # 14:00 UTC yesterday-evening-in-Tokyo: outside Tokyo's day, inside Los Angeles's day.
    hist = History(sent=[sent("c9", ago=timedelta(hours=2))])
    pol = policy(acct_day=1)
    tokyo = arbitrate([cand("k1", account_tz="Asia/Tokyo")], hist, pol, NOW)
    la = arbitrate([cand("k1", account_tz="America/Los_Angeles")], hist, pol, NOW)
    assert tokyo[0].action == "send"
    assert la[0].action == "defer"
    assert la[0].until == datetime(2025, 3, 5, 8, 0, tzinfo=UTC)


def test_account_rolling_seven_days() -> None:
    hist = History(sent=[sent(f"c{i}", ago=timedelta(days=i + 1)) for i in range(4)])
    [v] = arbitrate([cand("k1", contact="c7")], hist, policy(acct_7d=4), NOW)
    assert v.action == "defer"
    assert v.caps == ("account_7d",)
    assert v.until == NOW - timedelta(days=4) + timedelta(hours=168)


def test_contact_day_boundaries_in_tokyo_and_los_angeles() -> None:
    # NOW is 01:00 on 5 March in Tokyo and 08:00 on 4 March in Los Angeles; the message 2 h ago was
    # "yesterday" in Tokyo but "today" in Los Angeles.
    hist = History(sent=[sent("tokyo", ago=timedelta(hours=2)), sent("la", ago=timedelta(hours=2))])
    cands = [cand("t", contact="tokyo", contact_tz="Asia/Tokyo"),
             cand("l", contact="la", contact_tz="America/Los_Angeles")]
    verdicts = by_key(arbitrate(cands, hist, policy(per_day=1), NOW))
    assert verdicts["t"].action == "send"
    assert verdicts["l"].action == "defer"
    assert verdicts["l"].until == datetime(2025, 3, 5, 8, 0, tzinfo=UTC)
    assert "America/Los_Angeles" in verdicts["l"].reason


def test_in_app_has_its_own_budget() -> None:
    pol = ContactPolicy(contact_caps={"email": Cap(per_day=1), "in_app": Cap(per_day=2)})
    cands = [cand("e1"), cand("e2"), cand("i1", channel="in_app"), cand("i2", channel="in_app"),
             cand("i3", channel="in_app")]
    verdicts = by_key(arbitrate(cands, History(), pol, NOW))
    assert {k: v.action for k, v in verdicts.items()} == {"e1": "send", "e2": "defer", "i1": "send",
                                                            "i2": "send", "i3": "defer"}
