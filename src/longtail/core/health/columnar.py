"""Score a whole feature table column by column: the results of `score_table`, row for row, as an Arrow table.

`score_table` makes one Python object per account and component; at a million accounts scoring and storing
took ~90 CPU-s a day. Here every step runs on NumPy/Arrow columns: values, null policies, carry_last, the
transforms, the aggregate, bands, hysteresis, the green test, the components, and (`columnar_explain`) the
reasons and the path to green, whose sentences are assembled with Arrow string functions. The score is rounded
by `round6` (what `round(x, 6)` gives; Python's round only near ties). Python runs once per distinct number, to
format it, and per value only for columns that are neither numbers nor booleans. Each step mirrors a line of
`scoring`; the tests require the two to give the same results, row for row, over random scorecards, values and
previous states.

Pure: Arrow in, Arrow out (see docs/health.md for the stored columns).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from longtail.core.health import columnar_explain as explain
from longtail.core.health.loader import ScorecardSet
from longtail.core.health.model import Condition, Scorecard
from longtail.core.health.scoring import (
    _CARRY,
    _NEUTRAL,
    _ZERO,
    NEUTRAL,
    NO_DATA_SCORE,
    HealthResult,
    _clean,
    _compile,
    _Compiled,
)
from longtail.core.health.transforms import vector_score

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]

COMPONENT = pa.struct([("metric", pa.string()), ("label", pa.string()), ("value", pa.float64()),
                       ("carried", pa.bool_()), ("score", pa.float64()), ("weight", pa.float64()),
                       ("contribution", pa.float64())])
PATH_STEP = pa.struct([("metric", pa.string()), ("current", pa.float64()), ("target", pa.float64()),
                       ("strict", pa.bool_()), ("sentence", pa.string())])
RESULT_SCHEMA = pa.schema([
    ("account_id", pa.string()),
    ("as_of", pa.date32()),
    ("score", pa.float64()),
    ("band", pa.string()),
    ("raw_band", pa.string()),
    ("pending_band", pa.string()),
    ("pending_since", pa.date32()),
    ("scorecard", pa.string()),
    ("scorecard_hash", pa.string()),
    ("components", pa.list_(COMPONENT)),  # every component: value, carried, score, weight, contribution
    ("reasons", pa.list_(pa.string())),  # worst first; empty when green
    ("path_to_green", pa.list_(PATH_STEP)),
    ("green_reachable", pa.bool_()),
])
"""One row per account, what `HealthResult` holds."""

PREVIOUS_COLUMNS = ("account_id", "band", "pending_band", "pending_since", "components")
"""What `score_columns` reads of the previous results (a `RESULT_SCHEMA` table, or these columns of one). Of the
components only `metric` and `value` are read, and only when a scorecard carries a metric (`carried_metrics`):
a table whose components hold just those two fields, or that has no components column then, scores the same."""


def score_columns(features: pa.Table, scorecards: ScorecardSet, previous: pa.Table | Previous | None, day: date
                  ) -> pa.Table:
    """Score every row of `features` (one row per account) on `day`: a `RESULT_SCHEMA` table in the same row order.

    `previous`: the last results before `day` (`PREVIOUS_COLUMNS`), for hysteresis and carry_last; accounts
    missing from it have no previous state. Or those results already aligned with the rows (`Previous.aligned`,
    sliced like `features`): scoring a day in batches aligns once. Missing feature columns count as null.
    """
    ids = pc.cast(features.column("account_id"), pa.string()).combine_chunks()
    prev = previous if isinstance(previous, Previous) else Previous.aligned(previous, ids, scorecards)
    if prev.state.num_rows != len(ids):
        raise ValueError(f"the previous state has {prev.state.num_rows} rows for {len(ids)} accounts")
    choice = _choose(features, scorecards)
    groups, rows = [], []
    for index, card in enumerate(scorecards.scorecards):
        where = np.flatnonzero(choice == index)
        if len(where):
            columns = ["account_id", *(m for m in _card_metrics(card) if m in features.column_names)]
            group = features.select(columns).take(where)
            groups.append(_score_group(_compile(card), group, ids.take(where), prev.take(where), day))
            rows.append(where)
    if not groups:
        return RESULT_SCHEMA.empty_table()
    table = pa.concat_tables(groups)
    if len(groups) == 1:
        return table
    return table.take(np.argsort(np.concatenate(rows), kind="stable"))


def _card_metrics(card: Scorecard) -> list[str]:
    return sorted({m for c in card.components for m in (c.metric, c.previous_metric) if m})


def carried_metrics(scorecards: ScorecardSet) -> list[str]:
    """The metrics some component carries forward when null (`carry_last`): the previous values scoring needs."""
    return sorted({c.metric for card in scorecards.scorecards for c in card.components if c.on_null == "carry_last"})


def _choose(features: pa.Table, scorecards: ScorecardSet) -> Ints:
    """Per row, the index of the first scorecard whose conditions hold (the catch-all otherwise), as `score`
    chooses. Conditions on number columns are tested on arrays; any other runs the condition's own test."""
    n = features.num_rows
    choice = np.full(n, len(scorecards.scorecards) - 1, dtype=np.int64)
    undecided = np.ones(n, dtype=np.bool_)
    for index, card in enumerate(scorecards.scorecards):
        if card.is_catch_all:
            choice[undecided] = index
            break
        hit = undecided.copy()
        if card.when_any:
            hit &= np.logical_or.reduce([_holds(cond, features) for cond in card.when_any])
        for cond in card.when_all:
            hit &= _holds(cond, features)
        choice[hit] = index
        undecided &= ~hit
    return choice


