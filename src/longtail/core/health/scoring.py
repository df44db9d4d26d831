"""Score one account (or a feature table) against a scorecard: score, band, reasons, path to green.

Pure: values in, results out. Conventions (see docs/health.md):
- NaN and ±inf are treated exactly like null.
- The aggregate score is rounded to 6 decimal places before it is banded.
- If no component has data, the score is 50 (neutral) and the reasons say so.
"""

from __future__ import annotations

import gc
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, NamedTuple

import pyarrow as pa

from longtail.core.health.loader import ScorecardSet
from longtail.core.health.model import Component, Scorecard
from longtail.core.health.transforms import CompiledTransform, Target, compile_transform

NEUTRAL = 50.0
NO_DATA_SCORE = 50.0
STRICT_NUDGE = 1e-6  # scores are rounded to 6 decimals, so "above T" means at least T + 1e-6


@dataclass(frozen=True, slots=True)
class PreviousState:
    """What the last stored run (before this as_of) said about the account."""

    as_of: date
    band: str
    score: float | None = None
    pending_band: str | None = None
    pending_since: date | None = None
    component_values: Mapping[str, float] = field(default_factory=dict)
    scorecard: str | None = None


class ComponentResult(NamedTuple):
    metric: str
    label: str
    value: float | None
    carried: bool  # value is the last stored value (on_null: carry_last)
    score: float | None  # None: excluded (no data)
    weight: float
    contribution: float  # points of the final score; they sum to the score for weighted_mean

    def as_dict(self) -> dict[str, Any]:
        return self._asdict()


class PathStep(NamedTuple):
    metric: str
    current: float | None
    target: float
    strict: bool  # the value must pass `target`, not just reach it
    sentence: str

    def as_dict(self) -> dict[str, Any]:
        return self._asdict()


@dataclass(frozen=True, slots=True)
class HealthResult:
    account_id: str
    as_of: date
    score: float
    band: str  # after hysteresis
    raw_band: str  # from the score alone
    pending_band: str | None
    pending_since: date | None
    scorecard: str
    scorecard_hash: str
    components: tuple[ComponentResult, ...]
    reasons: tuple[str, ...]
    path_to_green: tuple[PathStep, ...]
    green_reachable: bool


_EXCLUDE, _ZERO, _NEUTRAL, _CARRY = range(4)
_POLICIES = {"exclude": _EXCLUDE, "zero": _ZERO, "neutral": _NEUTRAL, "carry_last": _CARRY}


@dataclass(slots=True)
class _Comp:
    model: Component
    metric: str
    weight: float
    policy: int
    previous_metric: str | None
    label: str
    lower_label: str
    higher: bool
    transform: CompiledTransform
    points: Callable[[float], float]
    green_target: Target | None
    target_text: str  # "; green needs at least 7", fixed per scorecard
    texts: dict[float, str] = field(default_factory=dict)  # formatted values, as they repeat a lot


@dataclass(slots=True)
class _Compiled:
    card: Scorecard
    hash: str
    name: str
    worst_of: bool
    comps: list[_Comp]
    names: list[str]
    edges: list[float | None]
    inclusive: list[bool]
    target_band: str
    green_at: float  # the aggregate score green needs
    green_strict: bool


def _compile(card: Scorecard) -> _Compiled:
    cached = card._compiled
    if isinstance(cached, _Compiled):
        return cached
    target_index = [b.name for b in card.bands].index(card.target)
    edge = card.bands[target_index - 1]
    assert edge.below is not None
    comps = []
    for comp in card.components:
        transform = compile_transform(comp)
        label = comp.display_label
        lower = label if label[1:2].isupper() else label[:1].lower() + label[1:]
        target = transform.inverse(edge.below + (STRICT_NUDGE if edge.inclusive else 0.0))
        item = _Comp(comp, comp.metric, comp.weight, _POLICIES[comp.on_null], comp.previous_metric, label, lower,
                     comp.polarity == "higher_is_better", transform, transform.score, target, "")
        item.target_text = _target_text(item, card.target)
        comps.append(item)
    compiled = _Compiled(card, card.content_hash(), card.name, card.aggregation == "worst_of", comps,
                         [b.name for b in card.bands], [b.below for b in card.bands],
                         [b.inclusive for b in card.bands], card.target, edge.below, edge.inclusive)
    card._compiled = compiled
    return compiled


