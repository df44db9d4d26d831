"""Parse a condition with sqlglot and check it against the columns and the allow-list. Nothing else gets through."""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable
from datetime import date, datetime
from typing import cast

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from longtail.core.expressions.model import (
    COLUMN_TYPES,
    MAX_DEPTH,
    MAX_LENGTH,
    Columns,
    ColumnType,
    Condition,
    ExpressionError,
    Unknown,
    condition_hash,
)
from longtail.core.expressions.scan import scan

SNAKE = re.compile(r"[a-z_][a-z0-9_]*")
COMPARISONS: tuple[type[exp.Expr], ...] = (exp.EQ, exp.NEQ, exp.LT, exp.LTE, exp.GT, exp.GTE)
ARITHMETIC: tuple[type[exp.Expr], ...] = (exp.Add, exp.Sub, exp.Mul, exp.Div)
VARIADIC: dict[type[exp.Expr], str] = {exp.Coalesce: "coalesce", exp.Least: "least", exp.Greatest: "greatest"}
UNARY: dict[type[exp.Expr], tuple[str, ColumnType, ColumnType]] = {
    exp.Abs: ("abs", "number", "number"),
    exp.Lower: ("lower", "string", "string"),
    exp.Upper: ("upper", "string", "string"),
    exp.Length: ("length", "string", "number"),
}
DAYS_BETWEEN = "days_between"
ALLOWED_FUNCTIONS = ("abs", "coalesce", DAYS_BETWEEN, "greatest", "least", "length", "lower", "upper")
ORDERED: frozenset[str] = frozenset({"number", "string", "date", "timestamp"})
_INT64 = 2**63
_STATEMENTS = tuple(
    getattr(exp, name)
    for name in ("DDL", "DML", "Command", "Drop", "Create", "Insert", "Update", "Delete", "Merge", "Set", "Use",
                 "Pragma", "Transaction", "Commit", "Rollback", "Alter", "Copy", "Describe", "Show", "Grant")
    if isinstance(getattr(exp, name, None), type)
)


def parse_condition(text: str, columns: Columns, *, unknown: Unknown = "false") -> Condition:
    """Parse and validate `text` as a condition over `columns`; raise `ExpressionError` on anything else."""
    if not isinstance(text, str):
        raise ExpressionError(f"a condition must be text, not {type(text).__name__}", repr(text))
    if unknown not in ("false", "true"):
        raise ExpressionError(f"unknown must be 'false' or 'true', not {unknown!r}", text)
    for name, kind in columns.items():
        if kind not in COLUMN_TYPES:
            raise ExpressionError(f"column {name!r} has type {kind!r}; expected one of {sorted(COLUMN_TYPES)}", text)
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"it is {len(text):,} characters long; the limit is {MAX_LENGTH:,}", text)
    if not text.strip():
        raise ExpressionError("it is empty", text)
    scan(text, columns)
    tree = _parse(text)
    _check_depth(tree, text)
    checker = _Checker(text, columns)
    checker.forbid(tree)
    tree = _unnegate(tree)
    kind = checker.check(tree)
    checker.check_all_seen(tree)
    if kind != "boolean":
        raise ExpressionError(f"it is a {kind}, not a true/false condition; compare it with something", text, 0)
    if not checker.used:
        raise ExpressionError("it reads no column, so it is the same for every account", text, 0)
    canonical = tree.sql()
    used = tuple(sorted(checker.used))
    return Condition(
        text=text,
        canonical=canonical,
        columns=used,
        unknown=unknown,
        hash=condition_hash(canonical, unknown),
        column_types=tuple((c, columns[c]) for c in used),
        _ast=tree,
    )


