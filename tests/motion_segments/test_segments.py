"""Segments: conditions, overlays, ordering errors, the unknown policy and membership transitions."""

from __future__ import annotations

from typing import Any

import ibis
import pyarrow as pa
import pytest

from longtail.core.expressions import parse_condition
from longtail.core.motion.segments import (
    SegmentError,
    SegmentSpec,
    membership_changes,
    resolve_order,
    segment_table,
)
from tests.motion_segments.conftest import COLUMNS, features

ROWS = [
    {"account_id": "a1", "events_28d": 5, "arr": 10_000, "seats": 10},
    {"account_id": "a2", "events_28d": 50, "arr": 10_000, "seats": 10},
    {"account_id": "a3", "events_28d": 5, "arr": 60_000, "seats": 300},
    {"account_id": "a4", "events_28d": None, "arr": None, "seats": 300},
]


def cond(text: str, unknown: str = "false") -> Any:
    return parse_condition(text, COLUMNS, unknown=unknown)  # type: ignore[arg-type]


SPECS = [
    SegmentSpec.of("low_usage", cond("events_28d < 20")),
    SegmentSpec.of("pooled", cond("arr < 25000")),
    SegmentSpec.of("strategic", cond("seats >= 200")),
    SegmentSpec.of("at_risk_pooled", all_of=["low_usage", "pooled"]),
    SegmentSpec.of("watch", any_of=["at_risk_pooled", "strategic"]),
    SegmentSpec.of("healthy", none_of=["low_usage"]),
    SegmentSpec.of("big_low", cond("seats >= 100"), all_of=["low_usage"]),
]


def members(con: ibis.BaseBackend, table: ibis.Table, specs: list[SegmentSpec]) -> dict[str, set[str]]:
    out = con.to_pyarrow(segment_table(table, specs))
    return {name[4:]: {r["account_id"] for r in out.to_pylist() if r[name]}
            for name in out.column_names if name.startswith("seg_")}


def test_overlays_combine_memberships(duckdb_con: ibis.BaseBackend) -> None:
    got = members(duckdb_con, features(ROWS), SPECS)
    assert got == {
        "low_usage": {"a1", "a3"},
        "pooled": {"a1", "a2"},
        "strategic": {"a3", "a4"},
        "at_risk_pooled": {"a1"},
        "watch": {"a1", "a3", "a4"},
        "healthy": {"a2", "a4"},  # a4's usage is unknown, counted as not low (unknown='false'), so NOT gives true
        "big_low": {"a3"},
    }


def test_columns_are_never_null_and_follow_spec_order(duckdb_con: ibis.BaseBackend) -> None:
    out = duckdb_con.to_pyarrow(segment_table(features(ROWS), SPECS))
    assert out.column_names == ["account_id", *(f"seg_{s.segment_id}" for s in SPECS)]
    assert all(out.column(c).null_count == 0 for c in out.column_names)


def test_unknown_policy_decides_missing_data(duckdb_con: ibis.BaseBackend) -> None:
    specs = [SegmentSpec.of("low_false", cond("events_28d < 20", "false")),
             SegmentSpec.of("low_true", cond("events_28d < 20", "true"))]
    got = members(duckdb_con, features(ROWS), specs)
    assert "a4" not in got["low_false"]
    assert "a4" in got["low_true"]


def test_one_projection_without_joins() -> None:
    sql = ibis.to_sql(segment_table(features(ROWS), SPECS), dialect="duckdb")
    assert "JOIN" not in sql.upper()


def test_order_puts_references_first() -> None:
    reordered = [SPECS[4], SPECS[3], *SPECS[:3]]
    order = resolve_order(reordered)
    assert order.index("at_risk_pooled") < order.index("watch")
    assert order.index("low_usage") < order.index("at_risk_pooled") and order.index("pooled") < order.index(
        "at_risk_pooled")


def test_cycle_is_rejected_and_named() -> None:
    specs = [SegmentSpec.of("a", all_of=["b"]), SegmentSpec.of("b", any_of=["a"])]
    with pytest.raises(SegmentError, match=r"segment 'a' -> 'b' -> 'a' refer to each other"):
        resolve_order(specs)
    with pytest.raises(SegmentError, match="refer to each other"):
        resolve_order([SegmentSpec.of("self", none_of=["self"])])


def test_unknown_reference_suggests_the_closest() -> None:
    specs = [SegmentSpec.of("low_usage", cond("events_28d < 20")), SegmentSpec.of("x", all_of=["low_usag"])]
    with pytest.raises(SegmentError, match=r"unknown segment 'low_usag'; did you mean 'low_usage'\?"):
        resolve_order(specs)


@pytest.mark.parametrize(("specs", "message"), [
    ([SegmentSpec.of("a", cond("seats > 1")), SegmentSpec.of("a", cond("seats > 2"))], "defined twice"),
    ([SegmentSpec.of("Bad-Id", cond("seats > 1"))], "lower_snake_case"),
    ([SegmentSpec.of("empty")], "neither a condition"),
])
def test_bad_definitions_are_rejected(specs: list[SegmentSpec], message: str) -> None:
    with pytest.raises(SegmentError, match=message):
        resolve_order(specs)


def test_hash_changes_with_the_definition() -> None:
    one = SegmentSpec.of("s", cond("seats > 1"), all_of=["x"])
    assert one.definition_hash == SegmentSpec.of("s", cond("SEATS > 1"), all_of=["x"]).definition_hash
    assert one.definition_hash != SegmentSpec.of("s", cond("seats > 2"), all_of=["x"]).definition_hash
    assert one.definition_hash != SegmentSpec.of("s", cond("seats > 1"), none_of=["x"]).definition_hash


def test_membership_changes_store_only_transitions() -> None:
    today = pa.table({"account_id": ["a1", "a2", "a3"], "seg_low": [True, False, True],
                      "seg_big": [False, False, True]})
    previous = pa.table({"segment_id": ["low", "low", "big", "retired", "low"],
                         "account_id": ["a1", "a2", "a3", "a1", "gone"]})
    entered, left = membership_changes(previous, today)
    assert entered.to_pylist() == [{"segment_id": "low", "account_id": "a3"}]
    # a2 stopped matching, 'gone' is no longer in the table; the retired segment is not evaluated, so not left
    assert left.to_pylist() == [{"segment_id": "low", "account_id": "a2"}, {"segment_id": "low", "account_id": "gone"}]


def test_membership_changes_first_run_everyone_enters() -> None:
    today = pa.table({"account_id": ["a1", "a2"], "seg_low": [True, None]})
    entered, left = membership_changes(pa.table({"segment_id": pa.array([], pa.string()),
                                                 "account_id": pa.array([], pa.string())}), today)
    assert entered.to_pylist() == [{"segment_id": "low", "account_id": "a1"}]
    assert left.num_rows == 0


@pytest.mark.postgres
def test_postgres_matches_duckdb(postgres_con: ibis.BaseBackend, duckdb_con: ibis.BaseBackend) -> None:
    table = postgres_con.create_table("longtail_motion_segments", features(ROWS), overwrite=True)
    assert members(postgres_con, table, SPECS) == members(duckdb_con, features(ROWS), SPECS)