def _target_text(comp: _Comp, band: str) -> str:
    target = comp.green_target
    if target is None or math.isinf(target.value):
        return ""
    if comp.higher:
        rule = "more than" if target.strict else "at least"
    else:
        rule = "less than" if target.strict else "at most"
    return f"; {band} needs {rule} {_fmt(comp, target.value)}"


def _clean(value: Any) -> float | None:
    if value is None or isinstance(value, str):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def raw_band(card: Scorecard, value: float) -> str:
    c = _compile(card)
    return c.names[_band_index(c, value)]


def _band_index(c: _Compiled, value: float) -> int:
    for index, below in enumerate(c.edges):
        if below is None or value < below or (c.inclusive[index] and value == below):
            return index
    return len(c.edges) - 1


def score(features_row: Mapping[str, Any], scorecard: Scorecard, previous: PreviousState | None = None,
          *, as_of: date | None = None) -> HealthResult:
    """Score one account. `features_row` maps feature names to values (plus account_id and as_of)."""
    day = as_of if as_of is not None else features_row.get("as_of")
    if not isinstance(day, date):
        raise ValueError("score() needs as_of, in the row or as an argument")
    return _score(_compile(scorecard), features_row, previous, day)


_Part = tuple[_Comp, float | None, bool, float | None]  # component, value, carried, score
_NO_VALUES: Mapping[str, float] = {}


def _score(c: _Compiled, row: Mapping[str, Any], previous: PreviousState | None, day: date) -> HealthResult:
    carried = previous.component_values if previous is not None else _NO_VALUES
    parts, weight, total, worst = _parts(c, row, carried)
    final = NO_DATA_SCORE if weight == 0.0 else round(min(max(worst if c.worst_of else total / weight, 0.0), 100.0), 6)
    components = _components(c, parts, weight, worst)
    index = _band_index(c, final)
    band, pending, since = _hysteresis(c, final, index, previous, day)
    green = final > c.green_at if c.green_strict else final >= c.green_at
    if green:
        reasons: tuple[str, ...] = ()
        path: tuple[PathStep, ...] = ()
        reachable = True
    else:
        reasons = _reasons(c, parts, weight, final, row)
        path, reachable = _path(c, parts, weight, total)
    return HealthResult(str(row.get("account_id", "")), day, final, band, c.names[index], pending, since,
                        c.name, c.hash, components, reasons, path, reachable)


def _parts(c: _Compiled, row: Mapping[str, Any], carried: Mapping[str, float]
           ) -> tuple[list[_Part], float, float, float]:
    """Each component's value and score, with the weight and weighted sum of those scored and the worst score."""
    parts: list[_Part] = []
    weight = total = 0.0
    worst = math.inf
    for comp in c.comps:
        value = row.get(comp.metric)
        if value is not None:
            if value.__class__ is not float:
                value = _clean(value)
            elif value - value != 0.0:  # NaN or infinite
                value = None
        was_carried = False
        points: float | None
        if value is not None:
            points = comp.points(value)
        elif comp.policy == _ZERO:
            points = 0.0
        elif comp.policy == _NEUTRAL:
            points = NEUTRAL
        elif comp.policy == _CARRY and carried.get(comp.metric) is not None:
            value, was_carried = carried[comp.metric], True
            points = comp.points(value)
        else:
            points = None
        if points is not None:
            weight += comp.weight
            total += comp.weight * points
            worst = min(worst, points)
        parts.append((comp, value, was_carried, points))
    return parts, weight, total, worst