def _parse(text: str) -> exp.Expr:
    try:
        tree = sqlglot.parse_one(text)
    except ParseError as error:
        detail = error.errors[0] if error.errors else {}
        message = str(detail.get("description") or error).split(". Line")[0]
        raise ExpressionError(f"it does not parse: {message}", text, _offset(text, detail)) from None
    except TokenError as error:
        raise ExpressionError(f"it does not parse: {error}", text) from None
    except RecursionError:
        raise ExpressionError(f"it is nested too deeply (limit {MAX_DEPTH} levels)", text) from None
    if tree is None:  # pragma: no cover - parse_one raises instead
        raise ExpressionError("it is empty", text)
    return tree


def _offset(text: str, detail: dict[str, object]) -> int | None:
    line, col, highlight = detail.get("line"), detail.get("col"), str(detail.get("highlight") or "")
    if not isinstance(line, int) or not isinstance(col, int):
        return None
    starts = [0] + [m.end() for m in re.finditer(r"\r\n|\n|\r", text)]
    if line > len(starts):
        return None
    return max(0, min(len(text) - 1, starts[line - 1] + col - max(1, len(highlight))))


def _check_depth(tree: exp.Expr, text: str) -> None:
    stack: list[tuple[exp.Expr, int]] = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ExpressionError(f"it is nested deeper than {MAX_DEPTH} levels", text, _position(node, text))
        for child in node.iter_expressions():
            flat = isinstance(child, exp.Paren | exp.Identifier | exp.DataType)
            stack.append((child, depth if flat else depth + 1))


def _unnegate(tree: exp.Expr) -> exp.Expr:
    """`x NOT LIKE p` arrives as LIKE with a `negate` flag: rewrite it as NOT (x LIKE p), one form for all."""
    for node in list(tree.walk()):
        if isinstance(node, exp.Like | exp.Is) and node.args.get("negate"):
            node.set("negate", None)
            wrapped = exp.Not(this=node.copy())
            if node is tree:
                return wrapped
            node.replace(wrapped)
    return tree


def _position(node: exp.Expr, text: str) -> int | None:
    """Where `node` starts in `text`, as well as sqlglot lets us know (else where its parent does)."""
    found = _own_position(node, text)
    if found is None and node.parent is not None:
        return _position(node.parent, text)
    return found


def _own_position(node: exp.Expr, text: str) -> int | None:
    if isinstance(node, exp.Func):
        name = node.name if isinstance(node, exp.Anonymous) else node.sql_name()
        found = re.search(rf"\b{re.escape(name)}\s*\(", text, re.IGNORECASE)
        if found:
            return found.start()
    if isinstance(node, exp.Star) and "*" in text:
        return text.index("*")
    if isinstance(node, exp.Query | exp.Subquery | exp.Exists):
        found = re.search(r"\bselect\b", text, re.IGNORECASE)
        if found:
            return found.start()
    for child in node.walk():
        start = child.meta.get("start") if child.meta else None
        if isinstance(start, int):
            if isinstance(child, exp.Literal) and child.is_string:
                return max(0, start - 1)
            return start
    return None


