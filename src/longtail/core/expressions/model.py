"""The data of a condition: column types, the error, the parsed `Condition` and the `Decision` it yields."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlglot import exp

from longtail.errors import ConfigError

ColumnType = Literal["number", "string", "boolean", "date", "timestamp"]
Columns = Mapping[str, ColumnType]
Unknown = Literal["false", "true"]

COLUMN_TYPES: frozenset[str] = frozenset({"number", "string", "boolean", "date", "timestamp"})
MAX_LENGTH = 2_000
"""Longest accepted condition text, in characters."""
MAX_DEPTH = 50
"""Deepest accepted syntax tree (parentheses not counted)."""
MAX_PARENS = 25
"""Deepest accepted nesting of parentheses (the SQL parser recurses about 20 frames per level)."""

_QUOTE_WIDTH = 100


class ExpressionError(ConfigError):
    """A condition was rejected: it does not parse, reads an unknown column, uses something not allowed
    or mixes types. The message quotes the condition and points at the offending part."""

    def __init__(self, problem: str, expression: str, position: int | None = None) -> None:
        self.problem = problem
        self.expression = expression
        self.position = position
        super().__init__(_render(problem, expression, position))


def _render(problem: str, expression: str, position: int | None) -> str:
    shown = expression if len(expression) <= _QUOTE_WIDTH else expression[:_QUOTE_WIDTH] + "…"
    lines = [f"invalid condition {shown!r}: {problem}"]
    single_line = "\n" not in expression and "\r" not in expression and len(expression) <= _QUOTE_WIDTH
    if position is not None and single_line and expression.strip():
        lines += [f"  {expression}", "  " + " " * position + "^"]
    elif position is not None:
        lines.append(f"  (at character {position})")
    return "\n".join(lines)


class EvaluationError(ExpressionError):
    """A row handed to `evaluate` lacks a column the condition reads, or holds a value of the wrong type."""


@dataclass(frozen=True)
class Condition:
    """A validated condition. `canonical` is the normalised SQL text; `hash` versions it with its unknown policy."""

    text: str
    canonical: str
    columns: tuple[str, ...]
    unknown: Unknown
    hash: str
    column_types: tuple[tuple[str, ColumnType], ...] = field(repr=False)
    _ast: exp.Expr = field(repr=False, compare=False)

    @property
    def types(self) -> dict[str, ColumnType]:
        return dict(self.column_types)


def condition_hash(canonical: str, unknown: Unknown) -> str:
    return hashlib.sha256(f"{canonical}\nunknown={unknown}".encode()).hexdigest()


@dataclass(frozen=True)
class Decision:
    """The outcome of a condition for one row: in or out, whether it was unknown, what it read and why."""

    result: bool
    unknown: bool
    inputs: dict[str, Any]
    reason: str
    condition_hash: str = ""
