"""Type coercion: fast path and per-value fallback agree, and bad values are pinpointed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pyarrow as pa
from hypothesis import given
from hypothesis import strategies as st

from longtail.core.contract import KINDS, FieldSpec, FieldType
from longtail.ingest.coerce import coerce

TS = FieldSpec("ts", FieldType.TIMESTAMP, "t")
MONEY = FieldSpec("mrr", FieldType.DECIMAL, "m", minimum=0)
COUNT = FieldSpec("n", FieldType.INTEGER, "n", minimum=0)


@given(st.lists(st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1),
                             timezones=st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30))])),
                min_size=1, max_size=20), st.booleans())
def test_timestamps_round_trip_with_and_without_a_bad_value(values: list[datetime], poison: bool) -> None:
    texts: list[str | None] = [v.isoformat() for v in values]
    if poison:
        texts.append("not a date")
    result = coerce(pa.array(texts, pa.string()), TS, "UTC")
    parsed = result.values.to_pylist()
    for original, got in zip(values, parsed, strict=False):
        assert got == original.astimezone(UTC).replace(microsecond=original.microsecond)
    assert list(result.bad) == [False] * len(values) + ([True] if poison else [])


def test_naive_timestamps_are_local_to_the_workspace_zone() -> None:
    result = coerce(pa.array(["2025-01-15 09:00:00", "2025-07-15T09:00:00"]), TS, "America/New_York")
    hours = [v.hour for v in result.values.to_pylist()]
    assert hours == [14, 13]  # EST then EDT


@given(st.lists(st.one_of(st.integers(-10**6, 10**6).map(str), st.floats(allow_nan=False, allow_infinity=False,
                                                                            width=32).map(repr)), max_size=30))
def test_money_rejects_exactly_the_negative_values(values: list[str]) -> None:
    result = coerce(pa.array(values, pa.string()), MONEY, "UTC")
    expected = [float(v) < 0 for v in values]
    assert list(result.bad) == expected


def test_garbage_numbers_are_pinpointed() -> None:
    result = coerce(pa.array(["1", "2.0", "x", "", None, "1e3", "nan", "3.5"]), COUNT, "UTC")
    assert list(result.bad) == [False, False, True, False, False, True, True, True]
    assert result.values.to_pylist()[:2] == [1, 2]


def test_closed_and_open_choices() -> None:
    role = KINDS["team"].field("role")
    result = coerce(pa.array(["CSM", "lead", "wizard", None]), role, "UTC")
    assert list(result.bad) == [False, False, True, False]
    contact_role = KINDS["contacts"].field("role")
    assert not coerce(pa.array(["procurement"]), contact_role, "UTC").bad.any()


def test_unknown_time_zone_is_rejected() -> None:
    tz = KINDS["contacts"].field("timezone")
    result = coerce(pa.array(["Europe/Berlin", "Mars/Olympus", None]), tz, "UTC")
    assert list(result.bad) == [False, True, False]


def test_json_properties_must_be_objects() -> None:
    props = KINDS["events"].field("properties")
    result = coerce(pa.array(['{"a": 1}', "[1]", "{broken", None]), props, "UTC")
    assert list(result.bad) == [False, True, True, False]
