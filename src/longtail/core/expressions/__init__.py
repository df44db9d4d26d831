"""Conditions: small SQL-like predicates over account features, checked strictly and run in two places.

`parse_condition` turns text into a validated `Condition` (or raises `ExpressionError`); `to_ibis` compiles it
for the warehouse; `evaluate`, `explain` and `decide` run the same tree in Python for one row. See
docs/expressions.md for the grammar, the allow-list and what *unknown* means.
"""

from longtail.core.expressions.evaluate import decide, evaluate, explain
from longtail.core.expressions.ibis_compile import columns_of, to_ibis
from longtail.core.expressions.model import (
    MAX_DEPTH,
    MAX_LENGTH,
    MAX_PARENS,
    Columns,
    ColumnType,
    Condition,
    Decision,
    EvaluationError,
    ExpressionError,
    Unknown,
)
from longtail.core.expressions.parse import ALLOWED_FUNCTIONS, parse_condition

__all__ = [
    "ALLOWED_FUNCTIONS",
    "MAX_DEPTH",
    "MAX_LENGTH",
    "MAX_PARENS",
    "ColumnType",
    "Columns",
    "Condition",
    "Decision",
    "EvaluationError",
    "ExpressionError",
    "Unknown",
    "columns_of",
    "decide",
    "evaluate",
    "explain",
    "parse_condition",
    "to_ibis",
]