def _holds(cond: Condition, features: pa.Table) -> Bools:
    numbers = _numbers(features, cond.metric)
    if numbers is None:
        test = cond.compile_test()
        return np.fromiter((test(v) for v in _pylist(features, cond.metric)), dtype=np.bool_,
                           count=features.num_rows)
    hit = ~np.isnan(numbers)  # unknown values never match
    if cond.eq is not None:
        hit &= False if isinstance(cond.eq, str) else numbers == cond.eq
    if cond.one_of is not None:
        hit &= np.isin(numbers, [v for v in cond.one_of if not isinstance(v, str)])
    for bound, op in ((cond.lt, np.less), (cond.le, np.less_equal), (cond.gt, np.greater),
                      (cond.ge, np.greater_equal)):
        if bound is not None:
            hit &= op(numbers, bound)
    return hit


_EXACT = 2.0**53


def _numbers(features: pa.Table, name: str) -> Floats | None:
    """A number column as float64 (NaN for null), or None when the values are not all exactly floats."""
    if name not in features.column_names:
        return np.full(features.num_rows, np.nan)
    column = features.column(name)
    if not (pa.types.is_floating(column.type) or pa.types.is_integer(column.type)):
        return None
    values = _floats(column)
    if pa.types.is_integer(column.type) and (np.abs(values[~np.isnan(values)]) > _EXACT).any():
        return None  # a float comparison would not be the exact integer one
    return values


def _pylist(table: pa.Table, name: str) -> list[Any]:
    return table.column(name).to_pylist() if name in table.column_names else [None] * table.num_rows


def _values(table: pa.Table, name: str) -> Floats:
    """The column as float64, NaN for null, non-finite and text (what `score` treats as no data)."""
    n = table.num_rows
    if name not in table.column_names:
        return np.full(n, np.nan)
    column = table.column(name)
    kind = column.type
    if not (pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind)):
        # any other type (text, decimals, dictionaries...) value by value, through the very test `score` uses
        cleaned = (_clean(v) for v in column.to_pylist())
        return np.fromiter((math.nan if v is None else v for v in cleaned), dtype=np.float64, count=n)
    values = _floats(column)
    values[~np.isfinite(values)] = np.nan  # nulls are NaN already
    return values


def _floats(column: pa.ChunkedArray) -> Floats:
    """A number or boolean column as a writable float64 array, nulls as NaN (as Python's float() converts)."""
    return np.array(pc.cast(column, pa.float64(), safe=False).to_numpy(zero_copy_only=False), dtype=np.float64)


_STATE = pa.schema([("band", pa.string()), ("pending_band", pa.string()), ("pending_since", pa.date32())])


