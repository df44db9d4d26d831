"""Run a condition in Python for one row, with SQL's three-valued logic (None = unknown), and say why."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

from sqlglot import exp

from longtail.core.expressions.model import Condition, Decision, EvaluationError
from longtail.core.expressions.parse import (
    ARITHMETIC,
    COMPARISONS,
    UNARY,
    VARIADIC,
    function_args,
    number_value,
    temporal_value,
)

Value = Any
_SYMBOLS: dict[type[exp.Expr], str] = {
    exp.EQ: "=", exp.NEQ: "≠", exp.LT: "<", exp.LTE: "≤", exp.GT: ">", exp.GTE: "≥",
}
_COMPARE: dict[type[exp.Expr], Callable[[Any, Any], bool]] = {
    exp.EQ: lambda a, b: bool(a == b),
    exp.NEQ: lambda a, b: bool(a != b),
    exp.LT: lambda a, b: bool(a < b),
    exp.LTE: lambda a, b: bool(a <= b),
    exp.GT: lambda a, b: bool(a > b),
    exp.GTE: lambda a, b: bool(a >= b),
}
_KINDS: dict[str, tuple[type, ...]] = {
    "number": (int, float, Decimal),
    "string": (str,),
    "boolean": (bool,),
    "date": (date,),
    "timestamp": (datetime,),
}


def evaluate(condition: Condition, row: Mapping[str, Any]) -> bool | None:
    """True, False or None (unknown) for one row, with the same semantics as `to_ibis` before the policy."""
    result = _Evaluator(condition, row).value(condition._ast)
    return None if result is None else bool(result)


def decide(condition: Condition, row: Mapping[str, Any]) -> Decision:
    """Apply the condition's unknown policy: every row is in or out, and the decision says which and why."""
    evaluator = _Evaluator(condition, row)
    value = evaluator.value(condition._ast)
    facts = evaluator.explain(condition._ast)
    if value is None:
        result = condition.unknown == "true"
        reason = (f"unknown because {facts}; the rule counts unknown as {condition.unknown}, "
                  f"so {'matched' if result else 'not matched'}")
    else:
        result = bool(value)
        reason = f"{'matched' if result else 'not matched'}: {facts}"
    return Decision(result=result, unknown=value is None, inputs=evaluator.inputs(), reason=reason,
                    condition_hash=condition.hash)


def explain(condition: Condition, row: Mapping[str, Any]) -> str:
    """The facts that decided the outcome, e.g. "days_since_last_login = 21 ≥ 14 and tier = 'pooled'"."""
    return _Evaluator(condition, row).explain(condition._ast)


