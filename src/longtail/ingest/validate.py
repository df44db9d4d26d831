"""Validate one chunk of raw rows against a kind of the data contract.

The result is a typed Arrow table of the good rows (with each row's source line in `_line`) and a
list of rejects, one per (row, field) problem, so that nothing is dropped without a reason.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from longtail.core.contract import FieldType, KindSpec
from longtail.ingest.coerce import TS_TYPE, Coerced, Mask, coerce

ARROW_TYPES: dict[FieldType, pa.DataType] = {
    FieldType.STRING: pa.string(),
    FieldType.TIMEZONE: pa.string(),
    FieldType.INTEGER: pa.int64(),
    FieldType.DECIMAL: pa.float64(),
    FieldType.FLOAT: pa.float64(),
    FieldType.TIMESTAMP: TS_TYPE,
    FieldType.DATE: pa.date32(),
    FieldType.JSON: pa.string(),
    FieldType.LIST: pa.list_(pa.string()),
}
LINE = "_line"
ATTRIBUTES = "attributes"


@dataclass(frozen=True)
class Reject:
    line: int
    field: str
    reason: str
    value: str = ""


@dataclass
class Validated:
    table: pa.Table
    rejects: list[Reject]
    rejected_rows: int


def arrow_schema(kind: KindSpec) -> pa.Schema:
    fields = [pa.field(f.name, ARROW_TYPES[f.type]) for f in kind.fields]
    if kind.keeps_extra_columns:
        fields.append(pa.field(ATTRIBUTES, pa.string()))
    fields.append(pa.field(LINE, pa.int64()))
    return pa.schema(fields)


def _raw(table: pa.Table, name: str, i: int) -> str:
    if name not in table.column_names:
        return ""
    value = table.column(name)[i].as_py()
    text = "" if value is None else str(value)
    return text if len(text) <= 200 else text[:200] + "..."


class _Problems:
    """Collects per-field bad-row masks, then turns them into rejects."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.items: list[tuple[str, Mask, str]] = []

    def add(self, field: str, bad: Mask, reason: str) -> None:
        if bad.any():
            self.items.append((field, bad, reason))

    def any_bad(self) -> Mask:
        out = np.zeros(self.n, dtype=bool)
        for _, bad, _ in self.items:
            out |= bad
        return out

    def rejects(self, raw: pa.Table, lines: np.ndarray[Any, Any]) -> list[Reject]:
        found: list[Reject] = []
        for field, bad, reason in self.items:
            for i in np.flatnonzero(bad).tolist():
                found.append(Reject(int(lines[i]), field, reason, _raw(raw, field, i)))
        found.sort(key=lambda r: r.line)
        return found


def validate_chunk(raw: pa.Table, lines: np.ndarray[Any, Any], kind: KindSpec, tz: str) -> Validated:
    n = len(lines)
    problems = _Problems(n)
    columns: dict[str, pa.Array] = {}
    for spec in kind.fields:
        if spec.name in raw.column_names:
            result: Coerced = coerce(raw.column(spec.name), spec, tz)
            problems.add(spec.name, result.bad, result.reason)
            values = result.values
        else:
            values = pa.nulls(n, ARROW_TYPES[spec.type])
        if spec.required:
            missing = np.asarray(values.is_null().to_numpy(zero_copy_only=False), dtype=bool)
            already = result.bad if spec.name in raw.column_names else np.zeros(n, dtype=bool)
            problems.add(spec.name, missing & ~already, "required field is missing or empty")
        columns[spec.name] = values
    _kind_rules(kind, columns, problems)
    if kind.keeps_extra_columns:
        columns[ATTRIBUTES] = _attributes(raw, kind)
    columns[LINE] = pa.array(lines, pa.int64())
    table = pa.table(columns, schema=arrow_schema(kind))
    bad = problems.any_bad()
    rejects = problems.rejects(raw, lines)
    if bad.any():
        table = table.filter(pa.array(~bad))
    return Validated(table, rejects, int(bad.sum()))


def _kind_rules(kind: KindSpec, columns: dict[str, pa.Array], problems: _Problems) -> None:
    if kind.name == "subscriptions":
        _subscription_rules(columns, problems)
    if kind.name == "tickets":
        before = pc.fill_null(pc.less(columns["closed_at"], columns["opened_at"]), False)
        problems.add("closed_at", _np(before), "closed before it was opened")


def _np(arr: pa.Array) -> Mask:
    return np.asarray(arr.to_numpy(zero_copy_only=False), dtype=bool)


def _subscription_rules(columns: dict[str, pa.Array], problems: _Problems) -> None:
    mrr, arr = columns["mrr"], columns["arr"]
    neither = _np(pc.and_(mrr.is_null(), arr.is_null()))
    problems.add("mrr", neither, "one of mrr or arr is required")
    columns["mrr"] = pc.coalesce(mrr, pc.divide(arr, 12.0))
    columns["arr"] = pc.coalesce(arr, pc.multiply(mrr, 12.0))
    ends_early = pc.fill_null(pc.less(columns["end_date"], columns["start_date"]), False)
    problems.add("end_date", _np(ends_early), "end_date is before start_date")
    currency = pc.utf8_upper(pc.fill_null(columns["currency"], "USD"))
    problems.add("currency", ~_np(pc.match_substring_regex(currency, r"^[A-Z]{3}$")),
                 "not an ISO 4217 currency code (e.g. USD)")
    columns["currency"] = currency
    columns["subscription_id"] = _derive_subscription_ids(columns)


def _derive_subscription_ids(columns: dict[str, pa.Array]) -> pa.Array:
    ids = columns["subscription_id"]
    if ids.null_count == 0:
        return ids
    accounts = columns["account_id"].to_pylist()
    plans = columns["plan"].to_pylist()
    starts = columns["start_date"].to_pylist()
    out = ids.to_pylist()
    for i, current in enumerate(out):
        if current is None:
            seed = f"{accounts[i]}|{plans[i] or ''}|{starts[i]}"
            out[i] = "sub_" + hashlib.sha256(seed.encode()).hexdigest()[:16]
    return pa.array(out, pa.string())


def infer_value(text: str) -> Any:
    """Type of a custom attribute value: bool, int, float, ISO date, else the text itself."""
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    for parse in (int, float):
        try:
            number = parse(text)
        except ValueError:
            continue
        if isinstance(number, float) and not math.isfinite(number):  # NaN and inf stay text
            return text
        return number
    return text


def value_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    try:
        date.fromisoformat(value)
        return "date"
    except (TypeError, ValueError):
        pass
    try:
        datetime.fromisoformat(value)
        return "timestamp"
    except (TypeError, ValueError):
        return "string"


def _attributes(raw: pa.Table, kind: KindSpec) -> pa.Array:
    extras = [c for c in raw.column_names if c not in kind.names]
    n = raw.num_rows
    if not extras:
        return pa.nulls(n, pa.string())
    values = {c: raw.column(c).to_pylist() for c in extras}
    out: list[str | None] = []
    for i in range(n):
        attrs: dict[str, Any] = {}
        for name in extras:
            value = values[name][i]
            if value is None or value == "":
                continue
            attrs[name] = infer_value(value) if isinstance(value, str) else value
        out.append(json.dumps(attrs, sort_keys=True, default=str) if attrs else None)
    return pa.array(out, pa.string())