class _Checker:
    """Walks the tree once: checks each node against the allow-list, infers its type and normalises names."""

    def __init__(self, text: str, columns: Columns) -> None:
        self.text = text
        self.columns = columns
        self.used: set[str] = set()
        self.seen: set[int] = set()
        self.dispatch: list[tuple[tuple[type[exp.Expr], ...], Callable[[exp.Expr], ColumnType]]] = [
            ((exp.Paren,), lambda n: self.check(n.this)),
            ((exp.Column,), self.column),
            ((exp.Literal,), self.literal),
            ((exp.Boolean,), lambda n: "boolean"),
            ((exp.And, exp.Or), self.logical),
            ((exp.Not,), self.negation),
            (COMPARISONS, self.comparison),
            ((exp.Is,), self.is_null),
            ((exp.In,), self.in_list),
            ((exp.Between,), self.between),
            ((exp.Like,), self.like),
            (ARITHMETIC, self.arithmetic),
            ((exp.Neg,), self.neg),
        ]

    def fail(self, problem: str, node: exp.Expr) -> ExpressionError:
        return ExpressionError(problem, self.text, _position(node, self.text))

    def forbid(self, tree: exp.Expr) -> None:
        """Reject hostile shapes (statements, subqueries, `*`, windows, unknown functions) before anything else."""
        forbidden = (*_STATEMENTS, exp.Query, exp.Subquery, exp.Exists, exp.Star, exp.Window, exp.Placeholder,
                     exp.Parameter)
        for node in tree.walk():
            allowed_function = type(node) in _SHAPES or self.is_days_between(node)
            if isinstance(node, forbidden) or (isinstance(node, exp.Func) and not allowed_function):
                raise self.fail(self.not_allowed(node), node)

    def check(self, node: exp.Expr) -> ColumnType:
        self.seen.add(id(node))
        if node.comments:
            raise self.fail("comments are not allowed", node)
        if node.args.get("negate"):
            raise self.fail(f"'{node.sql()}' is not allowed in a condition", node)
        for classes, handler in self.dispatch:
            if type(node) in classes:
                return handler(node)
        if type(node) is exp.Cast:
            return self.typed_literal(node)
        if type(node) in VARIADIC or type(node) in UNARY or self.is_days_between(node):
            return self.function(node)
        raise self.fail(self.not_allowed(node), node)

    def check_all_seen(self, tree: exp.Expr) -> None:
        for node in tree.walk():
            if id(node) not in self.seen and not isinstance(node, exp.Identifier | exp.DataType):
                raise self.fail(f"'{node.sql()}' is not allowed in a condition", node)

    def not_allowed(self, node: exp.Expr) -> str:  # noqa: PLR0911
        if isinstance(node, exp.Null):
            return "NULL is only allowed in 'IS NULL' and 'IS NOT NULL' (a comparison with NULL is never true)"
        if isinstance(node, _STATEMENTS):
            return "statements are not allowed: a condition is one true/false expression"
        if isinstance(node, exp.Query | exp.Subquery | exp.Exists):
            return "subqueries and SELECT are not allowed"
        if isinstance(node, exp.Star):
            return "'*' is not allowed: name the column"
        if isinstance(node, exp.Window):
            return "window functions are not allowed"
        if isinstance(node, exp.DPipe):
            return "string concatenation ('||') is not allowed"
        if isinstance(node, exp.Placeholder | exp.Parameter):
            return "parameters are not allowed: write the value"
        if isinstance(node, exp.Cast):
            return "CAST is only allowed as a DATE '…' or TIMESTAMP '…' literal"
        if isinstance(node, exp.Dot):
            return "qualified names are not allowed: write the column name alone"
        if isinstance(node, exp.Func):
            name = node.name if isinstance(node, exp.Anonymous) else node.sql_name()
            return f"function {name.lower()!r} is not allowed; allowed functions: {', '.join(ALLOWED_FUNCTIONS)}"
        return f"'{node.sql()}' ({type(node).__name__}) is not allowed in a condition"

    def column(self, node: exp.Expr) -> ColumnType:
        if any(node.args.get(part) for part in ("table", "db", "catalog")):
            raise self.fail(f"qualified name '{node.sql()}' is not allowed: write the column name alone", node)
        ident = node.this
        if not isinstance(ident, exp.Identifier):
            raise self.fail(self.not_allowed(ident), ident)
        name = str(ident.this)
        if not ident.quoted:
            name = name.lower()
            if not SNAKE.fullmatch(name):
                raise self.fail(f"{name!r} is not a column name (lower_snake_case)", node)
        if name not in self.columns:
            raise self.fail(self.unknown_column(name), node)
        ident.set("this", name)
        ident.set("quoted", not SNAKE.fullmatch(name))
        self.used.add(name)
        return self.columns[name]

    def unknown_column(self, name: str) -> str:
        matches = difflib.get_close_matches(name, list(self.columns), n=1, cutoff=0.6)
        if not matches:
            folded = {c.lower().replace(" ", "_"): c for c in self.columns}
            matches = [folded[m] for m in difflib.get_close_matches(name.lower(), list(folded), n=1, cutoff=0.6)]
        hint = f"; did you mean {matches[0]!r}?" if matches else ""
        return f"unknown column {name!r}{hint}"

    def literal(self, node: exp.Expr) -> ColumnType:
        lit = cast(exp.Literal, node)
        if lit.is_string:
            return "string"
        value = number_value(lit)
        if (isinstance(value, int) and abs(value) >= _INT64) or (isinstance(value, float) and not math.isfinite(value)):
            raise self.fail(f"number {lit.this} is out of range", node)
        return "number"

    def typed_literal(self, node: exp.Expr) -> ColumnType:
        value, to = node.this, node.args.get("to")
        kind: ColumnType | None = None
        if isinstance(to, exp.DataType) and not to.expressions:
            kind = "date" if to.this == exp.DataType.Type.DATE else None
            kind = "timestamp" if to.this == exp.DataType.Type.TIMESTAMP else kind
        if kind is None or not (isinstance(value, exp.Literal) and value.is_string):
            raise self.fail(self.not_allowed(node), node)
        self.seen.add(id(value))
        try:
            temporal_value(value.this, kind)
        except ValueError:
            raise self.fail(f"{value.this!r} is not a valid {kind} (write {_EXAMPLES[kind]})", value) from None
        return kind

    def expect(self, node: exp.Expr, kinds: frozenset[str] | str, role: str) -> ColumnType:
        kind = self.check(node)
        wanted = frozenset({kinds}) if isinstance(kinds, str) else kinds
        if kind not in wanted:
            expected = " or ".join(sorted(wanted))
            raise self.fail(f"{role} needs a {expected}, but '{node.sql()}' is a {kind}", node)
        return kind

    def same(self, left: exp.Expr, right: exp.Expr, what: str) -> ColumnType:
        if isinstance(right, exp.Null):
            raise self.fail(f"a comparison with NULL is never true; write '{left.sql()} IS NULL' or 'IS NOT NULL'",
                            right)
        a, b = self.check(left), self.check(right)
        if a != b:
            raise self.fail(f"cannot {what} '{left.sql()}' ({a}) with '{right.sql()}' ({b})", right)
        return a

    def logical(self, node: exp.Expr) -> ColumnType:
        word = "AND" if isinstance(node, exp.And) else "OR"
        self.expect(node.this, "boolean", f"{word}")
        self.expect(node.expression, "boolean", f"{word}")
        return "boolean"

    def negation(self, node: exp.Expr) -> ColumnType:
        self.expect(node.this, "boolean", "NOT")
        return "boolean"

    def comparison(self, node: exp.Expr) -> ColumnType:
        op = OPERATORS[type(node)]
        kind = self.same(node.this, node.expression, f"compare ({op})")
        if kind == "boolean" and not isinstance(node, exp.EQ | exp.NEQ):
            raise self.fail(f"true/false values can only be compared with = or <>, not {op}", node)
        return "boolean"

    def is_null(self, node: exp.Expr) -> ColumnType:
        if not isinstance(node.expression, exp.Null):
            raise self.fail("only 'IS NULL' and 'IS NOT NULL' are allowed after IS", node.expression)
        self.seen.add(id(node.expression))
        self.check(node.this)
        return "boolean"

    def in_list(self, node: exp.Expr) -> ColumnType:
        if any(node.args.get(part) for part in ("query", "unnest", "field")):
            raise self.fail("IN takes a list of values, not a subquery", node)
        kind = self.check(node.this)
        if kind == "boolean":
            raise self.fail("IN is for numbers, strings and dates; compare true/false with =", node)
        for item in node.expressions:
            if isinstance(item, exp.Null):
                raise self.fail("NULL in an IN list never matches; write 'x IS NULL OR x IN (…)'", item)
            if not is_constant(item):
                raise self.fail(f"IN takes a list of literal values; '{item.sql()}' is not one", item)
            self.same(node.this, item, "compare (IN)")
        return "boolean"

    def between(self, node: exp.Expr) -> ColumnType:
        if node.args.get("symmetric"):
            raise self.fail("BETWEEN SYMMETRIC is not allowed", node)
        kind = self.same(node.this, node.args["low"], "compare (BETWEEN)")
        self.same(node.this, node.args["high"], "compare (BETWEEN)")
        if kind not in ORDERED:
            raise self.fail(f"BETWEEN needs numbers, strings or dates, not {kind}", node)
        return "boolean"

    def like(self, node: exp.Expr) -> ColumnType:
        self.expect(node.this, "string", "LIKE")
        pattern = node.expression
        if not (isinstance(pattern, exp.Literal) and pattern.is_string):
            raise self.fail("LIKE needs a quoted pattern such as 'pool%'", pattern)
        self.seen.add(id(pattern))
        return "boolean"

    def arithmetic(self, node: exp.Expr) -> ColumnType:
        op = OPERATORS[type(node)]
        for side in (node.this, node.expression):
            self.expect(side, "number", f"arithmetic ({op})")
        return "number"

    def neg(self, node: exp.Expr) -> ColumnType:
        return self.expect(node.this, "number", "unary minus")

    def is_days_between(self, node: exp.Expr) -> bool:
        return isinstance(node, exp.Anonymous) and node.name.lower() == DAYS_BETWEEN

    def function(self, node: exp.Expr) -> ColumnType:
        args = function_args(node)
        if self.is_days_between(node):
            if len(args) != 2:
                raise self.fail(f"days_between takes 2 arguments (start, end), not {len(args)}", node)
            for arg in args:
                self.expect(arg, frozenset({"date", "timestamp"}), "days_between")
            node.set("this", DAYS_BETWEEN)
            return "number"
        if type(node) in UNARY:
            name, takes, gives = UNARY[type(node)]
            self.expect(args[0], takes, name)
            return gives
        name = VARIADIC[type(node)]
        kind = self.check(args[0])
        for arg in args[1:]:
            self.same(args[0], arg, f"mix in {name}()")
        if name != "coalesce" and kind not in ORDERED:
            raise self.fail(f"{name}() needs numbers, strings or dates, not {kind}", node)
        return kind


