"""Invariants, checked with Hypothesis over random feature rows and random scorecards."""

from __future__ import annotations

import math
from typing import Any

from hypothesis import assume, given
from hypothesis import strategies as st

from longtail.core.health import Scorecard, apply_path, default_scorecards, score
from tests.health.cards import DAY, USAGE

DEFAULTS = default_scorecards()
CARDS = [*DEFAULTS.scorecards, USAGE]
METRICS = sorted(DEFAULTS.metrics() | {m.metric for m in USAGE.components} | {"active_users_prev_7d"})

values = st.one_of(
    st.none(),
    st.just(math.nan), st.just(math.inf), st.just(-math.inf),
    st.floats(min_value=-1e6, max_value=1e6, allow_nan=False),
    st.integers(min_value=-10, max_value=500),
    st.floats(min_value=0, max_value=1),
)
rows = st.fixed_dictionaries({m: values for m in METRICS}).map(lambda r: {"account_id": "a", "as_of": DAY, **r})
cards = st.sampled_from(CARDS)


@st.composite
def transforms(draw: st.DrawFn, higher: bool) -> dict[str, Any]:
    kind = draw(st.sampled_from(["linear", "linear_bounded", "bands"]))
    lo = draw(st.integers(-50, 50))
    hi = lo + draw(st.integers(1, 100))
    if kind == "linear":
        return {"type": kind, "min": lo, "max": hi}
    if kind == "linear_bounded":
        floor = draw(st.integers(0, 60))
        return {"type": kind, "min": lo, "max": hi, "floor": floor, "ceiling": draw(st.integers(floor + 1, 100))}
    edges = sorted(draw(st.sets(st.integers(-20, 40), min_size=1, max_size=4)))
    points = sorted(draw(st.lists(st.integers(0, 100), min_size=len(edges) + 1, max_size=len(edges) + 1)),
                    reverse=not higher)
    steps: list[dict[str, Any]] = [{"below": e, "inclusive": draw(st.booleans()), "score": p}
                                   for e, p in zip(edges, points, strict=False)]
    return {"type": "bands", "steps": [*steps, {"score": points[-1]}]}


@st.composite
def scorecards(draw: st.DrawFn) -> Scorecard:
    components = []
    for i in range(draw(st.integers(1, 5))):
        polarity = draw(st.sampled_from(["higher_is_better", "lower_is_better"]))
        components.append({
            "metric": f"m{i}", "polarity": polarity,
            "transform": draw(transforms(polarity == "higher_is_better")),
            "weight": draw(st.sampled_from([0.5, 1, 2, 3.7])),
            "on_null": draw(st.sampled_from(["exclude", "zero", "neutral", "carry_last"])),
            "step": draw(st.sampled_from([None, 1, 0.5])),
        })
    green = draw(st.integers(2, 98))
    red = draw(st.integers(1, green - 1))
    return Scorecard.model_validate({
        "name": "random", "priority": 1, "components": components,
        "aggregation": draw(st.sampled_from(["weighted_mean", "worst_of"])),
        "bands": [{"name": "red", "below": red, "inclusive": draw(st.booleans())},
                  {"name": "yellow", "below": green, "inclusive": draw(st.booleans())}, {"name": "green"}],
    })


random_values = st.one_of(st.none(), st.just(math.nan), st.floats(-100, 200, allow_nan=False))


@given(rows, cards)
def test_score_in_range(features: dict[str, Any], card: Scorecard) -> None:
    result = score(features, card)
    assert 0 <= result.score <= 100
    assert result.band in {b.name for b in card.bands}
    assert all(c.score is None or 0 <= c.score <= 100 for c in result.components)


@given(rows, cards)
def test_reasons_non_empty_for_red(features: dict[str, Any], card: Scorecard) -> None:
    result = score(features, card)
    if result.raw_band == card.bands[0].name:
        assert result.reasons
        assert all(isinstance(r, str) and r for r in result.reasons)


@given(scorecards(), st.lists(random_values, min_size=5, max_size=5))
def test_reasons_non_empty_for_red_random_cards(card: Scorecard, vals: list[float | None]) -> None:
    result = score({"as_of": DAY, **{f"m{i}": v for i, v in enumerate(vals)}}, card)
    assert 0 <= result.score <= 100
    if result.raw_band == "red":
        assert result.reasons


@given(cards, st.data())
def test_more_usage_never_lowers_a_usage_component(card: Scorecard, data: st.DataObject) -> None:
    base = data.draw(rows)
    for index, comp in enumerate(card.components):
        if comp.polarity != "higher_is_better":
            continue
        low = data.draw(st.floats(-1e4, 1e4, allow_nan=False))
        more = low + data.draw(st.floats(0, 1e4, allow_nan=False))
        before = score({**base, comp.metric: low}, card).components[index].score
        after = score({**base, comp.metric: more}, card).components[index].score
        assert before is not None and after is not None
        assert after >= before


@given(scorecards(), st.lists(random_values, min_size=5, max_size=5))
def test_path_to_green_reaches_green(card: Scorecard, vals: list[float | None]) -> None:
    features = {"account_id": "a", "as_of": DAY, **{f"m{i}": v for i, v in enumerate(vals)}}
    result = score(features, card)
    assume(result.raw_band != "green" and result.green_reachable)
    assert result.path_to_green
    improved = score(apply_path(features, result.path_to_green, card), card)
    assert improved.raw_band == "green", (result, improved)


@given(rows, cards)
def test_path_to_green_reaches_green_default_cards(features: dict[str, Any], card: Scorecard) -> None:
    result = score(features, card)
    if result.raw_band != card.target and result.green_reachable:
        assert score(apply_path(features, result.path_to_green, card), card).raw_band == card.target


@given(rows, cards)
def test_scoring_is_deterministic(features: dict[str, Any], card: Scorecard) -> None:
    assert score(features, card) == score(dict(features), card)
