"""The parsed condition: canonical text, referenced columns, content hash, and decisions that say why."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime
from decimal import Decimal

import pytest

from longtail.core.expressions import (
    Condition,
    EvaluationError,
    ExpressionError,
    decide,
    evaluate,
    explain,
    parse_condition,
    to_ibis,
)
from tests.expressions.conftest import COLUMNS, ROWS, memtable

BASE = "days_since_last_login >= 14 and tier = 'pooled'"


def test_condition_fields() -> None:
    condition = parse_condition(BASE, COLUMNS)
    assert condition.text == BASE
    assert condition.canonical == "days_since_last_login >= 14 AND tier = 'pooled'"
    assert condition.columns == ("days_since_last_login", "tier")
    assert condition.unknown == "false"
    assert len(condition.hash) == 64
    assert condition.types == {"days_since_last_login": "number", "tier": "string"}
    with pytest.raises(dataclasses.FrozenInstanceError):
        condition.text = "x"  # type: ignore[misc]


@pytest.mark.parametrize("variant", [
    "days_since_last_login>=14 AND tier='pooled'",
    "  DAYS_SINCE_LAST_LOGIN  >=  14\n\tAnD   TIER = 'pooled'  ",
    "Days_Since_Last_Login >= 14 and Tier = 'pooled'",
])
def test_hash_is_stable_under_whitespace_and_case(variant: str) -> None:
    assert parse_condition(variant, COLUMNS).hash == parse_condition(BASE, COLUMNS).hash
    assert parse_condition(variant, COLUMNS).canonical == parse_condition(BASE, COLUMNS).canonical


@pytest.mark.parametrize("changed", [
    "days_since_last_login >= 15 and tier = 'pooled'",
    "days_since_last_login > 14 and tier = 'pooled'",
    "days_since_last_login >= 14 and tier = 'Pooled'",
    "days_since_last_login >= 14 or tier = 'pooled'",
    "days_since_last_login >= 14 and segment = 'pooled'",
    "days_since_last_login >= 14.5 and tier = 'pooled'",
])
def test_hash_changes_with_the_condition(changed: str) -> None:
    assert parse_condition(changed, COLUMNS).hash != parse_condition(BASE, COLUMNS).hash


def test_hash_includes_the_unknown_policy() -> None:
    assert parse_condition(BASE, COLUMNS, unknown="true").hash != parse_condition(BASE, COLUMNS).hash


def test_canonical_text_parses_back_to_itself() -> None:
    from tests.expressions.test_parity import VALID

    for text in VALID:
        condition = parse_condition(text, COLUMNS)
        again = parse_condition(condition.canonical, COLUMNS)
        assert again.canonical == condition.canonical
        assert again.hash == condition.hash


def test_not_like_and_is_not_null_have_one_form() -> None:
    assert parse_condition("tier not like 'a%'", COLUMNS).canonical == "NOT tier LIKE 'a%'"
    assert parse_condition("nps_latest is not null", COLUMNS).canonical == "NOT nps_latest IS NULL"
    assert parse_condition("x != 1".replace("x", "arr"), COLUMNS).canonical == "arr <> 1"


def test_quoted_column_only_if_known() -> None:
    columns = {**COLUMNS, "Health Score": "number"}
    condition = parse_condition('"Health Score" > 50', columns)
    assert condition.columns == ("Health Score",)
    assert condition.canonical == '"Health Score" > 50'
    assert parse_condition('"tier" = \'x\'', COLUMNS).canonical == "tier = 'x'"
    with pytest.raises(ExpressionError, match="unknown column 'health_score'; did you mean 'Health Score'"):
        parse_condition("health_score > 50", columns)


def test_decide_carries_inputs_and_reason() -> None:
    condition = parse_condition(BASE, COLUMNS)
    decision = decide(condition, ROWS[0])
    assert decision.result is True
    assert decision.unknown is False
    assert decision.inputs == {"days_since_last_login": 21, "tier": "pooled"}
    assert decision.reason == "matched: days_since_last_login = 21 ≥ 14 and tier = 'pooled'"
    assert decision.condition_hash == condition.hash
    assert explain(condition, ROWS[0]) == "days_since_last_login = 21 ≥ 14 and tier = 'pooled'"


def test_reason_names_only_what_decided() -> None:
    condition = parse_condition(BASE, COLUMNS)
    assert decide(condition, ROWS[1]).reason == (
        "not matched: days_since_last_login = 3 < 14 and tier = 'dedicated' ≠ 'pooled'")
    assert explain(condition, ROWS[2]) == "days_since_last_login = 14 ≥ 14 and tier = 'pooled'"
    either = parse_condition("seat_utilisation < 0.5 or nps_latest < 40", COLUMNS)
    assert explain(either, ROWS[0]) == "seat_utilisation = 0.45 < 0.5 and nps_latest = 30 < 40"
    assert explain(either, ROWS[1]) == "seat_utilisation = 0.92 > 0.5 and nps_latest = 55 > 40"


def test_unknown_decision_says_what_was_missing_and_what_the_rule_does() -> None:
    low = parse_condition("nps_latest < 20 and tier = 'pooled'", COLUMNS)
    decision = decide(low, ROWS[2])
    assert decision.unknown is True
    assert decision.result is False
    assert decision.reason == ("unknown because nps_latest is null; the rule counts unknown as false, "
                               "so not matched")
    optimistic = parse_condition("nps_latest < 20 and tier = 'pooled'", COLUMNS, unknown="true")
    assert decide(optimistic, ROWS[2]).result is True
    assert decide(optimistic, ROWS[1]).result is False  # known false stays false
    assert decide(low, ROWS[1]).reason == "not matched: nps_latest = 55 > 20 and tier = 'dedicated' ≠ 'pooled'"


@pytest.mark.parametrize(("text", "row", "sentence"), [
    ("nps_latest is null", 2, "nps_latest is null"),
    ("nps_latest is null", 0, "nps_latest = 30 is not null"),
    ("tier in ('pooled', 'mid')", 4, "tier = 'mid' in ('pooled', 'mid')"),
    ("tier not in ('pooled', 'mid')", 4, "tier = 'mid' in ('pooled', 'mid')"),
    ("days_since_last_login between 3 and 21", 4, "days_since_last_login = 60 not between 3 and 21"),
    ("tier like 'pool%'", 1, "tier = 'dedicated' does not match 'pool%'"),
    ("is_active", 2, "is_active = false"),
    ("renewal_date < DATE '2026-03-31'", 0, "renewal_date = 2026-03-01 < DATE '2026-03-31'"),
    ("days_between(renewal_date, DATE '2026-04-01') <= 31", 0,
     "DAYS_BETWEEN(renewal_date, DATE '2026-04-01') = 31 ≤ 31"),
    ("nps_latest / 0 > 1", 0, "nps_latest / 0 divides by zero"),
    ("arr > seat_utilisation * 10000", 0, "arr = 12000 > seat_utilisation * 10000 (4500)"),
    ("coalesce(nps_latest, seat_utilisation) > 1", 3, "nps_latest is null and seat_utilisation is null"),
])
def test_sentences(text: str, row: int, sentence: str) -> None:
    assert explain(parse_condition(text, COLUMNS), ROWS[row]) == sentence


def test_evaluate_checks_the_row() -> None:
    condition = parse_condition(BASE, COLUMNS)
    with pytest.raises(EvaluationError, match="no value for column 'tier'"):
        evaluate(condition, {"days_since_last_login": 1})
    with pytest.raises(EvaluationError, match="is a number, but the row holds '21'"):
        evaluate(condition, {"days_since_last_login": "21", "tier": "pooled"})
    with pytest.raises(EvaluationError, match="is a number"):
        evaluate(condition, {"days_since_last_login": True, "tier": "pooled"})
    dated = parse_condition("renewal_date < DATE '2026-01-01'", COLUMNS)
    with pytest.raises(EvaluationError, match="is a date"):
        evaluate(dated, {"renewal_date": datetime(2025, 1, 1)})
    assert evaluate(dated, {"renewal_date": date(2025, 1, 1)}) is True


def test_nan_and_decimal_inputs() -> None:
    condition = parse_condition("nps_latest < 20", COLUMNS)
    assert evaluate(condition, {"nps_latest": float("nan")}) is None  # pandas' missing value is unknown
    assert evaluate(condition, {"nps_latest": Decimal("19.5")}) is True


def test_to_ibis_checks_the_table() -> None:
    condition = parse_condition("nps_latest < 20", COLUMNS)
    table = memtable(ROWS)
    with pytest.raises(ExpressionError, match="no column 'nps_latest'"):
        to_ibis(condition, table.drop("nps_latest"))
    with pytest.raises(ExpressionError, match="is a string in the table, not a number"):
        to_ibis(condition, table.mutate(nps_latest=table.tier))


def test_condition_is_a_value() -> None:
    a, b = parse_condition(BASE, COLUMNS), parse_condition(BASE, COLUMNS)
    assert a == b
    assert isinstance(a, Condition)
    assert "_ast" not in repr(a)
