"""Cooldowns and caps: boundaries, same-day idempotence, and a property against a plain re-statement."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from longtail.core.motion.definitions import Cap
from longtail.core.motion.throttle import Verdict, throttle

DAY = date(2025, 3, 15)


def one(history: list[date], *, cooldown: int = 0, cap: Cap | None = None, as_of: date = DAY) -> Verdict:
    return throttle(["a"], {"a": history}, as_of, cooldown_days=cooldown, cap=cap)[0]


def test_no_history_is_allowed() -> None:
    assert one([], cooldown=30, cap=Cap(fires=1, per_days=30)) == Verdict("a", True, "allowed")


def test_cooldown_boundary_exactly_n_days_later_is_allowed() -> None:
    fired = DAY - timedelta(days=7)
    assert one([fired], cooldown=7).allowed
    blocked = one([fired + timedelta(days=1)], cooldown=7)
    assert blocked == Verdict("a", False, "cooldown: fired on 2025-03-09, quiet until 2025-03-16")


def test_cooldown_counts_from_the_latest_fire_whatever_the_order() -> None:
    history = [DAY - timedelta(days=2), DAY - timedelta(days=40)]
    assert not one(history, cooldown=7).allowed
    assert one(list(reversed(history)), cooldown=7).reason.startswith("cooldown: fired on 2025-03-13")


def test_no_cooldown_allows_a_fire_yesterday() -> None:
    assert one([DAY - timedelta(days=1)], cooldown=0).allowed


def test_cap_window_boundary() -> None:
    cap = Cap(fires=2, per_days=30)
    inside = [DAY - timedelta(days=29), DAY - timedelta(days=1)]
    verdict = one(inside, cap=cap)
    assert verdict == Verdict("a", False, "cap: already fired 2 time(s) in the 30 days since 2025-02-14 (cap 2)")
    outside = [DAY - timedelta(days=30), DAY - timedelta(days=1)]
    assert one(outside, cap=cap).allowed


def test_cap_below_the_limit_is_allowed() -> None:
    assert one([DAY - timedelta(days=3)], cap=Cap(fires=2, per_days=30)).allowed


def test_cooldown_is_reported_before_the_cap() -> None:
    verdict = one([DAY - timedelta(days=1)], cooldown=5, cap=Cap(fires=1, per_days=30))
    assert verdict.reason.startswith("cooldown:")


def test_same_day_and_later_history_is_ignored() -> None:
    # A second run of the same day sees the first run's fire in history; it must decide the same way.
    cap = Cap(fires=1, per_days=10)
    assert one([DAY], cooldown=7, cap=cap).allowed
    assert one([DAY, DAY + timedelta(days=1)], cooldown=7, cap=cap).allowed
    earlier = [DAY - timedelta(days=20)]
    assert one(earlier, cooldown=7, cap=cap) == one([*earlier, DAY], cooldown=7, cap=cap)


def test_one_verdict_per_account_in_order() -> None:
    history = {"b": [DAY - timedelta(days=1)]}
    verdicts = throttle(["c", "b", "a"], history, DAY, cooldown_days=3, cap=None)
    assert [(v.account_id, v.allowed) for v in verdicts] == [("c", True), ("b", False), ("a", True)]
    assert throttle([], history, DAY, cooldown_days=3, cap=None) == []


@given(
    offsets=st.lists(st.integers(min_value=-5, max_value=60), max_size=8),
    cooldown=st.integers(min_value=0, max_value=40),
    fires=st.integers(min_value=1, max_value=4),
    per_days=st.integers(min_value=1, max_value=60),
)
def test_matches_the_rule_in_words(offsets: list[int], cooldown: int, fires: int, per_days: int) -> None:
    """Allowed iff no fire within `cooldown` days before and fewer than `fires` in the last `per_days` days."""
    history = [DAY - timedelta(days=n) for n in offsets]
    past = [n for n in offsets if n > 0]
    expected = not (past and min(past) < cooldown) and sum(1 for n in past if n < per_days) < fires
    assert one(history, cooldown=cooldown, cap=Cap(fires=fires, per_days=per_days)).allowed == expected
