"""Newcombe's interval against the published worked examples, and its properties."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from longtail.core.journeys.lift import lift, newcombe, wilson


@pytest.mark.parametrize(("k", "n", "low", "high"), [
    # Newcombe (1998a), Statistics in Medicine 17:857, Table I, method 3 (Wilson score).
    (81, 263, 0.2553, 0.3662),
    (15, 148, 0.0624, 0.1605),
    (0, 20, 0.0, 0.1611),
    (1, 29, 0.0061, 0.1718),
])
def test_wilson_matches_the_published_intervals(k: int, n: int, low: float, high: float) -> None:
    got = wilson(k, n)
    assert got == pytest.approx((low, high), abs=5e-5)


@pytest.mark.parametrize(("counts", "low", "high"), [
    # Newcombe (1998b), Statistics in Medicine 17:873, Table II, method 10 (hybrid score).
    ((56, 70, 48, 80), 0.0524, 0.3339),
    ((9, 10, 3, 10), 0.1705, 0.8090),
    ((5, 56, 0, 29), -0.0381, 0.1926),
])
def test_newcombe_matches_the_published_intervals(counts: tuple[int, int, int, int], low: float,
                                                  high: float) -> None:
    k1, n1, k2, n2 = counts
    d = newcombe(k1, n1, k2, n2)
    assert d.estimate == pytest.approx(k1 / n1 - k2 / n2)
    assert (d.low, d.high) == pytest.approx((low, high), abs=5e-5)


def test_wilson_refuses_impossible_counts() -> None:
    with pytest.raises(ValueError, match="successes"):
        wilson(3, 2)
    with pytest.raises(ValueError, match="successes"):
        wilson(0, 0)


groups = st.integers(min_value=1, max_value=400).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n)))


@given(groups, groups)
def test_the_interval_contains_the_estimate_and_stays_in_range(a: tuple[int, int], b: tuple[int, int]) -> None:
    d = newcombe(a[0], a[1], b[0], b[1])
    assert -1.0 <= d.low <= d.estimate + 1e-12
    assert d.estimate - 1e-12 <= d.high <= 1.0
    assert d.high - d.low > 0  # never a zero-width interval, even at 0% or 100%


@given(groups, groups, st.integers(min_value=2, max_value=20))
def test_more_data_with_the_same_rates_narrows_the_interval(a: tuple[int, int], b: tuple[int, int],
                                                            m: int) -> None:
    small = newcombe(a[0], a[1], b[0], b[1])
    large = newcombe(a[0] * m, a[1] * m, b[0] * m, b[1] * m)
    assert large.estimate == pytest.approx(small.estimate)
    assert large.high - large.low < small.high - small.low


def test_too_few_accounts_gives_no_estimate() -> None:
    result = lift(treated=100, treated_converted=30, holdout=5, holdout_converted=1)
    assert result.difference is None
    assert result.verdict.startswith("not enough data")
    assert "5 held-out" in result.verdict


def test_the_verdict_says_whether_zero_is_excluded() -> None:
    assert lift(200, 120, 200, 60).verdict.startswith("treated accounts convert more: +30.0 points")
    assert lift(200, 60, 200, 120).verdict.startswith("treated accounts convert less")
    assert lift(40, 10, 40, 9).verdict.startswith("no clear difference")
    assert lift(200, 120, 200, 60).treated_rate == pytest.approx(0.6)
