"""Hand-computed scores for every transform, null policy and aggregation; bands; hysteresis; reasons; path."""

from __future__ import annotations

from datetime import timedelta

import pytest

from longtail.core.health import PreviousState, apply_path, raw_band, score
from tests.health.cards import DAY, USAGE, card, comp, row


@pytest.mark.parametrize(("value", "expected"), [(-5, 0), (0, 0), (2.5, 25), (10, 100), (15, 100)])
def test_linear_clips_to_0_100(value: float, expected: float) -> None:
    c = card(comp("x", "{type: linear, min: 0, max: 10}"))
    assert score(row(x=value), c).score == pytest.approx(expected)


@pytest.mark.parametrize(("value", "expected"), [(0, 100), (5, 50), (10, 0), (20, 0)])
def test_linear_lower_is_better(value: float, expected: float) -> None:
    c = card(comp("x", "{type: linear, min: 0, max: 10}", polarity="lower_is_better"))
    assert score(row(x=value), c).score == pytest.approx(expected)


@pytest.mark.parametrize(("value", "expected"), [(-1, 20), (0, 20), (5, 50), (10, 80), (99, 80)])
def test_linear_bounded_stays_in_floor_ceiling(value: float, expected: float) -> None:
    c = card(comp("x", "{type: linear_bounded, min: 0, max: 10, floor: 20, ceiling: 80}"))
    assert score(row(x=value), c).score == pytest.approx(expected)


@pytest.mark.parametrize(("value", "expected"), [(0, 0), (0.99, 0), (1, 40), (2, 40), (2.01, 100), (9, 100)])
def test_bands_transform_inclusivity(value: float, expected: float) -> None:
    steps = "[{below: 1, score: 0}, {below: 2, inclusive: true, score: 40}, {score: 100}]"
    c = card(comp("x", f"{{type: bands, steps: {steps}}}"))
    assert score(row(x=value), c).score == expected


def test_weighted_mean_and_contributions() -> None:
    c = card(comp("a", "{type: linear, min: 0, max: 10}", weight=3) + comp("b", "{type: linear, min: 0, max: 10}"))
    result = score(row(a=10, b=2), c)
    assert result.score == pytest.approx((3 * 100 + 1 * 20) / 4)
    assert [x.contribution for x in result.components] == pytest.approx([75, 5])
    assert sum(x.contribution for x in result.components) == pytest.approx(result.score)


def test_worst_of_takes_the_minimum() -> None:
    c = card(comp("a", "{type: linear, min: 0, max: 10}", weight=3) + comp("b", "{type: linear, min: 0, max: 10}"),
             aggregation="worst_of")
    result = score(row(a=9, b=3), c)
    assert result.score == pytest.approx(30)
    assert [x.contribution for x in result.components] == pytest.approx([0, 30])


TWO = comp("a", "{type: linear, min: 0, max: 10}")


@pytest.mark.parametrize(("policy", "expected", "b_score"), [
    ("exclude", 80.0, None),  # weights renormalised over a alone
    ("zero", 40.0, 0.0),
    ("neutral", 65.0, 50.0),
    ("carry_last", 80.0, None),  # nothing stored yet: excluded
])
def test_null_policies(policy: str, expected: float, b_score: float | None) -> None:
    c = card(TWO + comp("b", "{type: linear, min: 0, max: 10}", on_null=policy))
    result = score(row(a=8, b=None), c)
    assert result.score == pytest.approx(expected)
    assert result.components[1].score == b_score


def test_carry_last_uses_previous_component_value() -> None:
    c = card(TWO + comp("b", "{type: linear, min: 0, max: 10}", on_null="carry_last"))
    prev = PreviousState(as_of=DAY - timedelta(days=1), band="green", component_values={"b": 4.0})
    result = score(row(a=8, b=None), c, prev)
    assert result.score == pytest.approx(60)
    assert result.components[1].value == 4.0
    assert result.components[1].carried


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf"), None])
def test_nan_and_inf_are_null(bad: float | None) -> None:
    c = card(TWO + comp("b", "{type: linear, min: 0, max: 10}", on_null="zero"))
    assert score(row(a=8, b=bad), c).score == pytest.approx(40)


def test_no_data_at_all_is_neutral_and_says_so() -> None:
    c = card(TWO, bands="[{name: red, below: 60}, {name: green}]")
    result = score(row(a=None), c)
    assert result.score == 50 and result.band == "red"
    assert result.reasons and "No data" in result.reasons[0]
    assert not result.green_reachable and result.path_to_green == ()


