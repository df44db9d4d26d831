"""Reasons and path to green over columns: what `_reasons`/`_path` of `scoring` say, for many accounts at once.

Every rule here mirrors a line of `scoring` or `transforms` (same float operations in the same order, stable
sorts for the same ties); numbers are formatted once per distinct value with `scoring._fmt`. The tests compare
the two result by result, including Hypothesis-generated scorecards and values.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from longtail.core.health.model import BandsTransform, Component, LinearTransform
from longtail.core.health.scoring import _CARRY, _ZERO, STRICT_NUDGE, _Comp, _Compiled, _fmt
from longtail.core.health.transforms import _TOL, vector_score

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class Columns:
    """A scorecard group's parts, restricted to the accounts being explained (`m` of them)."""

    values: list[Floats]  # per component, NaN: no value
    carried: list[Bools]
    points: list[Floats]  # NaN: not scored
    weight: Floats
    total: Floats
    final: Floats
    before: dict[str, Floats]  # previous_metric columns (NaN: none)


def where(mask: Bools, yes: pa.Array | str, no: pa.Array | str) -> pa.Array:
    return pc.if_else(pa.array(mask, pa.bool_()), yes, no)


def join(*parts: pa.Array | str) -> pa.Array:
    return pc.binary_join_element_wise(*parts, "")


def texts(comp: _Comp, values: Floats) -> pa.Array:
    """`_fmt(comp, value)` of each value, formatted once per distinct value (NaN: "no data")."""
    known = ~np.isnan(values)
    distinct = np.unique(values[known])
    out = pa.array([_fmt(comp, v) for v in distinct.tolist()] + [_fmt(comp, None), _fmt(comp, -0.0)], pa.string())
    at = np.where(known, np.searchsorted(distinct, np.where(known, values, 0.0)), len(distinct))
    at = np.where((values == 0.0) & np.signbit(values), len(distinct) + 1, at)  # "-0%" is not "0%"
    return out.take(pa.array(at.astype(np.int64)))


def _whole(values: Floats) -> pa.Array:
    """f"{value:.0f}" of each value, once per distinct value."""
    distinct = np.unique(values)
    out = pa.array([f"{v:.0f}" for v in distinct.tolist()], pa.string())
    return out.take(pa.array(np.searchsorted(distinct, values).astype(np.int64)))


def meets_green(c: _Compiled, points: Floats) -> Bools:
    return points > c.green_at if c.green_strict else points >= c.green_at


# --- reasons -------------------------------------------------------------------------------------------------

def reasons(c: _Compiled, cols: Columns) -> tuple[Ints, pa.Array]:
    """Per account, how many reasons, and all the sentences in account order (worst first within one).

    A sentence is built only where it is said: for the (account, component) pairs that lose points, and the
    sentence of its own for an account with none.
    """
    m, k = len(cols.final), len(c.comps)
    nodata = cols.weight == 0.0
    keys, sentences = [], []
    place = np.full((m, k + 1), -1, dtype=np.int64)  # where each said sentence sits in the concatenation
    start = 0
    for j, comp in enumerate(c.comps):
        points = cols.points[j]
        include = ~np.isnan(points) & ~meets_green(c, points) & ~nodata
        share = 1.0 if c.worst_of else np.divide(comp.weight, cols.weight, out=np.zeros(m), where=~nodata)
        loss = (100.0 - np.where(include, points, 0.0)) * share
        keys.append(np.where(include, -loss, np.inf))
        at = np.flatnonzero(include)
        place[at, j] = start + np.arange(len(at))
        start += len(at)
        sentences.append(_sentences(comp, cols, j, at))
    key = np.stack(keys, axis=1) if k else np.zeros((m, 0))
    count = np.isfinite(key).sum(axis=1)
    # an account with no failing part gets one sentence of its own: no data at all, or below green overall
    at = np.flatnonzero(count == 0)
    place[at, k] = start + np.arange(len(at))
    alone = join("The score of ", _whole(cols.final[at]), f" is below {c.target_band} although no single part is")
    names = ", ".join(comp.lower_label for comp in c.comps)
    sentences.append(where(nodata[at], f"No data for any part of the {c.name} scorecard ({names}); the score is "
                                       "neutral", alone))
    key = np.concatenate([key, np.where(count == 0, -np.inf, np.inf)[:, None]], axis=1)
    order = np.argsort(key, axis=1, kind="stable")
    taken = np.take_along_axis(key, order, axis=1) < np.inf
    flat = np.take_along_axis(place, order, axis=1)[taken]
    return taken.sum(axis=1), pa.concat_arrays(sentences).take(pa.array(flat))


