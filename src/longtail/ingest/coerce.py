"""Turn raw columns (text from CSV/JSONL, typed from Parquet) into contract types, row by row safe.

Each coercer works on a whole column with Arrow compute (fast path). Only when that fails, because
some values are malformed, does it fall back to a per-value Python parse of that column, which
finds exactly which rows are bad. Clean files never pay for the slow path.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from longtail.core.contract import MAX_TEXT, FieldSpec, FieldType

Mask = npt.NDArray[np.bool_]
TS_TYPE = pa.timestamp("us", tz="UTC")
_OFFSET = r"([Zz]|[+-]\d\d(:?\d\d)?)$"
_INT = re.compile(r"^[+-]?\d+(\.0*)?$")


class Coerced:
    """A typed column and the rows that failed, with one reason for this field."""

    def __init__(self, values: pa.Array, bad: Mask, reason: str) -> None:
        self.values = values
        self.bad = bad
        self.reason = reason


def _mask(arr: pa.Array) -> Mask:
    return np.asarray(arr.to_numpy(zero_copy_only=False), dtype=bool)


def _as_text(arr: pa.Array) -> pa.Array:
    if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
        trimmed = pc.utf8_trim_whitespace(arr)
        return pc.if_else(pc.equal(trimmed, ""), pa.scalar(None, pa.string()), trimmed)
    return pc.cast(arr, pa.string())


def _slow(arr: pa.Array, parse: Callable[[Any], Any], typ: pa.DataType) -> tuple[pa.Array, Mask]:
    out: list[Any] = []
    bad = np.zeros(len(arr), dtype=bool)
    for i, value in enumerate(arr.to_pylist()):
        if value is None:
            out.append(None)
            continue
        try:
            out.append(parse(value))
        except (ValueError, TypeError, OverflowError):
            out.append(None)
            bad[i] = True
    return pa.array(out, typ), bad


@lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def _parse_ts(tz: str) -> Callable[[Any], datetime]:
    def parse(value: Any) -> datetime:
        if isinstance(value, datetime):
            parsed = value
        elif isinstance(value, date):
            parsed = datetime(value.year, value.month, value.day)
        else:
            parsed = datetime.fromisoformat(str(value).strip())
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=_zone(tz))
        return parsed.astimezone(UTC)

    return parse


def _ts_fast(arr: pa.Array, tz: str) -> pa.Array:
    if pa.types.is_timestamp(arr.type):
        if arr.type.tz is None:
            arr = pc.assume_timezone(arr, tz, ambiguous="earliest", nonexistent="earliest")
        return pc.cast(arr, TS_TYPE)
    if pa.types.is_date(arr.type):
        return pc.cast(pc.assume_timezone(pc.cast(arr, pa.timestamp("us")), tz), TS_TYPE)
    text = _as_text(arr)
    with_offset = pc.fill_null(pc.match_substring_regex(text, _OFFSET), False)
    null_text = pa.scalar(None, pa.string())
    aware = pc.cast(pc.if_else(with_offset, text, null_text), TS_TYPE)
    naive = pc.cast(pc.if_else(with_offset, null_text, text), pa.timestamp("us"))
    local = pc.cast(pc.assume_timezone(naive, tz, ambiguous="earliest", nonexistent="earliest"), TS_TYPE)
    return pc.if_else(with_offset, aware, local)


def coerce_timestamp(arr: pa.Array, tz: str) -> Coerced:
    reason = "not a timestamp (expected ISO 8601, e.g. 2026-01-31T09:30:00Z)"
    try:
        return Coerced(_ts_fast(arr, tz), np.zeros(len(arr), dtype=bool), reason)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        values, bad = _slow(_as_text(arr) if not pa.types.is_timestamp(arr.type) else arr, _parse_ts(tz), TS_TYPE)
        return Coerced(values, bad, reason)


def _parse_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value).strip()
    try:
        return date.fromisoformat(text)
    except ValueError:
        return datetime.fromisoformat(text).date()


def coerce_date(arr: pa.Array) -> Coerced:
    reason = "not a date (expected YYYY-MM-DD)"
    try:
        if pa.types.is_timestamp(arr.type):
            return Coerced(pc.cast(arr, pa.date32()), np.zeros(len(arr), dtype=bool), reason)
        return Coerced(pc.cast(_as_text(arr), pa.date32()), np.zeros(len(arr), dtype=bool), reason)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        values, bad = _slow(_as_text(arr), _parse_date, pa.date32())
        return Coerced(values, bad, reason)


def _parse_float(value: Any) -> float:
    number = float(value)
    if not math.isfinite(number):
        raise ValueError("not finite")
    return number


def _parse_int(value: Any) -> int:
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if not _INT.match(text):
        raise ValueError("not an integer")
    return int(text.split(".")[0])


def coerce_number(arr: pa.Array, integer: bool) -> Coerced:
    typ = pa.int64() if integer else pa.float64()
    reason = "not a whole number" if integer else "not a number"
    if not pa.types.is_string(arr.type) and not pa.types.is_large_string(arr.type):
        try:
            values = pc.cast(arr, typ)
            return Coerced(values, _non_finite(values, integer), reason)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            arr = pc.cast(arr, pa.string())
    text = _as_text(arr)
    try:
        values = pc.cast(text, typ)
        return Coerced(values, _non_finite(values, integer), reason)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        values, bad = _slow(text, _parse_int if integer else _parse_float, typ)
        return Coerced(values, bad, reason)


def _non_finite(values: pa.Array, integer: bool) -> Mask:
    if integer:
        return np.zeros(len(values), dtype=bool)
    return ~_mask(pc.fill_null(pc.is_finite(values), True))


def _parse_json(value: Any) -> str:
    obj = json.loads(value) if isinstance(value, str) else value
    if not isinstance(obj, dict):
        raise ValueError("not an object")
    return value if isinstance(value, str) else json.dumps(obj, default=str)


def coerce_json(arr: pa.Array) -> Coerced:
    if pa.types.is_struct(arr.type) or pa.types.is_map(arr.type):
        values, bad = _slow(arr, _parse_json, pa.string())
        return Coerced(values, bad, "not a JSON object")
    text = _as_text(arr)
    # Properties repeat a lot: parse each distinct text once, then map the verdict back to rows.
    encoded = pc.dictionary_encode(text)
    if isinstance(encoded, pa.ChunkedArray):
        encoded = encoded.combine_chunks()
    _, bad_distinct = _slow(encoded.dictionary, _parse_json, pa.string())
    indices = np.asarray(encoded.indices.fill_null(0).to_numpy(zero_copy_only=False), dtype=np.int64)
    valid = _mask(text.is_valid())
    bad = bad_distinct[indices] & valid if len(bad_distinct) else np.zeros(len(text), dtype=bool)
    values = pc.if_else(pa.array(bad), pa.scalar(None, pa.string()), text)
    return Coerced(values, bad, "not a JSON object")


def coerce_list(arr: pa.Array) -> Coerced:
    if pa.types.is_list(arr.type) or pa.types.is_large_list(arr.type):
        return Coerced(pc.cast(arr, pa.list_(pa.string())), np.zeros(len(arr), dtype=bool), "")
    parts = pc.split_pattern_regex(_as_text(arr), r"\s*[;,]\s*")
    return Coerced(parts, np.zeros(len(arr), dtype=bool), "not a list")


@lru_cache(maxsize=1)
def _zones() -> pa.Array:
    return pa.array(sorted(available_timezones()), pa.string())


def _not_in(text: pa.Array, allowed: pa.Array) -> Mask:
    """Present values outside `allowed` (nulls are not this check's business)."""
    return _mask(text.is_valid()) & ~_mask(pc.is_in(text, value_set=allowed))


def coerce_text(arr: pa.Array, spec: FieldSpec) -> Coerced:
    text = _as_text(arr)
    if spec.type is FieldType.TIMEZONE:
        bad = _not_in(text, _zones())
        return Coerced(text, bad, "unknown time zone (expected an IANA name such as Europe/Berlin)")
    too_long = _mask(pc.fill_null(pc.greater(pc.utf8_length(text), MAX_TEXT), False))
    if spec.choices and not spec.open_choices:
        text = pc.utf8_lower(text)
        allowed = pa.array(list(spec.choices), pa.string())
        bad = _not_in(text, allowed)
        return Coerced(text, bad | too_long, f"must be one of: {', '.join(spec.choices)}")
    if spec.choices:
        text = pc.utf8_lower(text)
    return Coerced(text, too_long, f"longer than {MAX_TEXT:,} characters")


def coerce(arr: pa.Array, spec: FieldSpec, tz: str) -> Coerced:
    """Coerce one column to the field's contract type and apply its range checks."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    match spec.type:
        case FieldType.TIMESTAMP:
            result = coerce_timestamp(arr, tz)
        case FieldType.DATE:
            result = coerce_date(arr)
        case FieldType.INTEGER:
            result = coerce_number(arr, integer=True)
        case FieldType.DECIMAL | FieldType.FLOAT:
            result = coerce_number(arr, integer=False)
        case FieldType.JSON:
            result = coerce_json(arr)
        case FieldType.LIST:
            result = coerce_list(arr)
        case _:
            result = coerce_text(arr, spec)
    return _range_check(result, spec)


def _range_check(result: Coerced, spec: FieldSpec) -> Coerced:
    if spec.minimum is None and spec.maximum is None:
        return result
    out_of_range = np.zeros(len(result.values), dtype=bool)
    if spec.minimum is not None:
        out_of_range |= _mask(pc.fill_null(pc.less(result.values, spec.minimum), False))
    if spec.maximum is not None:
        out_of_range |= _mask(pc.fill_null(pc.greater(result.values, spec.maximum), False))
    if not out_of_range.any():
        return result
    bounds = _bounds(spec)
    reason = result.reason if result.bad.any() else f"out of range ({bounds})"
    if result.bad.any():
        reason = f"{result.reason} or out of range ({bounds})"
    return Coerced(result.values, result.bad | out_of_range, reason)


def _bounds(spec: FieldSpec) -> str:
    if spec.minimum is not None and spec.maximum is not None:
        return f"{spec.minimum:g} to {spec.maximum:g}"
    if spec.minimum is not None:
        return "must not be negative" if spec.minimum == 0 else f">= {spec.minimum:g}"
    return f"<= {spec.maximum:g}"