@dataclass(frozen=True, slots=True)
class Previous:
    """The previous results aligned with the rows being scored: band, pending band and since (null: no state), and
    the last value of each carry_last metric."""

    state: pa.Table  # _STATE
    carried: dict[str, Floats]  # carry_last metric -> last stored value (NaN: none)

    @staticmethod
    def aligned(previous: pa.Table | None, ids: pa.Array | pa.ChunkedArray, scorecards: ScorecardSet) -> Previous:
        """`previous` (`PREVIOUS_COLUMNS`, any order) row by row for the accounts `ids`."""
        metrics = carried_metrics(scorecards)
        ids = pc.cast(ids, pa.string())
        n = len(ids)
        if previous is None or previous.num_rows == 0:
            return Previous(pa.table([pa.nulls(n, f.type) for f in _STATE], schema=_STATE),
                             {m: np.full(n, np.nan) for m in metrics})
        at = pc.index_in(ids, value_set=pc.cast(previous.column("account_id"), pa.string()))
        state = previous.select(_STATE.names).cast(_STATE).take(at)
        carried = {}
        if metrics:
            values = _component_values(previous.column("components"), metrics)
            found = np.asarray(pc.fill_null(at, -1).to_numpy(zero_copy_only=False), dtype=np.int64)
            for metric, column in values.items():
                carried[metric] = np.where(found >= 0, column[np.maximum(found, 0)], np.nan)
        return Previous(state, carried)

    def take(self, rows: Ints) -> Previous:
        return Previous(self.state.take(rows), {m: v[rows] for m, v in self.carried.items()})

    def slice(self, start: int, length: int) -> Previous:
        return Previous(self.state.slice(start, length),
                        {m: v[start:start + length] for m, v in self.carried.items()})


def _component_values(components: pa.ChunkedArray, metrics: Sequence[str]) -> dict[str, Floats]:
    """Per previous row, the stored value of each metric (NaN where the row has none). Chunk by chunk: combining
    the chunks would copy every label and sentence of the day."""
    out = {metric: np.full(len(components), np.nan) for metric in metrics}
    start = 0
    for lists in components.chunks:
        flat = pc.list_flatten(lists)
        parents = np.asarray(pc.list_parent_indices(lists).to_numpy(zero_copy_only=False), dtype=np.int64) + start
        names = flat.field("metric")
        values = np.asarray(flat.field("value").to_numpy(zero_copy_only=False), dtype=np.float64)
        for metric, column in out.items():
            named = np.asarray(pc.fill_null(pc.equal(names, metric), False).to_numpy(zero_copy_only=False))
            mask = named & ~np.isnan(values)
            column[parents[mask]] = values[mask]
        start += len(lists)
    return out


@dataclass(slots=True)
class _Parts:
    """Each component's value, carried flag and score (NaN: none) over a group's rows."""

    values: list[Floats]
    carried: list[Bools]
    points: list[Floats]
    weight: Floats
    total: Floats
    worst: Floats


def _parts(c: _Compiled, table: pa.Table, prev: Previous) -> _Parts:
    n = table.num_rows
    weight, total, worst = np.zeros(n), np.zeros(n), np.full(n, np.inf)
    values, carried, points = [], [], []
    for comp in c.comps:
        value = _values(table, comp.metric)
        was_carried = np.zeros(n, dtype=np.bool_)
        if comp.policy == _CARRY:
            last = prev.carried[comp.metric]
            was_carried = np.isnan(value) & ~np.isnan(last)
            value = np.where(was_carried, last, value)
        known = ~np.isnan(value)
        score = np.full(n, np.nan)
        if known.any():
            score[known] = vector_score(comp.model)(value[known])
        if comp.policy in (_ZERO, _NEUTRAL):
            score[~known] = 0.0 if comp.policy == _ZERO else NEUTRAL
        scored = ~np.isnan(score)
        weight = np.where(scored, weight + comp.weight, weight)
        total = np.where(scored, total + comp.weight * score, total)
        worst = np.where(scored & (score < worst), score, worst)
        values.append(value)
        carried.append(was_carried)
        points.append(score)
    return _Parts(values, carried, points, weight, total, worst)


def _final(c: _Compiled, parts: _Parts) -> Floats:
    """The score as `score` computes it: clamped to [0, 100] (as min/max do), rounded as `round(x, 6)`."""
    raw = parts.worst if c.worst_of else np.divide(parts.total, parts.weight, out=np.zeros_like(parts.total),
                                                    where=parts.weight != 0.0)
    clamped = np.where(raw < 0.0, 0.0, raw)
    clamped = np.where(clamped > 100.0, 100.0, clamped)
    return np.where(parts.weight == 0.0, NO_DATA_SCORE, round6(np.where(parts.weight == 0.0, 0.0, clamped)))