def _sentences(comp: _Comp, cols: Columns, j: int, at: Ints) -> pa.Array:
    """`_sentence` for the accounts at positions `at` (where the component is a reason)."""
    value, points = cols.values[j][at], cols.points[j][at]
    now = texts(comp, value)
    body = join(f"{comp.label} is ", now)
    if comp.previous_metric:
        before = cols.before[comp.previous_metric][at]
        moved = ~np.isnan(before) & ~np.isnan(value) & (value < before if comp.higher else value > before)
        verb = "fell" if comp.higher else "rose"
        body = where(moved, join(f"{comp.label} {verb} from ", texts(comp, before), " to ", now), body)
    if comp.policy == _CARRY:
        body = where(cols.carried[j][at], join(body, " (last known value; no new data)"), body)
    tail = comp.target_text or join(", scoring ", _whole(np.where(np.isnan(points), 0.0, points)), " of 100")
    how = "0 of 100" if comp.policy == _ZERO else "neutral, 50 of 100"
    return where(np.isnan(value), f"No data for {comp.lower_label} (counted as {how})", join(body, tail))


# --- path to green -------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Needs:
    """Per account and position, the component to improve (-1: none) and the score it needs, in path order."""

    comp: Ints
    required: Floats
    reachable: Bools


def needs(c: _Compiled, cols: Columns) -> Needs:
    m, k = len(cols.final), len(c.comps)
    goal = c.green_at + (STRICT_NUDGE if c.green_strict else 0.0)
    nodata = cols.weight == 0.0
    points = np.stack(cols.points, axis=1) if k else np.zeros((m, 0))
    if c.worst_of:
        need = ~np.isnan(points) & (points < goal) & ~nodata[:, None]
        comp = np.where(need, np.arange(k)[None, :], -1)
        return Needs(comp, np.full((m, k), goal), ~nodata)
    best = np.array([comp.transform.best for comp in c.comps])
    weights = np.array([comp.weight for comp in c.comps])
    eligible = ~np.isnan(points) & (best[None, :] > points)
    gain = np.where(eligible, weights[None, :] * (best[None, :] - np.where(eligible, points, 0.0)), np.nan)
    order = np.argsort(np.where(eligible, -gain, np.inf), axis=1, kind="stable")
    deficit = goal * cols.weight - cols.total
    comp = np.full((m, k), -1)
    required = np.zeros((m, k))
    rows = np.arange(m)
    for q in range(k):
        j = order[:, q]
        g = gain[rows, j]
        act = ~np.isnan(g) & (deficit > 1e-12) & ~nodata
        take = np.where(deficit < g, deficit, g)
        comp[:, q] = np.where(act, j, -1)
        required[:, q] = np.where(act, points[rows, j] + take / weights[j], 0.0)
        deficit = np.where(act, deficit - take, deficit)
    return Needs(comp, required, ~nodata & ~(deficit > 1e-9))


def inverse(comp: Component, required: Floats) -> tuple[Floats, Bools, Bools]:
    """`compile_transform(comp).inverse` over an array: target value, strict, and whether a target exists."""
    higher = comp.polarity == "higher_is_better"
    t = comp.transform
    if isinstance(t, BandsTransform):
        value, strict, ok = _bands_inverse(t, higher, required)
    else:
        floor, ceiling = (0.0, 100.0) if isinstance(t, LinearTransform) else (t.floor, t.ceiling)
        span, rng = t.max - t.min, ceiling - floor
        frac = (required - floor) / rng
        frac = np.where(frac < 0.0, 0.0, frac)
        frac = np.where(frac > 1.0, 1.0, frac)
        value = t.min + frac * span if higher else t.min + (1.0 - frac) * span
        strict, ok = np.zeros(len(required), dtype=np.bool_), ~(required > ceiling + _TOL)
    if comp.step is not None:
        value = _snap(value, strict, comp, required, ok)
        strict = np.zeros(len(required), dtype=np.bool_)
    return value, strict, ok


