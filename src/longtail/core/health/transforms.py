"""A component's transform as two plain functions: value -> score, and required score -> target value."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from longtail.core.health.model import BandsTransform, Component, LinearBoundedTransform, LinearTransform

_TOL = 1e-9

Floats = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Target:
    """The least improvement of a value: at least `value` (or more than it, when `strict`) for higher_is_better,
    at most `value` (or less than it) for lower_is_better."""

    value: float
    strict: bool


@dataclass(frozen=True, slots=True)
class CompiledTransform:
    score: Callable[[float], float]
    best: float  # the highest score the transform can give
    inverse: Callable[[float], Target | None]  # None: no value scores that high


def compile_transform(comp: Component) -> CompiledTransform:
    higher = comp.polarity == "higher_is_better"
    t = comp.transform
    if isinstance(t, BandsTransform):
        compiled = _bands(t, higher)
    elif isinstance(t, LinearTransform):
        compiled = _linear(t.min, t.max, 0.0, 100.0, higher)
    else:
        assert isinstance(t, LinearBoundedTransform)
        compiled = _linear(t.min, t.max, t.floor, t.ceiling, higher)
    if comp.step is None:
        return compiled
    step = comp.step
    raw_inverse, score = compiled.inverse, compiled.score

    def stepped(required: float) -> Target | None:
        target = raw_inverse(required)
        return None if target is None else _snap(target, step, higher, lambda v: score(v) >= required - _TOL)

    return CompiledTransform(score, compiled.best, stepped)


def _linear(lo: float, hi: float, floor: float, ceiling: float, higher: bool) -> CompiledTransform:
    span = hi - lo
    rng = ceiling - floor

    def score(value: float) -> float:
        frac = (value - lo) / span
        frac = 0.0 if frac < 0 else 1.0 if frac > 1 else frac
        return floor + rng * (frac if higher else 1.0 - frac)

    def inverse(required: float) -> Target | None:
        if required > ceiling + _TOL:
            return None
        frac = min(max((required - floor) / rng, 0.0), 1.0)
        return Target(lo + frac * span if higher else lo + (1.0 - frac) * span, strict=False)

    return CompiledTransform(score, ceiling, inverse)


def _bands(t: BandsTransform, higher: bool) -> CompiledTransform:
    steps = [(s.below, s.inclusive, s.score) for s in t.steps]

    def score(value: float) -> float:
        for below, inclusive, points in steps:
            if below is None or value < below or (inclusive and value == below):
                return points
        return steps[-1][2]

    def inverse(required: float) -> Target | None:
        if higher:  # the first step scoring enough; its lowest value
            for index, (_, _, points) in enumerate(steps):
                if points >= required - _TOL:
                    if index == 0:
                        return Target(-math.inf, strict=False)
                    below, inclusive, _ = steps[index - 1]
                    assert below is not None
                    return Target(below, strict=inclusive)
            return None
        last = None  # the last step scoring enough; its highest value
        for index, (_, _, points) in enumerate(steps):
            if points >= required - _TOL:
                last = index
        if last is None:
            return None
        below, inclusive, _ = steps[last]
        return Target(math.inf, strict=False) if below is None else Target(below, strict=not inclusive)

    return CompiledTransform(score, max(p for _, _, p in steps), inverse)


def _snap(target: Target, step: float, higher: bool, enough: Callable[[float], bool]) -> Target:
    """Round a target to the metric's grid (e.g. whole users), keeping it sufficient."""
    if math.isinf(target.value):
        return target
    q = target.value / step
    near = round(q)
    if not target.strict and abs(q - near) < 1e-6 and enough(near * step):
        return Target(near * step, strict=False)
    q = math.ceil(q) if higher else math.floor(q)
    if target.strict and q * step == target.value:
        q += 1 if higher else -1
    for _ in range(100):  # float edge cases only: the transforms are monotone
        if enough(q * step):
            break
        q += 1 if higher else -1
    return Target(q * step, strict=False)


def vector_score(comp: Component) -> Callable[[Floats], Floats]:
    """The component's transform over an array of finite values: the arithmetic of `compile_transform`'s score."""
    higher = comp.polarity == "higher_is_better"
    t = comp.transform
    if isinstance(t, BandsTransform):
        steps = [(s.below, s.inclusive, s.score) for s in t.steps]

        def bands(values: Floats) -> Floats:
            points = np.full(len(values), steps[-1][2])
            for below, inclusive, score in reversed(steps):  # the first step that takes the value wins
                if below is None:
                    points[:] = score
                else:
                    hit = (values < below) | (values == below) if inclusive else values < below
                    points = np.where(hit, score, points)
            return points

        return bands
    lo, hi = t.min, t.max
    floor, ceiling = (0.0, 100.0) if isinstance(t, LinearTransform) else (t.floor, t.ceiling)
    span, rng = hi - lo, ceiling - floor

    def linear(values: Floats) -> Floats:
        frac = (values - lo) / span
        frac = np.where(frac < 0, 0.0, np.where(frac > 1, 1.0, frac))
        return floor + rng * (frac if higher else 1.0 - frac)

    return linear