def score_change(now: pa.Array | pa.ChunkedArray, then: pa.Array | pa.ChunkedArray) -> pa.Array:
    """`now - then` of two aligned score columns, rounded to 6 places like the scores (`round6`); null where
    `then` is. What the store keeps as change_7d/change_30d and what a motion's conditions read: one rounding, so
    a condition sees the change `longtail health` shows (60.1 -> 50.0 is -10.1, not -10.100000000000001)."""
    new = np.asarray(pc.fill_null(now, 0.0).to_numpy(zero_copy_only=False), dtype=np.float64)
    old = np.asarray(pc.fill_null(then, 0.0).to_numpy(zero_copy_only=False), dtype=np.float64)
    unknown = pc.is_null(pc.add(now, then)).to_numpy(zero_copy_only=False)
    return pa.array(round6(new - old), pa.float64(), mask=unknown)


_NEAR_TIE = 1e-6


def round6(values: Floats) -> Floats:
    """`round(v, 6)` of each value, exactly, for |v| up to 1e6 (larger ones take Python's round).

    Python rounds the exact binary value half to even and returns the double nearest to the rounded decimal;
    NumPy's `round` computes rint(v * 1e6) / 1e6, whose product is off by up to half an ulp. Off a tie by more
    than `_NEAR_TIE` in the scaled value (far more than that error), rint picks the same integer and the
    division is correctly rounded, so both agree; the few values near a tie, or large, go through Python's round.
    """
    scaled = values * 1e6
    out = np.rint(scaled) / 1e6
    odd = (np.abs(scaled - np.floor(scaled) - 0.5) < _NEAR_TIE) | ~(np.abs(values) <= 1e6)
    if odd.any():
        out[odd] = [round(v, 6) for v in values[odd].tolist()]
    return out


def _band_indexes(c: _Compiled, final: Floats) -> Ints:
    index = np.full(len(final), len(c.edges) - 1, dtype=np.int64)
    for i in reversed(range(len(c.edges))):
        below = c.edges[i]
        if below is None:
            index[:] = i
        else:
            hit = (final < below) | (final == below) if c.inclusive[i] else final < below
            index = np.where(hit, i, index)
    return index


def _score_group(c: _Compiled, table: pa.Table, ids: pa.Array, prev: Previous, day: date) -> pa.Table:
    n = table.num_rows
    parts = _parts(c, table, prev)
    final = _final(c, parts)
    raw = _band_indexes(c, final)
    band, pending, since = _held(c, final, raw, prev, day)
    green = final > c.green_at if c.green_strict else final >= c.green_at
    reasons, path, reachable = _explain(c, table, parts, final, np.flatnonzero(~green))
    names = pa.array(c.names, pa.string())
    pending_names = names.take(pa.array(pending, mask=pending < 0))
    return pa.table([
        ids, pa.repeat(pa.scalar(day, pa.date32()), n), pa.array(final, pa.float64()), names.take(band),
        names.take(raw), pending_names, since, pa.repeat(pa.scalar(c.name, pa.string()), n),
        pa.repeat(pa.scalar(c.hash, pa.string()), n), _components(c, parts, n), reasons, path,
        pa.array(reachable, pa.bool_()),
    ], schema=RESULT_SCHEMA)


def _held(c: _Compiled, final: Floats, raw: Ints, prev: Previous, day: date) -> tuple[Ints, Ints, pa.Array]:
    """The band after hysteresis, the pending band (-1: none) and since when (`_hysteresis` over arrays: a row
    whose previous band is one of this scorecard's and differs from today's keeps it until today's band is
    `margin` past the edge or has been pending `days` days)."""
    names = pa.array(c.names, pa.string())
    held = _index_in(prev.state.column("band"), names)
    waiting = _index_in(prev.state.column("pending_band"), names)
    today = day.toordinal() - _EPOCH_ORDINAL
    started = pc.fill_null(pc.cast(prev.state.column("pending_since"), pa.int32()), today)
    since = np.where(waiting == raw, np.asarray(started.to_numpy(zero_copy_only=False), dtype=np.int64), today)
    changed = (held >= 0) & (held != raw)
    edges = np.array([math.nan if e is None else e for e in c.edges], dtype=np.float64)
    fell = raw < held
    edge = np.where(fell, edges[np.maximum(held - 1, 0)], edges[np.maximum(held, 0)])
    distance = np.where(fell, edge - final, final - edge)
    rule = c.card.hysteresis
    moves = ~changed | (distance >= rule.margin) | (today - since + 1 >= rule.days)
    band = np.where(moves, raw, held)
    pending = np.where(moves, -1, raw)
    days = pa.array(np.where(moves, 0, since).astype(np.int32)).cast(pa.date32())
    return band, pending, pc.if_else(pa.array(moves), pa.scalar(None, pa.date32()), days)