@pytest.mark.parametrize(("value", "band"), [(39.999, "red"), (40, "yellow"), (69.999, "yellow"), (70, "yellow"),
                                             (70.001, "green"), (100, "green"), (0, "red")])
def test_band_boundaries(value: float, band: str) -> None:
    c = card(TWO, bands="[{name: red, below: 40}, {name: yellow, below: 70, inclusive: true}, {name: green}]")
    assert raw_band(c, value) == band


def _series(c_scores: list[float], margin: int = 5, days: int = 3) -> list[str]:
    c = card(TWO, bands="[{name: red, below: 50}, {name: green}]", hysteresis=f"{{margin: {margin}, days: {days}}}")
    prev: PreviousState | None = None
    bands = []
    for i, s in enumerate(c_scores):
        day = DAY + timedelta(days=i)
        result = score(row(a=s / 10, as_of=day), c, prev)
        bands.append(result.band)
        prev = PreviousState(as_of=day, band=result.band, score=result.score, pending_band=result.pending_band,
                             pending_since=result.pending_since)
    return bands


def test_hysteresis_no_flapping_around_threshold() -> None:
    assert _series([60, 48, 52, 48, 52, 49, 51, 48]) == ["green"] * 8


def test_hysteresis_sustained_change_flips_after_n_days() -> None:
    assert _series([60, 48, 47, 46, 46]) == ["green", "green", "green", "red", "red"]


def test_hysteresis_big_move_flips_at_once() -> None:
    assert _series([60, 45, 56, 54]) == ["green", "red", "green", "green"]


def test_hysteresis_pending_resets_when_back() -> None:
    assert _series([60, 48, 47, 52, 48, 47, 46]) == ["green"] * 6 + ["red"]


def test_hysteresis_disabled() -> None:
    assert _series([60, 49, 51], margin=0, days=1) == ["green", "red", "green"]


def test_reasons_are_sentences_worst_first() -> None:
    result = score(row(active_users_7d=5, active_users_prev_7d=14, days_since_last_activity=12, nps_latest=None,
                       tickets_high_priority_open=3), USAGE)
    assert result.band == "red"
    assert result.reasons[0] == "Weekly active users fell from 14 to 5; green needs at least 7"
    assert "Days since last activity is 12 days; green needs at most 6 days" in result.reasons
    assert "Tickets high priority open is 3; green needs at most 0" in result.reasons
    assert "No data for nps latest (counted as neutral, 50 of 100)" in result.reasons


def test_path_to_green_reaches_green_with_few_changes() -> None:
    features = row(active_users_7d=5, days_since_last_activity=12, nps_latest=8, tickets_high_priority_open=0)
    result = score(features, USAGE)
    assert result.band == "yellow"
    assert len(result.path_to_green) == 1
    step = result.path_to_green[0]
    assert (step.metric, step.current, step.target) == ("active_users_7d", 5, 8)  # (2*75 + 40 + 60 + 100) / 5 = 70
    assert step.sentence == "Raise weekly active users from 5 to at least 8"
    assert score(apply_path(features, result.path_to_green, USAGE), USAGE).raw_band == "green"
    assert score(apply_path(features, [], USAGE), USAGE).raw_band == "yellow"


def test_path_empty_when_green() -> None:
    result = score(row(active_users_7d=10, days_since_last_activity=0, nps_latest=10, tickets_high_priority_open=0),
                   USAGE)
    assert result.band == "green" and result.path_to_green == () and result.reasons == ()


def test_unreachable_green_is_reported() -> None:
    c = card(comp("a", "{type: linear_bounded, min: 0, max: 10, floor: 0, ceiling: 60}"))
    result = score(row(a=1), c)
    assert result.band == "red" and not result.green_reachable and result.path_to_green == ()


def test_worst_of_path_raises_every_weak_component() -> None:
    c = card(comp("a", "{type: linear, min: 0, max: 10}") + comp("b", "{type: linear, min: 0, max: 10}")
             + comp("c", "{type: linear, min: 0, max: 10}"), aggregation="worst_of")
    features = row(a=2, b=5, c=9)
    result = score(features, c)
    assert [(p.metric, p.target) for p in result.path_to_green] == [("a", pytest.approx(7)), ("b", pytest.approx(7))]
    assert score(apply_path(features, result.path_to_green, c), c).raw_band == "green"


def test_result_is_stamped_with_the_scorecard_hash() -> None:
    result = score(row(active_users_7d=1), USAGE)
    assert result.scorecard == "test" and result.scorecard_hash == USAGE.content_hash()


def test_as_of_is_required() -> None:
    with pytest.raises(ValueError, match="as_of"):
        score({"account_id": "x", "a": 1}, USAGE)