def _bands_inverse(t: BandsTransform, higher: bool, required: Floats) -> tuple[Floats, Bools, Bools]:
    n = len(required)
    steps = t.steps
    enough = [s.score >= required - _TOL for s in steps]
    value, strict, ok = np.full(n, np.nan), np.zeros(n, dtype=np.bool_), np.zeros(n, dtype=np.bool_)
    if higher:  # the first step scoring enough; its lowest value
        for index in reversed(range(len(steps))):
            hit = enough[index]
            edge = steps[index - 1].below if index else None
            below = -np.inf if edge is None else edge  # only the first step has none before it
            inclusive = False if index == 0 else steps[index - 1].inclusive
            value = np.where(hit, below, value)
            strict = np.where(hit, inclusive, strict)
            ok |= hit
        return value, strict, ok
    for index, step in enumerate(steps):  # the last step scoring enough; its highest value
        hit = enough[index]
        value = np.where(hit, np.inf if step.below is None else step.below, value)
        strict = np.where(hit, step.below is not None and not step.inclusive, strict)
        ok |= hit
    return value, strict, ok


def _snap(value: Floats, strict: Bools, comp: Component, required: Floats, ok: Bools) -> Floats:
    """`transforms._snap` over an array."""
    step = comp.step
    assert step is not None
    higher = comp.polarity == "higher_is_better"
    score = vector_score(comp)
    finite = np.isfinite(value) & ok
    safe = np.where(finite, value, 0.0)

    def enough(v: Floats) -> Bools:
        return score(v) >= required - _TOL

    q = safe / step
    near = np.round(q)
    use_near = ~strict & (np.abs(q - near) < 1e-6) & enough(near * step)
    direction = 1.0 if higher else -1.0
    q2 = np.ceil(q) if higher else np.floor(q)
    q2 = np.where(strict & (q2 * step == safe), q2 + direction, q2)
    pending = finite & ~use_near
    for _ in range(100):  # float edge cases only: the transforms are monotone
        fail = pending & ~enough(q2 * step)
        if not fail.any():
            break
        q2 = np.where(fail, q2 + direction, q2)
    return np.where(finite, np.where(use_near, near * step, q2 * step), value)


def path(c: _Compiled, cols: Columns) -> tuple[Ints, pa.Array, Bools]:
    """Per account, how many path steps and whether green is reachable, and all the steps in account order."""
    need = needs(c, cols)
    m, k = need.comp.shape
    target, strict = np.full((m, k), np.nan), np.zeros((m, k), dtype=np.bool_)
    valid = np.ones((m, k), dtype=np.bool_)
    for j, comp in enumerate(c.comps):
        sel = need.comp == j
        if sel.any():
            value, exact, ok = inverse(comp.model, need.required[sel])
            target[sel], strict[sel], valid[sel] = value, exact, ok & np.isfinite(value)
    reachable = need.reachable & (valid | (need.comp < 0)).all(axis=1)
    rows, positions = np.nonzero((need.comp >= 0) & reachable[:, None])  # account order, then path order
    comps = need.comp[rows, positions]
    current = np.stack(cols.values, axis=1)[rows, comps] if k else np.zeros(0)
    goal, exact = target[rows, positions], strict[rows, positions]
    sentences, at = [], np.zeros(len(rows), dtype=np.int64)
    start = 0
    for j, comp in enumerate(c.comps):
        sel = np.flatnonzero(comps == j)
        at[sel] = start + np.arange(len(sel))
        start += len(sel)
        sentences.append(_path_sentences(comp, current[sel], goal[sel], exact[sel]))
    metric = pa.DictionaryArray.from_arrays(pa.array(comps.astype(np.int32)),
                                            pa.array([comp.metric for comp in c.comps], pa.string()))
    said = pa.concat_arrays(sentences).take(pa.array(at)) if sentences else pa.array([], pa.string())
    steps = pa.StructArray.from_arrays(
        [metric.cast(pa.string()), pa.array(current, pa.float64(), from_pandas=True), pa.array(goal, pa.float64()),
         pa.array(exact, pa.bool_()), said], names=["metric", "current", "target", "strict", "sentence"])
    return np.bincount(rows, minlength=m), steps, reachable


def _path_sentences(comp: _Comp, current: Floats, target: Floats, strict: Bools) -> pa.Array:
    """`_path_sentence` for each step of one component."""
    if comp.higher:
        rule = where(strict, "above", "at least")
        verb = "Raise"
    else:
        rule = where(strict, "below", "at most")
        verb = "Lower"
    goal = join(rule, " ", texts(comp, target))
    record = join(f"Record {comp.lower_label} of ", goal)
    change = join(f"{verb} {comp.lower_label} from ", texts(comp, current), " to ", goal)
    return where(np.isnan(current), record, change)
