"""Compile a validated condition into an Ibis boolean expression by walking its tree (never via raw SQL)."""

from __future__ import annotations

from typing import Any

import ibis
import ibis.expr.types as ir
from sqlglot import exp

from longtail.core.expressions.model import ColumnType, Condition, ExpressionError
from longtail.core.expressions.parse import ARITHMETIC, COMPARISONS, UNARY, VARIADIC, function_args, number_value
from longtail.core.expressions.parse import temporal_value as _temporal


def to_ibis(condition: Condition, table: ir.Table) -> ir.BooleanValue:
    """The condition over `table`, with SQL's three-valued logic inside and the unknown policy applied last,
    so every row is either in or out."""
    available = columns_of(table)
    for name, kind in condition.column_types:
        if name not in available:
            raise ExpressionError(f"the table has no column {name!r}", condition.text)
        if available[name] != kind:
            raise ExpressionError(f"column {name!r} is a {available[name]} in the table, not a {kind}",
                                  condition.text)
    result: ir.BooleanValue = _Compiler(table).value(condition._ast)
    return result.fill_null(condition.unknown == "true")


def columns_of(table: ir.Table) -> dict[str, ColumnType]:
    """The condition-level type of each column of an Ibis table that a condition can read."""
    out: dict[str, ColumnType] = {}
    for name, dtype in table.schema().items():
        kind: ColumnType | None = (
            "boolean" if dtype.is_boolean() else "number" if dtype.is_numeric() else
            "string" if dtype.is_string() else "timestamp" if dtype.is_timestamp() else
            "date" if dtype.is_date() else None
        )
        if kind is not None:
            out[name] = kind
    return out




class _Compiler:
    def __init__(self, table: ir.Table) -> None:
        self.table = table

    def value(self, node: exp.Expr) -> Any:  # noqa: PLR0911, PLR0912
        if isinstance(node, exp.Paren):
            return self.value(node.this)
        if isinstance(node, exp.Column):
            return self.table[node.name]
        if isinstance(node, exp.Literal):
            if node.is_string:
                return ibis.literal(str(node.this), type="string")
            number = number_value(node)
            return ibis.literal(number, type="int64" if isinstance(number, int) else "float64")
        if isinstance(node, exp.Boolean):
            return ibis.literal(bool(node.this), type="boolean")
        if type(node) is exp.Cast:
            if node.to.this == exp.DataType.Type.DATE:
                return ibis.literal(_temporal(str(node.this.this), "date"), type="date")
            return ibis.literal(_temporal(str(node.this.this), "timestamp"), type="timestamp")
        if isinstance(node, exp.And):
            return self.value(node.this) & self.value(node.expression)
        if isinstance(node, exp.Or):
            return self.value(node.this) | self.value(node.expression)
        if isinstance(node, exp.Not):
            return ~self.value(node.this)
        if isinstance(node, COMPARISONS):
            return self.compare(node)
        if isinstance(node, exp.Is):
            return self.value(node.this).isnull()
        if isinstance(node, exp.In):
            return self.value(node.this).isin([self.value(item) for item in node.expressions])
        if isinstance(node, exp.Between):
            subject = self.value(node.this)  # the standard's definition, so nulls in a bound behave alike everywhere
            return (subject >= self.value(node.args["low"])) & (subject <= self.value(node.args["high"]))
        if isinstance(node, exp.Like):
            return self.value(node.this).like(str(node.expression.this))
        if isinstance(node, ARITHMETIC):
            return self.arithmetic(node)
        if isinstance(node, exp.Neg):
            return -self.value(node.this)
        return self.function(node)

    def compare(self, node: exp.Expr) -> Any:
        left, right = self.value(node.this), self.value(node.expression)
        if isinstance(node, exp.EQ):
            return left == right
        if isinstance(node, exp.NEQ):
            return left != right
        if isinstance(node, exp.LT):
            return left < right
        if isinstance(node, exp.LTE):
            return left <= right
        if isinstance(node, exp.GT):
            return left > right
        return left >= right

    def arithmetic(self, node: exp.Expr) -> Any:
        left, right = self.value(node.this), self.value(node.expression)
        if isinstance(node, exp.Add):
            return left + right
        if isinstance(node, exp.Sub):
            return left - right
        if isinstance(node, exp.Mul):
            return left * right
        return left / right.nullif(0)  # division by zero is unknown on every backend

    def function(self, node: exp.Expr) -> Any:
        args = [self.value(arg) for arg in function_args(node)]
        if isinstance(node, exp.Anonymous):  # days_between(start, end)
            start, end = (arg.date() if arg.type().is_timestamp() else arg for arg in args)
            return end.delta(start, unit="day")
        if type(node) in UNARY:
            name = UNARY[type(node)][0]
            return getattr(args[0], name)()
        name = VARIADIC[type(node)]
        return {"coalesce": ibis.coalesce, "least": ibis.least, "greatest": ibis.greatest}[name](*args)
