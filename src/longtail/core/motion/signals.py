"""Condition signals: a condition over an account's features that fires when it becomes true (edge mode) or
whenever it is true (level mode), evaluated in the warehouse for every signal in one pass.

Date signals are conditions too: "renewal within 90 days" is `renewal_signal(90)`, which in edge mode fires once
on the day an account crosses into the window.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

import ibis
import ibis.expr.types as ir

from longtail.core.expressions import Condition, to_ibis
from longtail.errors import ConfigError

SIGNAL_ID = re.compile(r"[a-z][a-z0-9_]*")
_NOW, _WAS, _FIRED = "_now_", "_was_", "_fired_"
_PREVIOUS_KEY = "_previous_account_id"


class SignalError(ConfigError):
    """The signal definitions are invalid (bad or duplicate id, or none at all where one is needed)."""


@dataclass(frozen=True)
class ConditionSignal:
    """A named condition; `definition_hash` versions it (the condition's hash unless the caller adds more)."""

    signal_id: str
    condition: Condition
    definition_hash: str = ""

    @classmethod
    def of(cls, signal_id: str, condition: Condition) -> ConditionSignal:
        return cls(signal_id, condition, condition.hash)


def renewal_signal(days: int) -> str:
    """The condition text of "renewal within `days` days" (and not already past): in edge mode it fires once,
    on the evaluation where the account first falls inside the window."""
    if days <= 0:
        raise SignalError(f"a renewal window needs a positive number of days, got {days}")
    return f"days_to_renewal <= {days} AND days_to_renewal > 0"


def edge_table(today: ir.Table, previous: ir.Table | None, signals: Sequence[ConditionSignal]) -> ir.Table:
    """(signal_id, account_id, inputs, definition_hash): one row per signal that is true today and was not
    true on the previous evaluation.

    An account absent from `previous` (new today), or every account when `previous` is None (first run), counts
    as "was not true", so a condition already true on the first evaluation fires once. Both days apply the
    condition's unknown policy, so an unknown that counts as false and then turns true also fires. `inputs`
    is a JSON object of today's values of the columns the condition reads (why it fired). All signals are
    evaluated in one left join of today and previous on account_id."""
    _check(signals)
    now = _flags(today, signals, _NOW, keep_inputs=True)
    if previous is None:
        fired = now.mutate(**{f"{_FIRED}{i}": now[f"{_NOW}{i}"] for i in range(len(signals))})
    else:
        was = _flags(previous, signals, _WAS, keep_inputs=False)
        joined = now.left_join(was, now.account_id == was[_PREVIOUS_KEY])
        fired = joined.select(
            *now.columns,
            **{f"{_FIRED}{i}": joined[f"{_NOW}{i}"] & ~joined[f"{_WAS}{i}"].fill_null(False)
               for i in range(len(signals))},
        )
    return _long(fired, signals)


def level_table(today: ir.Table, signals: Sequence[ConditionSignal]) -> ir.Table:
    """The same rows as `edge_table`, for every signal that is true today (level mode: it fires every run)."""
    return edge_table(today, None, signals)


def _check(signals: Sequence[ConditionSignal]) -> None:
    if not signals:
        raise SignalError("no signals to evaluate")
    seen: set[str] = set()
    for signal in signals:
        if not SIGNAL_ID.fullmatch(signal.signal_id):
            raise SignalError(f"signal id {signal.signal_id!r} must be lower_snake_case (letters, digits, _)")
        if signal.signal_id in seen:
            raise SignalError(f"signal {signal.signal_id!r} is defined twice")
        seen.add(signal.signal_id)


def _flags(table: ir.Table, signals: Sequence[ConditionSignal], prefix: str, *, keep_inputs: bool) -> ir.Table:
    """account_id, one non-null boolean per signal and (today only) the columns any condition reads."""
    read = sorted({c for s in signals for c in s.condition.columns}) if keep_inputs else []
    key = "account_id" if keep_inputs else _PREVIOUS_KEY
    return table.select(**{key: table.account_id}, **{c: table[c] for c in read},
                        **{f"{prefix}{i}": to_ibis(s.condition, table) for i, s in enumerate(signals)})


def _long(fired: ir.Table, signals: Sequence[ConditionSignal]) -> ir.Table:
    """Wide per-signal flags to long rows: keep accounts where any signal fired, then one branch per signal."""
    flags = [fired[f"{_FIRED}{i}"] for i in range(len(signals))]
    any_fired = flags[0]
    for flag in flags[1:]:
        any_fired = any_fired | flag
    candidates = fired.filter(any_fired)
    branches = [
        candidates.filter(candidates[f"{_FIRED}{i}"]).select(
            signal_id=ibis.literal(signal.signal_id, type="string"),
            account_id=candidates.account_id.cast("string"),
            inputs=_inputs_json(candidates, signal.condition),
            definition_hash=ibis.literal(signal.definition_hash, type="string"),
        )
        for i, signal in enumerate(signals)
    ]
    return ibis.union(*branches, distinct=False) if len(branches) > 1 else branches[0]


def _inputs_json(table: ir.Table, condition: Condition) -> ir.StringValue:
    """A JSON object text of the columns the condition reads, built with string operations so every backend
    computes it the same way (no backend JSON functions). Nulls, NaN and infinities become JSON null."""
    parts: list[ir.StringValue] = []
    for i, name in enumerate(condition.columns):
        prefix = ("{" if i == 0 else ", ") + json.dumps(name) + ": "
        parts.append(ibis.literal(prefix, type="string") + _json_value(table[name]).fill_null("null"))
    result = parts[0]
    for part in parts[1:]:
        result = result + part
    return result + ibis.literal("}", type="string")


def _json_value(column: ir.Value) -> ir.StringValue:
    dtype = column.type()
    if dtype.is_boolean():
        out: ir.StringValue = ibis.ifelse(column, "true", "false")
        return out
    if dtype.is_floating():
        finite = ~(column.isnan() | column.isinf())
        return ibis.ifelse(finite, column.cast("string"), ibis.null("string"))
    if dtype.is_numeric():
        return column.cast("string")
    text = column.cast("string")
    for raw, escaped in (("\\", "\\\\"), ('"', '\\"'), ("\n", "\\n"), ("\r", "\\r"), ("\t", "\\t")):
        text = text.replace(raw, escaped)
    return '"' + text + '"'