def _components(c: _Compiled, parts: list[_Part], weight: float, worst: float) -> tuple[ComponentResult, ...]:
    out = []
    worst_taken = False
    for comp, value, was_carried, points in parts:
        if points is None:
            share = 0.0
        elif c.worst_of:
            share = points if (points == worst and not worst_taken) else 0.0  # the worst part carries the score
            worst_taken = worst_taken or points == worst
        else:
            share = comp.weight * points / weight
        out.append(ComponentResult(comp.metric, comp.label, value, was_carried, points, comp.weight, share))
    return tuple(out)


def _hysteresis(c: _Compiled, total: float, index: int, previous: PreviousState | None, day: date
                ) -> tuple[str, str | None, date | None]:
    name = c.names[index]
    if previous is None or previous.band == name or previous.band not in c.names:
        return name, None, None
    held = c.names.index(previous.band)
    if index < held:
        edge = c.edges[held - 1]
        assert edge is not None
        distance = edge - total
    else:
        edge = c.edges[held]
        assert edge is not None
        distance = total - edge
    rule = c.card.hysteresis
    if distance >= rule.margin:
        return name, None, None
    since = previous.pending_since if previous.pending_band == name and previous.pending_since else day
    if (day - since).days + 1 >= rule.days:
        return name, None, None
    return previous.band, name, since


def _meets_green(c: _Compiled, points: float) -> bool:
    return points > c.green_at if c.green_strict else points >= c.green_at


def _fmt(comp: _Comp, value: float | None) -> str:
    if value is None:
        return "no data"
    text = comp.texts.get(value)
    if text is None:
        if len(comp.texts) > 100_000:
            comp.texts.clear()
        text = comp.texts[value] = _format_value(comp, value)
    return text


def _format_value(comp: _Comp, value: float) -> str:
    if math.isinf(value):
        return "any value"
    if comp.model.format == "percent":
        text = f"{value * 100:.1f}".removesuffix(".0") + "%"
    elif float(value).is_integer():
        text = f"{int(value):,}"
    else:
        text = f"{value:,.2f}".rstrip("0").rstrip(".")
    return f"{text} {comp.model.unit}" if comp.model.unit else text


def _reasons(c: _Compiled, parts: list[_Part], weight: float, total: float,
             features_row: Mapping[str, Any]) -> tuple[str, ...]:
    if weight == 0.0:
        names = ", ".join(comp.lower_label for comp, *_ in parts)
        return (f"No data for any part of the {c.name} scorecard ({names}); the score is neutral",)
    found: list[tuple[float, str]] = []
    for comp, value, was_carried, points in parts:
        if points is None or _meets_green(c, points):
            continue
        loss = (100.0 - points) * (1.0 if c.worst_of else comp.weight / weight)
        found.append((loss, _sentence(comp, value, was_carried=was_carried, points=points,
                                      features_row=features_row)))
    found.sort(key=lambda item: -item[0])
    reasons = [sentence for _, sentence in found]
    if not reasons:
        reasons.append(f"The score of {total:.0f} is below {c.target_band} although no single part is")
    return tuple(reasons)


def _sentence(comp: _Comp, value: float | None, *, was_carried: bool, points: float,
              features_row: Mapping[str, Any]) -> str:
    if value is None:
        how = "0 of 100" if comp.policy == _ZERO else "neutral, 50 of 100"
        return f"No data for {comp.lower_label} (counted as {how})"
    previous = _clean(features_row.get(comp.previous_metric)) if comp.previous_metric else None
    if previous is not None and (value < previous if comp.higher else value > previous):
        verb = "fell" if comp.higher else "rose"
        text = f"{comp.label} {verb} from {_fmt(comp, previous)} to {_fmt(comp, value)}"
    else:
        text = f"{comp.label} is {_fmt(comp, value)}"
    if was_carried:
        text += " (last known value; no new data)"
    return text + (comp.target_text or f", scoring {points:.0f} of 100")


