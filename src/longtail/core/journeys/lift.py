"""Lift of a journey's goal: treated accounts against held-out accounts, with a 95% confidence interval.

The interval of the difference of two proportions is Newcombe's hybrid score interval (method 10 of
Newcombe 1998, "Interval estimation for the difference between independent proportions"), built from the
Wilson score interval of each group. It is chosen over the textbook Wald interval because it stays inside
[-1, 1], never has zero width at 0% or 100% conversion, and keeps close to its nominal 95% coverage with the
small groups a holdout of 10% gives; and over a bootstrap because it is exact arithmetic (the same numbers on
every run, no seed) and costs nothing on a million accounts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

Z95 = 1.959963984540054
"""The 97.5% quantile of the standard normal distribution: a two-sided 95% interval."""
MIN_GROUP = 20
"""Fewer accounts than this in either group, and the report says "not enough data" instead of a lift: an
interval from a handful of accounts is so wide that printing a number invites reading noise as an effect."""


def wilson(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of a proportion successes / n (n >= 1)."""
    if n < 1 or not 0 <= successes <= n:
        raise ValueError(f"need 0 <= successes <= n and n >= 1, got {successes}/{n}")
    p = successes / n
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z / (1 + z2 / n) * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    # Clamp away float noise at 0 and 1 (e.g. 0/n gives -1e-17).
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class Difference:
    """p1 - p2 with its interval: `low` <= `estimate` <= `high`."""

    estimate: float
    low: float
    high: float


def newcombe(k1: int, n1: int, k2: int, n2: int, z: float = Z95) -> Difference:
    """Newcombe's hybrid score interval for p1 - p2, with p1 = k1/n1 and p2 = k2/n2."""
    p1, p2 = k1 / n1 if n1 else math.nan, k2 / n2 if n2 else math.nan
    l1, u1 = wilson(k1, n1, z)
    l2, u2 = wilson(k2, n2, z)
    d = p1 - p2
    low = d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return Difference(d, max(-1.0, low), min(1.0, high))


@dataclass(frozen=True)
class Lift:
    """Goal conversion of treated vs held-out accounts; `difference` is None when there is not enough data."""

    treated: int
    treated_converted: int
    holdout: int
    holdout_converted: int
    difference: Difference | None
    verdict: str
    """A sentence: the effect and whether the interval excludes zero, or why there is no estimate."""

    @property
    def treated_rate(self) -> float | None:
        return self.treated_converted / self.treated if self.treated else None

    @property
    def holdout_rate(self) -> float | None:
        return self.holdout_converted / self.holdout if self.holdout else None


def lift(treated: int, treated_converted: int, holdout: int, holdout_converted: int,
         min_group: int = MIN_GROUP) -> Lift:
    """Compare conversion in the treated group with the holdout (counts of accounts)."""
    if treated < min_group or holdout < min_group:
        why = (f"not enough data: {treated} treated and {holdout} held-out accounts; "
               f"at least {min_group} in each group are needed for an interval")
        return Lift(treated, treated_converted, holdout, holdout_converted, None, why)
    diff = newcombe(treated_converted, treated, holdout_converted, holdout)
    points = f"{diff.estimate * 100:+.1f} points (95% CI {diff.low * 100:+.1f} to {diff.high * 100:+.1f})"
    if diff.low > 0:
        verdict = f"treated accounts convert more: {points}"
    elif diff.high < 0:
        verdict = f"treated accounts convert less: {points}"
    else:
        verdict = f"no clear difference: {points}; the interval includes zero"
    return Lift(treated, treated_converted, holdout, holdout_converted, diff, verdict)
