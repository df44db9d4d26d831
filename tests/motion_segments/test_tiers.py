"""Tiers: bands and every boundary with and without hysteresis, promotions, overrides and missing values."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

import ibis
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from longtail.core.expressions import parse_condition
from longtail.core.motion.tiers import (
    Override,
    Promotion,
    TierBand,
    TierError,
    TierPolicy,
    assign_tiers,
    assign_tiers_from,
    tier_inputs,
)
from tests.motion_segments.conftest import COLUMNS, features

AS_OF = date(2026, 1, 15)
BANDS = (TierBand("pooled"), TierBand("mid", 25_000), TierBand("named", 100_000))
PLAIN = TierPolicy("arr", BANDS, 0)
HYST = TierPolicy("arr", BANDS, 10)
STRATEGIC = Promotion(parse_condition("seats >= 200", COLUMNS), "named", "strategic: 200+ seats")
AT_RISK = Promotion(parse_condition("nps_latest < 0", COLUMNS), "mid", "risk: detractor")
PROMOTING = TierPolicy("arr", BANDS, 10, (AT_RISK, STRATEGIC))


def run(values: Sequence[float | None], *, policy: TierPolicy = HYST, previous: Mapping[str, str] | None = None,
        promoted: Sequence[Sequence[bool | None]] = (), overrides: Sequence[Override] = (),
        as_of: date = AS_OF) -> list[dict[str, Any]]:
    ids = pa.array([f"a{i}" for i in range(len(values))])
    out = assign_tiers(ids, pa.array(values, pa.float64()), [pa.array(p, pa.bool_()) for p in promoted],
                       previous or {}, overrides, as_of=as_of, policy=policy)
    rows: list[dict[str, Any]] = out.to_pylist()
    return rows


def tiers(values: Sequence[float | None], **kwargs: Any) -> list[str]:
    return [r["tier"] for r in run(values, **kwargs)]


@pytest.mark.parametrize(("value", "tier"), [
    (0, "pooled"), (24_999.99, "pooled"), (25_000, "mid"), (99_999.99, "mid"), (100_000, "named"), (5e6, "named"),
    (-10, "pooled"),
])
def test_plain_band_boundaries(value: float, tier: str) -> None:
    assert tiers([value], policy=PLAIN) == [tier]
    assert tiers([value], policy=HYST) == [tier]  # no previous tier: plain bands even with hysteresis


@pytest.mark.parametrize(("previous", "value", "tier"), [
    ("pooled", 27_499.99, "pooled"), ("pooled", 27_500, "mid"), ("pooled", 110_000, "named"),
    ("pooled", 109_999, "mid"),
    ("mid", 22_500, "mid"), ("mid", 22_499.99, "pooled"), ("mid", 109_999.99, "mid"), ("mid", 110_000, "named"),
    ("named", 90_000, "named"), ("named", 89_999.99, "mid"), ("named", 22_499, "pooled"),
])
def test_hysteresis_boundaries(previous: str, value: float, tier: str) -> None:
    assert tiers([value], previous={"a0": previous}) == [tier]


@pytest.mark.parametrize(("previous", "value", "tier"), [
    ("pooled", 25_000, "mid"), ("mid", 24_999.99, "pooled"), ("named", 99_999.99, "mid"), ("mid", 100_000, "named"),
])
def test_without_hysteresis_previous_tier_does_not_matter(previous: str, value: float, tier: str) -> None:
    assert tiers([value], policy=PLAIN, previous={"a0": previous}) == [tier]


def test_reasons_explain_the_numbers() -> None:
    rows = run([31_200, 26_000, 20_000, 50_000, 1_234_567.5], previous={"a0": "pooled", "a1": "pooled",
                                                                          "a2": "mid", "a3": "mid"})
    assert [r["reason"] for r in rows] == [
        "ARR $31,200 is >= $27,500 (mid threshold $25,000 + 10% hysteresis)",
        "ARR is < $27,500 (mid threshold $25,000 + 10% hysteresis); stays pooled",
        "ARR $20,000 is < $22,500 (mid threshold $25,000 - 10% hysteresis)",
        "ARR is in the mid band ($25,000 to below $100,000)",
        "ARR $1,234,567.50 is in the named band ($100,000 or more)",
    ]
    assert [r["changed"] for r in rows] == [True, False, True, False, True]
    # Only a change quotes the amount; an account that keeps its tier gets its (case, tier) sentence.
    stays = run([26_000, 95_000, 23_000], previous={"a0": "pooled", "a1": "named", "a2": "mid"})
    assert [r["reason"] for r in stays] == [
        "ARR is < $27,500 (mid threshold $25,000 + 10% hysteresis); stays pooled",
        "ARR is >= $90,000 (named threshold $100,000 - 10% hysteresis); stays named",
        "ARR is >= $22,500 (mid threshold $25,000 - 10% hysteresis); stays mid",
    ]
    assert run([25_000], policy=PLAIN, previous={"a0": "pooled"})[0]["reason"] == (
        "ARR $25,000 is >= $25,000 (mid threshold)")


def test_missing_value_keeps_previous_or_lowest() -> None:
    rows = run([None, None, float("nan")], previous={"a0": "named"})
    assert [r["tier"] for r in rows] == ["named", "pooled", "pooled"]
    assert rows[0]["reason"] == "ARR is missing; keeps previous tier named"
    assert rows[1]["reason"] == "ARR is missing and there is no previous tier; lowest tier pooled"
    assert rows[0]["value_tier"] is None and rows[0]["changed"] is False


def test_promotions_only_move_up() -> None:
    rows = run([1_000, 200_000, 50_000, 1_000], policy=PROMOTING,
               promoted=[[True, True, True, None], [False, False, True, None]])
    assert [r["tier"] for r in rows] == ["mid", "named", "named", "pooled"]
    assert rows[0]["reason"] == "promoted from pooled to mid: risk: detractor"
    assert rows[1]["reason"].startswith("ARR $200,000")  # already above the promotion's tier: not lowered
    assert rows[2]["reason"] == "promoted from mid to named: strategic: 200+ seats"
    assert [r["value_tier"] for r in rows] == ["pooled", "named", "mid", "pooled"]


def test_promotions_by_index_mapping() -> None:
    out = assign_tiers(pa.array(["a"]), pa.array([1.0]), {1: pa.array([True])}, {}, [], as_of=AS_OF,
                       policy=PROMOTING)
    assert out.column("tier").to_pylist() == ["named"]
    with pytest.raises(TierError, match="promotion index 5"):
        assign_tiers(pa.array(["a"]), pa.array([1.0]), {5: pa.array([True])}, {}, [], as_of=AS_OF, policy=PROMOTING)


def test_overrides_win_until_they_expire() -> None:
    overrides = [Override("a0", "named", "exec sponsor asked", date(2026, 2, 1)),
                 Override("a1", "mid", "old decision", date(2026, 1, 15)),
                 Override("a2", "pooled", "self-serve by request", None)]
    rows = run([1_000, 1_000, 500_000], policy=PROMOTING, promoted=[[False] * 3, [False, False, True]],
               overrides=overrides)
    assert [r["tier"] for r in rows] == ["named", "pooled", "pooled"]
    assert rows[0]["reason"] == "manual override: exec sponsor asked (until 2026-02-01)"
    assert rows[1]["reason"].startswith("ARR $1,000")  # expired on the as-of date
    assert rows[2]["reason"] == "manual override: self-serve by request (until removed)"
    assert tiers([1_000], overrides=overrides[:1], as_of=date(2026, 2, 1)) == ["pooled"]


@pytest.mark.parametrize(("make", "message"), [
    (lambda: TierPolicy("arr", ()), "at least one band"),
    (lambda: TierPolicy("arr", (TierBand("a"), TierBand("b", 10), TierBand("c", 5))), "must increase"),
    (lambda: TierPolicy("arr", (TierBand("a"), TierBand("b"))), "needs a min value"),
    (lambda: TierPolicy("arr", BANDS, 100), "hysteresis_pct"),
    (lambda: TierPolicy("arr", BANDS, 0, (Promotion(STRATEGIC.condition, "vip", "x"),)), "unknown tier 'vip'"),
])
def test_bad_policies_are_rejected(make: Any, message: str) -> None:
    with pytest.raises(TierError, match=message):
        make()


def test_unknown_override_tier_is_rejected() -> None:
    with pytest.raises(TierError, match="override for account 'a0'"):
        run([1.0], overrides=[Override("a0", "vip", "x")])


@given(boundary=st.sampled_from([25_000.0, 100_000.0]),
       offsets=st.lists(st.floats(min_value=-0.0999, max_value=0.0999), min_size=2, max_size=30))
def test_hysteresis_never_flips_within_the_band(boundary: float, offsets: list[float]) -> None:
    """A value oscillating within boundary ± hysteresis keeps the tier it got first."""
    previous: dict[str, str] = {}
    seen = []
    for offset in offsets:
        tier = tiers([boundary * (1 + offset)], previous=previous)[0]
        previous = {"a0": tier}
        seen.append(tier)
    assert len(set(seen)) == 1


@given(values=st.lists(st.one_of(st.none(), st.floats(min_value=-1e7, max_value=1e7)), min_size=1, max_size=20))
def test_without_previous_tier_equals_plain_bands(values: list[float | None]) -> None:
    def band(v: float | None) -> str:
        return "pooled" if v is None or v < 25_000 else "mid" if v < 100_000 else "named"

    assert tiers(values) == [band(v) for v in values]
    assert tiers(values, policy=PLAIN) == [band(v) for v in values]


def test_inputs_come_from_the_warehouse(duckdb_con: ibis.BaseBackend) -> None:
    table = features([{"account_id": "x", "arr": 30_000, "seats": 250, "nps_latest": None},
                      {"account_id": "y", "arr": None, "seats": 3, "nps_latest": -5}])
    inputs = duckdb_con.to_pyarrow(tier_inputs(table, PROMOTING))
    assert inputs.column_names == ["account_id", "value", "promoted_0", "promoted_1"]
    out = assign_tiers_from(inputs, pa.table({"account_id": ["y"], "tier": ["named"]}), [], AS_OF, PROMOTING)
    assert out.column("tier").to_pylist() == ["named", "named"]
    assert out.column("previous_tier").to_pylist() == [None, "named"]


def test_previous_tiers_joined_in_the_warehouse(duckdb_con: ibis.BaseBackend) -> None:
    """tier_inputs(previous=...) joins the previous tiers; the result equals passing them as a dict."""
    table = features([{"account_id": f"a{i}", "arr": v, "seats": s, "nps_latest": -1 if i == 2 else 5}
                      for i, (v, s) in enumerate([(26_000, 1), (95_000, 1), (1_000, 1), (None, 1), (500_000, 300)])])
    prior = {"a0": "pooled", "a1": "named", "a3": "mid", "a4": "vip"}
    overrides = [Override("a1", "pooled", "first"), Override("a1", "mid", "newest wins")]
    rows_of = ibis.memtable({"account_id": list(prior), "tier": list(prior.values())})
    joined = duckdb_con.to_pyarrow(tier_inputs(table, PROMOTING, previous=rows_of))
    assert joined.column_names == ["account_id", "value", "promoted_0", "promoted_1", "previous_tier"]
    warehouse = assign_tiers_from(joined, None, overrides, AS_OF, PROMOTING).sort_by("account_id")
    lookup = assign_tiers_from(duckdb_con.to_pyarrow(tier_inputs(table, PROMOTING)), prior, overrides, AS_OF,
                               PROMOTING)
    assert warehouse.to_pylist() == lookup.to_pylist()
    assert [(r["tier"], r["changed"], r["reason"]) for r in lookup.to_pylist()] == [
        ("pooled", False, "ARR is < $27,500 (mid threshold $25,000 + 10% hysteresis); stays pooled"),
        ("mid", True, "manual override: newest wins (until removed)"),
        ("mid", True, "promoted from pooled to mid: risk: detractor"),
        ("mid", False, "ARR is missing; keeps previous tier mid"),
        ("named", True, "ARR $500,000 is in the named band ($100,000 or more)"),  # 'vip' is no tier: first assignment
    ]
    with pytest.raises(TierError, match="no previous tiers"):
        assign_tiers_from(lookup.select(["account_id"]).append_column("value", pa.array([1.0] * 5)), None, [],
                          AS_OF, PLAIN)


def test_previous_tiers_given_aligned_or_in_another_order() -> None:
    ids, values = pa.array(["a", "b", "c"]), pa.array([30_000.0, 120_000.0, 1.0])
    aligned = assign_tiers(ids, values, [], pa.array(["mid", None, "named"]), [], as_of=AS_OF, policy=HYST)
    shuffled = assign_tiers(ids, values, [], pa.table({"account_id": ["c", "a"], "tier": ["named", "mid"]}), [],
                            as_of=AS_OF, policy=HYST)
    assert aligned.equals(shuffled)
    assert aligned.column("tier").to_pylist() == ["mid", "named", "pooled"]
    with pytest.raises(TierError, match="2 previous tiers for 3 accounts"):
        assign_tiers(ids, values, [], pa.array(["mid", None]), [], as_of=AS_OF, policy=HYST)