_SHAPES: frozenset[type[exp.Expr]] = frozenset({
    exp.Paren, exp.Column, exp.Identifier, exp.Literal, exp.Boolean, exp.Null, exp.And, exp.Or, exp.Not, exp.Is,
    exp.In, exp.Between, exp.Like, exp.Neg, exp.Cast, exp.DataType, *COMPARISONS, *ARITHMETIC, *VARIADIC, *UNARY,
})
OPERATORS: dict[type[exp.Expr], str] = {
    exp.EQ: "=", exp.NEQ: "<>", exp.LT: "<", exp.LTE: "<=", exp.GT: ">", exp.GTE: ">=",
    exp.Add: "+", exp.Sub: "-", exp.Mul: "*", exp.Div: "/",
}
_EXAMPLES = {"date": "DATE '2025-01-31'", "timestamp": "TIMESTAMP '2025-01-31 09:30:00'"}


def function_args(node: exp.Expr) -> list[exp.Expr]:
    if isinstance(node, exp.Anonymous):
        return list(node.expressions)
    return [node.this, *node.expressions]


def is_constant(node: exp.Expr) -> bool:
    if isinstance(node, exp.Neg):
        return isinstance(node.this, exp.Literal) and not node.this.is_string
    return isinstance(node, exp.Literal | exp.Boolean) or (
        type(node) is exp.Cast and isinstance(node.this, exp.Literal)
    )


def number_value(node: exp.Literal) -> int | float:
    text = str(node.this)
    return int(text) if text.isdigit() else float(text)


def temporal_value(text: str, kind: str) -> date | datetime:
    if kind == "date":
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            raise ValueError(text)
        return date.fromisoformat(text)
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?)?", text):
        raise ValueError(text)
    return datetime.fromisoformat(text)