def _path(c: _Compiled, parts: list[_Part], weight: float, total: float) -> tuple[tuple[PathStep, ...], bool]:
    if weight == 0.0:
        return (), False
    goal = c.green_at + (STRICT_NUDGE if c.green_strict else 0.0)
    needs: list[tuple[_Comp, float | None, float]] = []  # comp, current value, required component score
    if c.worst_of:
        needs = [(comp, value, goal) for comp, value, _, points in parts if points is not None and points < goal]
    else:
        deficit = goal * weight - total
        gains = sorted(((comp.weight * (comp.transform.best - points), comp, value, points)
                        for comp, value, _, points in parts if points is not None and comp.transform.best > points),
                       key=lambda item: -item[0])
        for gain, comp, value, points in gains:
            if deficit <= 1e-12:
                break
            take = min(gain, deficit)
            needs.append((comp, value, points + take / comp.weight))
            deficit -= take
        if deficit > 1e-9:
            return (), False
    steps = []
    for comp, value, required in needs:
        target = comp.transform.inverse(required)
        if target is None or math.isinf(target.value):
            return (), False
        steps.append(PathStep(comp.metric, value, target.value, target.strict, _path_sentence(comp, value, target)))
    return tuple(steps), True


def _path_sentence(comp: _Comp, value: float | None, target: Target) -> str:
    if comp.higher:
        rule = "above" if target.strict else "at least"
        verb = "Raise"
    else:
        rule = "below" if target.strict else "at most"
        verb = "Lower"
    if value is None:
        return f"Record {comp.lower_label} of {rule} {_fmt(comp, target.value)}"
    return f"{verb} {comp.lower_label} from {_fmt(comp, value)} to {rule} {_fmt(comp, target.value)}"


def score_table(features: pa.Table, scorecards: ScorecardSet,
                previous: Mapping[str, PreviousState] | None = None,
                *, as_of: date | None = None) -> list[HealthResult]:
    """Score every row of a feature table (one row per account). Missing feature columns count as null.

    `as_of` defaults to each row's as_of column. One Python pass per account: the reference that
    `columnar.score_columns`, which the commands use, must agree with (~10x faster; docs/health.md).
    """
    previous = previous or {}
    collecting = gc.isenabled()
    gc.disable()  # the results hold no reference cycles; collection passes would only cost time
    try:
        return _score_rows(features, scorecards, previous, as_of)
    finally:
        if collecting:
            gc.enable()


def _score_rows(features: pa.Table, scorecards: ScorecardSet, previous: Mapping[str, PreviousState],
                as_of: date | None) -> list[HealthResult]:
    keys = sorted((scorecards.metrics() | {"as_of"}) & set(features.column_names))
    ids = [str(v) for v in features.column("account_id").to_pylist()]
    columns = [features.column(name).to_pylist() for name in keys]
    chooser = [(_compile(card), _matcher(card)) for card in scorecards.scorecards]
    fallback = chooser[-1][0]
    results = []
    for account, *values in zip(ids, *columns, strict=True):
        row: dict[str, Any] = dict(zip(keys, values, strict=True))
        row["account_id"] = account
        compiled = next((c for c, matches in chooser if matches(row)), fallback)
        day = as_of if as_of is not None else row.get("as_of")
        if not isinstance(day, date):
            raise ValueError(f"account {account}: no as_of (give it as an argument or an as_of column)")
        results.append(_score(compiled, row, previous.get(account), day))
    return results


def _matcher(card: Scorecard) -> Callable[[Mapping[str, Any]], bool]:
    any_of = [(c.metric, c.compile_test()) for c in card.when_any]
    all_of = [(c.metric, c.compile_test()) for c in card.when_all]

    def matches(row: Mapping[str, Any]) -> bool:
        if any_of and not any(test(row.get(metric)) for metric, test in any_of):
            return False
        return all(test(row.get(metric)) for metric, test in all_of)

    return matches


def apply_path(features_row: Mapping[str, Any], path: Iterable[PathStep], scorecard: Scorecard) -> dict[str, Any]:
    """The row with every path target applied (just past the target when it is strict); for tests and what-ifs."""
    higher = {comp.metric: comp.polarity == "higher_is_better" for comp in scorecard.components}
    row = dict(features_row)
    for step in path:
        value = step.target
        if step.strict:
            value = math.nextafter(value, math.inf if higher[step.metric] else -math.inf)
        row[step.metric] = value
    return row