_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


def _index_in(values: pa.ChunkedArray | pa.Array, names: pa.Array) -> Ints:
    """Each value's position in `names`, -1 for null or not there."""
    found = pc.fill_null(pc.index_in(values, value_set=names), -1)
    return np.asarray(found.to_numpy(zero_copy_only=False), dtype=np.int64)


def _components(c: _Compiled, parts: _Parts, n: int) -> pa.Array:
    k = len(c.comps)
    weights = np.array([comp.weight for comp in c.comps])
    contribution = []
    taken = np.zeros(n, dtype=np.bool_)
    for comp, score in zip(c.comps, parts.points, strict=True):
        scored = ~np.isnan(score)
        if c.worst_of:
            mine = scored & (score == parts.worst) & ~taken  # the first worst part carries the score
            share = np.where(mine, score, 0.0)
            taken |= scored & (score == parts.worst)
        else:
            share = np.where(scored, np.divide(comp.weight * score, parts.weight, out=np.zeros(n),
                                               where=parts.weight != 0.0), 0.0)
        contribution.append(share)

    def interleave(columns: list[Any]) -> Any:
        return np.stack(columns, axis=1).reshape(n * k)

    value, score = interleave(parts.values), interleave(parts.points)
    labels = np.tile(np.arange(k, dtype=np.int32), n)
    fields = [
        pa.DictionaryArray.from_arrays(labels, pa.array([comp.metric for comp in c.comps])).cast(pa.string()),
        pa.DictionaryArray.from_arrays(labels, pa.array([comp.label for comp in c.comps])).cast(pa.string()),
        pa.array(value, pa.float64(), from_pandas=True), pa.array(interleave(parts.carried), pa.bool_()),
        pa.array(score, pa.float64(), from_pandas=True), pa.array(np.tile(weights, n), pa.float64()),
        pa.array(interleave(contribution), pa.float64()),
    ]
    children = pa.StructArray.from_arrays(fields, fields=list(COMPONENT))
    return pa.ListArray.from_arrays(pa.array(np.arange(0, n * k + 1, k, dtype=np.int32)), children,
                                    type=pa.list_(COMPONENT))


def _explain(c: _Compiled, table: pa.Table, parts: _Parts, final: Floats, rows: Ints
             ) -> tuple[pa.Array, pa.Array, list[bool]]:
    """Reasons and path to green of the rows that are not green (green rows: none, and green is reachable)."""
    n = table.num_rows
    cols = explain.Columns(
        [v[rows] for v in parts.values], [v[rows] for v in parts.carried], [v[rows] for v in parts.points],
        parts.weight[rows], parts.total[rows], final[rows],
        {m: _values(table, m)[rows] for m in {comp.previous_metric for comp in c.comps if comp.previous_metric}})
    reason_counts, sentences = explain.reasons(c, cols)
    step_counts, steps, reachable = explain.path(c, cols)
    every_reason, every_step = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
    every_reason[rows], every_step[rows] = reason_counts, step_counts
    green_reachable = np.ones(n, dtype=np.bool_)
    green_reachable[rows] = reachable
    return _lists(every_reason, sentences), _lists(every_step, steps), green_reachable.tolist()


def _lists(counts: Ints, flat: pa.Array) -> pa.Array:
    offsets = np.zeros(len(counts) + 1, dtype=np.int32)
    np.cumsum(counts, out=offsets[1:])
    return pa.ListArray.from_arrays(pa.array(offsets), flat)


def results_columns(results: Sequence[HealthResult]) -> pa.Table:
    """`HealthResult`s (from `score` or `score_table`) as a `RESULT_SCHEMA` table, in their order."""
    return pa.table({
        "account_id": [r.account_id for r in results],
        "as_of": [r.as_of for r in results],
        "score": [r.score for r in results],
        "band": [r.band for r in results],
        "raw_band": [r.raw_band for r in results],
        "pending_band": [r.pending_band for r in results],
        "pending_since": [r.pending_since for r in results],
        "scorecard": [r.scorecard for r in results],
        "scorecard_hash": [r.scorecard_hash for r in results],
        "components": [[c.as_dict() for c in r.components] for r in results],
        "reasons": [list(r.reasons) for r in results],
        "path_to_green": [[p.as_dict() for p in r.path_to_green] for r in results],
        "green_reachable": [r.green_reachable for r in results],
    }, schema=RESULT_SCHEMA)
