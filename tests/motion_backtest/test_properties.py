"""Hypothesis: the vectorised figures equal a day-by-day reference, and the invariants CS Ops relies on hold."""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from hypothesis import given
from hypothesis import strategies as st

from longtail.core.motion.backtest import (
    RuleStats,
    outcomes_from_subscriptions,
    population_from_subscriptions,
    rule_stats,
)
from tests.motion_backtest.helpers import day, fires, subs

ACCOUNTS = ("a", "b", "c", "d")
LAST_DAY = 80

Sub = tuple[str, int, int | None]
Fire = tuple[str, int]


@dataclass(frozen=True)
class World:
    subs: list[Sub]
    fires: list[Fire]
    data_end: int
    horizon: int
    start: int
    end: int


@st.composite
def worlds(draw: st.DrawFn) -> World:
    rows: list[Sub] = []
    for _ in range(draw(st.integers(0, 8))):
        start = draw(st.integers(0, LAST_DAY))
        length = draw(st.one_of(st.none(), st.integers(0, 40)))
        rows.append((draw(st.sampled_from(ACCOUNTS)), start, None if length is None else start + length))
    fire_rows = draw(st.lists(st.tuples(st.sampled_from(ACCOUNTS), st.integers(0, LAST_DAY)), max_size=25))
    start = draw(st.integers(0, LAST_DAY))
    return World(subs=rows, fires=fire_rows, data_end=draw(st.integers(20, LAST_DAY + 20)),
                 horizon=draw(st.integers(1, 30)), start=start, end=draw(st.integers(start, LAST_DAY)))


def compute(w: World, fire_rows: list[Fire] | None = None) -> RuleStats:
    table = subs(w.subs)
    outcomes = outcomes_from_subscriptions(table, day(w.data_end))
    population = population_from_subscriptions(table, [day(n) for n in range(LAST_DAY + 1)])
    return rule_stats(fires(w.fires if fire_rows is None else fire_rows), outcomes, population,
                      horizon_days=w.horizon, start=day(w.start), end=day(w.end), csm_count=2)


def active(w: World, account: str, n: int) -> bool:
    return any(a == account and s <= n and (e is None or n < e) for a, s, e in w.subs)


def reference_churns(w: World) -> set[Fire]:
    """Day by day: active yesterday, not today, seen by data_end, and not back within the horizon."""
    out = set()
    for account in ACCOUNTS:
        for n in range(-1, w.data_end + 1):
            back = any(active(w, account, x) for x in range(n + 1, n + w.horizon + 1))
            if active(w, account, n - 1) and not active(w, account, n) and not back:
                out.add((account, n))
    return out


def reference(w: World) -> dict[str, object]:
    churns = reference_churns(w)
    h = w.horizon
    shot = {(a, n) for a, n in w.fires if w.start <= n <= w.end}

    def followed(account: str, n: int) -> bool:
        return any((account, c) in churns for c in range(n + 1, n + h + 1))

    observed = [(a, n) for a, n in shot if n + h <= w.data_end]
    window = [(a, c) for a, c in churns if w.start < c <= w.end]
    leads = [max(c - n for a2, n in shot if a2 == a and c - h <= n < c) for a, c in window
             if any(a2 == a and c - h <= n < c for a2, n in shot)]
    days = [(a, n) for a in ACCOUNTS for n in range(w.start, w.end + 1)
            if active(w, a, n) and n + h <= w.data_end]
    return {
        "fires": len(shot),
        "censored_fires": len(shot) - len(observed),
        "precision": sum(followed(a, n) for a, n in observed) / len(observed) if observed else None,
        "recall": len(leads) / len(window) if window else None,
        "lead_time_days": float(statistics.median(leads)) if leads else None,
        "base_rate": sum(followed(a, n) for a, n in days) / len(days) if days else None,
    }


@given(worlds())
def test_matches_the_day_by_day_reference(w: World) -> None:
    s = compute(w).as_dict()
    expected = reference(w)
    assert {k: s[k] for k in expected} == expected


@given(worlds())
def test_ratios_are_shares(w: World) -> None:
    s = compute(w)
    for value in (s.precision, s.recall, s.base_rate):
        assert value is None or 0.0 <= value <= 1.0


@given(worlds(), st.lists(st.tuples(st.sampled_from(ACCOUNTS), st.integers(0, LAST_DAY)), max_size=10))
def test_adding_fires_never_lowers_recall(w: World, extra: list[Fire]) -> None:
    before, after = compute(w), compute(w, w.fires + extra)
    assert (before.recall is None) == (after.recall is None)
    if before.recall is not None and after.recall is not None:
        assert after.recall >= before.recall


@given(worlds())
def test_firing_on_every_active_account_day_has_the_base_rate_as_precision(w: World) -> None:
    everyone = [(a, n) for a in ACCOUNTS for n in range(LAST_DAY + 1) if active(w, a, n)]
    s = compute(w, everyone)
    assert s.precision == s.base_rate
    assert s.censored_fires == s.censored_account_days
    assert s.lift is None or s.lift == 1.0