def show(value: Value) -> str:
    """A value as a CSM reads it: strings quoted, null as null, dates in ISO form."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, datetime | date):
        return value.isoformat(sep=" ") if isinstance(value, datetime) else value.isoformat()
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value)) if value != 0 or math.copysign(1, value) > 0 else "0"
    return str(value)


@lru_cache(maxsize=256)
def like_regex(pattern: str) -> re.Pattern[str]:
    parts = [".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern]
    return re.compile("".join(parts), re.DOTALL)


class _Evaluator:
    def __init__(self, condition: Condition, row: Mapping[str, Any]) -> None:
        self.condition = condition
        self.types = condition.types
        self.row: dict[str, Value] = {}
        for name in condition.columns:
            if name not in row:
                raise EvaluationError(f"the row has no value for column {name!r}", condition.text)
            self.row[name] = self.clean(name, row[name])

    def clean(self, name: str, value: Value) -> Value:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return None
        kind = self.types[name]
        ok = isinstance(value, _KINDS[kind]) and not (kind == "number" and isinstance(value, bool))
        if kind == "date" and isinstance(value, datetime):
            ok = False
        if not ok:
            raise EvaluationError(f"column {name!r} is a {kind}, but the row holds {value!r}",
                                  self.condition.text)
        return float(value) if isinstance(value, Decimal) else value

    def inputs(self) -> dict[str, Value]:
        return dict(self.row)

    # -- values -------------------------------------------------------------------------------------------
    def value(self, node: exp.Expr) -> Value:  # noqa: PLR0911, PLR0912
        if isinstance(node, exp.Paren):
            return self.value(node.this)
        if isinstance(node, exp.Column):
            return self.row[node.name]
        if isinstance(node, exp.Literal):
            return str(node.this) if node.is_string else number_value(node)
        if isinstance(node, exp.Boolean):
            return bool(node.this)
        if type(node) is exp.Cast:
            kind = "date" if node.to.this == exp.DataType.Type.DATE else "timestamp"
            return temporal_value(str(node.this.this), kind)
        if isinstance(node, exp.And | exp.Or):
            return self.connect(node)
        if isinstance(node, exp.Not):
            inner = self.value(node.this)
            return None if inner is None else not inner
        if isinstance(node, COMPARISONS):
            return self.compare(node, self.value(node.this), self.value(node.expression))
        if isinstance(node, exp.Is):
            return self.value(node.this) is None
        if isinstance(node, exp.In):
            subject = self.value(node.this)
            return None if subject is None else any(subject == self.value(item) for item in node.expressions)
        if isinstance(node, exp.Between):
            subject = self.value(node.this)
            low = self.compare(exp.GTE(), subject, self.value(node.args["low"]))
            high = self.compare(exp.LTE(), subject, self.value(node.args["high"]))
            return _and([low, high])
        if isinstance(node, exp.Like):
            subject = self.value(node.this)
            return None if subject is None else bool(like_regex(str(node.expression.this)).fullmatch(subject))
        if isinstance(node, ARITHMETIC):
            return self.arithmetic(node)
        if isinstance(node, exp.Neg):
            inner = self.value(node.this)
            return None if inner is None else -inner
        return self.function(node)

    def compare(self, node: exp.Expr, left: Value, right: Value) -> bool | None:
        if left is None or right is None:
            return None
        return _COMPARE[type(node)](left, right)

    def connect(self, node: exp.Expr) -> bool | None:
        values = [self.value(node.this), self.value(node.expression)]
        return _and(values) if isinstance(node, exp.And) else _or(values)

    def arithmetic(self, node: exp.Expr) -> Value:
        left, right = self.value(node.this), self.value(node.expression)
        if left is None or right is None:
            return None
        if isinstance(node, exp.Add):
            return left + right
        if isinstance(node, exp.Sub):
            return left - right
        if isinstance(node, exp.Mul):
            return left * right
        return None if right == 0 else left / right

    def function(self, node: exp.Expr) -> Value:
        args = [self.value(arg) for arg in function_args(node)]
        if isinstance(node, exp.Anonymous):  # days_between(start, end)
            start, end = args
            if start is None or end is None:
                return None
            return (_day(end) - _day(start)).days
        if type(node) in UNARY:
            (arg,) = args
            if arg is None:
                return None
            name = UNARY[type(node)][0]
            return abs(arg) if name == "abs" else arg.lower() if name == "lower" else (
                arg.upper() if name == "upper" else len(arg))
        name = VARIADIC[type(node)]
        present = [arg for arg in args if arg is not None]
        if not present:
            return None
        return present[0] if name == "coalesce" else min(present) if name == "least" else max(present)

    # -- reasons ------------------------------------------------------------------------------------------
    def explain(self, node: exp.Expr) -> str:
        """The facts behind the value of `node`: for AND/OR only the children that decided it."""
        if isinstance(node, exp.Paren):
            return self.explain(node.this)
        if isinstance(node, exp.And | exp.Or):
            outcome = self.value(node)
            children = _flatten(node, type(node))
            decisive = True if isinstance(node, exp.And) else False  # noqa: SIM210
            if outcome is None:
                chosen = [c for c in children if self.value(c) is None]
            elif outcome is decisive:
                chosen = children
            else:
                chosen = [c for c in children if self.value(c) is outcome]
            return " and ".join(self.explain(c) for c in chosen)
        if isinstance(node, exp.Not):
            return self.explain(node.this)
        return self.fact(node)

    def fact(self, node: exp.Expr) -> str:
        outcome = self.value(node)
        if outcome is None:
            return " and ".join(dict.fromkeys(self.why_unknown(node))) or f"{_sql(node)} is unknown"
        if isinstance(node, COMPARISONS):
            return self.comparison_fact(node, bool(outcome))
        if isinstance(node, exp.Is):
            subject = node.this
            if outcome:
                return f"{_sql(subject)} is null"
            return f"{self.operand(subject, self.value(subject))} is not null"
        if isinstance(node, exp.In | exp.Between | exp.Like):
            return self.membership_fact(node, bool(outcome))
        return f"{self.operand(node, outcome)}"

    def comparison_fact(self, node: exp.Expr, outcome: bool) -> str:
        left, right = self.value(node.this), self.value(node.expression)
        if outcome and isinstance(node, exp.EQ):
            return f"{_sql(node.this)} = {self.operand(node.expression, right, side='right')}"
        if outcome:
            symbol = _SYMBOLS[type(node)]
        elif isinstance(node, exp.EQ | exp.NEQ):
            symbol = "=" if left == right else "≠"
        else:
            symbol = "=" if left == right else "<" if left < right else ">"
        return f"{self.operand(node.this, left)} {symbol} {self.operand(node.expression, right, side='right')}"

    def membership_fact(self, node: exp.Expr, outcome: bool) -> str:
        subject = self.operand(node.this, self.value(node.this))
        if isinstance(node, exp.In):
            items = ", ".join(_sql(item) for item in node.expressions)
            return f"{subject} {'in' if outcome else 'not in'} ({items})"
        if isinstance(node, exp.Between):
            bounds = f"{_sql(node.args['low'])} and {_sql(node.args['high'])}"
            return f"{subject} {'between' if outcome else 'not between'} {bounds}"
        return f"{subject} {'matches' if outcome else 'does not match'} {_sql(node.expression)}"

    def why_unknown(self, node: exp.Expr) -> list[str]:
        """The null inputs (or divisions by zero) that made `node` unknown."""
        while isinstance(node, exp.Paren):
            node = node.this
        if isinstance(node, exp.Column):
            return [f"{node.name} is null"]
        if isinstance(node, exp.Div) and self.value(node.this) is not None and self.value(node.expression) == 0:
            return [f"{_sql(node)} divides by zero"]
        reasons: list[str] = []
        for child in node.iter_expressions():
            if self.value(child) is None and not isinstance(child, exp.Null):
                reasons.extend(self.why_unknown(child))
        return reasons

    def operand(self, node: exp.Expr, value: Value, side: str = "left") -> str:
        while isinstance(node, exp.Paren):
            node = node.this
        if isinstance(node, exp.Literal | exp.Boolean) or type(node) is exp.Cast:
            return _sql(node)
        if side == "right":
            return f"{_sql(node)} ({show(value)})"
        return f"{_sql(node)} = {show(value)}"


_CAST = re.compile(r"CAST\('([^']*)' AS (DATE|TIMESTAMP)\)")


def _sql(node: exp.Expr) -> str:
    """SQL for people: date literals written as DATE '…' rather than CAST(… AS DATE)."""
    return _CAST.sub(r"\2 '\1'", node.sql())


def _and(values: list[bool | None]) -> bool | None:
    if any(v is False for v in values):
        return False
    return None if any(v is None for v in values) else True


def _or(values: list[bool | None]) -> bool | None:
    if any(v is True for v in values):
        return True
    return None if any(v is None for v in values) else False


def _flatten(node: exp.Expr, kind: type[exp.Expr]) -> list[exp.Expr]:
    out: list[exp.Expr] = []
    stack = [node]
    while stack:
        current = stack.pop()
        while isinstance(current, exp.Paren):
            current = current.this
        if isinstance(current, kind):
            stack.extend([current.expression, current.this])
        else:
            out.append(current)
    return out


def _day(value: date) -> date:
    return value.date() if isinstance(value, datetime) else value
