"""Hostile and malformed conditions are rejected with an `ExpressionError` that says what and where."""

from __future__ import annotations

import pytest

from longtail.core.expressions import MAX_LENGTH, ExpressionError, parse_condition
from longtail.errors import ConfigError
from tests.expressions.conftest import COLUMNS

# (condition, a fragment the message must contain)
HOSTILE = [
    # statements and injection
    ("1=1; DROP TABLE accounts", "';' is not allowed"),
    ("tier = 'pooled'; DELETE FROM accounts", "';' is not allowed"),
    ("tier = 'x' ;", "';' is not allowed"),
    ("DROP TABLE accounts", "statements are not allowed"),
    ("DELETE FROM accounts", "not allowed"),
    ("INSERT INTO accounts VALUES (1)", "not allowed"),
    ("UPDATE accounts SET tier = 'x'", "not allowed"),
    ("SELECT * FROM accounts", "not allowed"),
    ("SELECT 1", "subqueries and SELECT are not allowed"),
    ("tier = (SELECT 1)", "subqueries and SELECT are not allowed"),
    ("arr > (SELECT max(arr) FROM accounts)", "subqueries and SELECT are not allowed"),
    ("tier in (SELECT tier FROM accounts)", "subqueries and SELECT are not allowed"),
    ("exists (select 1)", "subqueries and SELECT are not allowed"),
    ("tier = 'x' union select password from users", "not allowed"),
    ("tier = 'x' or 1=1", None),  # allowed shape? only if it reads a column: it does, so it parses
    # functions that reach outside
    ("pg_sleep(10) > 0", "function 'pg_sleep' is not allowed"),
    ("read_csv('/etc/passwd') is null", "function 'read_csv' is not allowed"),
    ("arr > read_parquet('s3://bucket/x')", "is not allowed"),
    ("current_date > renewal_date", "function 'current_date' is not allowed"),
    ("now() > last_seen_at", "is not allowed"),
    ("random() < 0.5", "is not allowed"),
    ("count(*) > 1", "not allowed"),
    ("sum(arr) over () > 1", "window functions are not allowed"),
    ("row_number() over (order by arr) = 1", "window functions are not allowed"),
    ("concat(tier, 'x') = 'y'", "is not allowed"),
    ("tier = 'a' || 'b'", "string concatenation"),
    ("regexp_matches(tier, '.*')", "is not allowed"),
    ("getenv('HOME') is null", "is not allowed"),
    # shapes that are not allowed
    ("* = 1", "'*' is not allowed"),
    ("a.b = 1", "qualified name 'a.b' is not allowed"),
    ("accounts.tier = 'pooled'", "qualified name"),
    ("main.accounts.tier = 'x'", "qualified name"),
    ("tier = $1", "not a column name"),
    ("tier = ?", "parameters are not allowed"),
    ("tier = :name", "not allowed"),
    ("cast(arr as varchar) = '1'", "CAST is only allowed"),
    ("arr::text = '1'", "CAST is only allowed"),
    ("try_cast(tier as int) = 1", "CAST is only allowed"),
    ("CAST(arr AS DATE) = DATE '2025-01-01'", "CAST is only allowed"),
    ("renewal_date < DATE '2025-13-01'", "is not a valid date"),
    ("renewal_date < DATE 'tomorrow'", "is not a valid date"),
    ("last_seen_at < TIMESTAMP '2025-01-01 10:00:00+02:00'", "is not a valid timestamp"),
    ("tier like 'a%' escape '!'", "not allowed"),
    ("tier ilike 'a%'", "not allowed"),
    ("tier like segment", "LIKE needs a quoted pattern"),
    ("tier similar to 'a'", "not allowed"),
    ("tier ~ 'a'", None),
    ("is_active is true", "only 'IS NULL' and 'IS NOT NULL'"),
    ("nps_latest = null", "write 'nps_latest IS NULL'"),
    ("tier in ('a', null)", "NULL in an IN list"),
    ("tier in (segment)", "literal values"),
    ("arr between symmetric 1 and 2", "SYMMETRIC"),
    ("arr % 2 = 0", "not allowed"),
    ("arr // 2 = 0", None),
    ("arr & 1 = 1", "not allowed"),
    ("nps_latest > 1e400", "out of range"),
    ("nps_latest > 99999999999999999999", "out of range"),
    ("x'41' = tier", None),
    ("tier = E'\\x41'", "backslashes are not allowed"),
    ("tier = 'a\\'", "backslashes are not allowed"),
    ("tier = $$x$$", None),
    # comments and smuggling
    ("tier = 'pooled' -- and arr > 0", "comments"),
    ("tier = 'pooled' /* drop */", "comments"),
    ("tier /**/= 'pooled'", "comments"),
    ("-- just a comment", "comments"),
    ("arr--1 > 0", "comments"),
    ("tier = 'pooled'\x00", "control character"),
    ("tier = 'pooled\x1b[2J'", "control character"),
    ("tier\u200b = 'pooled'", "control character"),
    # look-alike letters (Cyrillic і, Greek ο) and full-width
    ("t\u0456er = 'pooled'", "did you mean 'tier'"),
    ("segment = 'smb' and \u0430rr > 1", "did you mean 'arr'"),
    ("n\u03bfs_latest > 1", "non-ASCII"),
    ("\uff54ier = 'pooled'", "non-ASCII"),
    ("\"t\u0456er\" = 'pooled'", "unknown column"),
    # unknown and misspelt columns, quoting
    ("days_since_last_logn >= 14", "unknown column 'days_since_last_logn'; did you mean 'days_since_last_login'?"),
    ("password = 'x'", "unknown column 'password'"),
    ("\"Tier\" = 'pooled'", "unknown column 'Tier'; did you mean 'tier'?"),
    ("`tier` = 'pooled'", None),
    ("[tier] = 'pooled'", None),
    # types
    ("tier > 5", "cannot compare (>) 'tier' (string) with '5' (number)"),
    ("tier = 14", "cannot compare"),
    ("days_since_last_login = 'pooled'", "cannot compare"),
    ("tier + 1 > 2", "arithmetic (+) needs a number, but 'tier' is a string"),
    ("arr * tier > 1", "arithmetic (*) needs a number"),
    ("-tier = 'x'", "unary minus needs a number"),
    ("nps_latest like 'a%'", "LIKE needs a string, but 'nps_latest' is a number"),
    ("renewal_date > 5", "cannot compare"),
    ("renewal_date > last_seen_at", "cannot compare"),
    ("renewal_date + 1 > renewal_date", "arithmetic (+) needs a number"),
    ("is_active > false", "only be compared with = or <>"),
    ("is_active and arr", "AND needs a boolean"),
    ("not arr", "NOT needs a boolean"),
    ("arr", "not a true/false condition"),
    ("tier", "not a true/false condition"),
    ("lower(arr) = 'x'", "lower needs a string"),
    ("abs(tier) > 1", "abs needs a number"),
    ("length(arr) > 1", "length needs a string"),
    ("coalesce(tier, 0) = 'x'", "cannot mix in coalesce()"),
    ("least(is_active, false)", "least() needs numbers"),
    ("days_between(arr, renewal_date) > 1", "days_between needs a date or timestamp"),
    ("days_between(renewal_date) > 1", "days_between takes 2 arguments"),
    ("tier in (1, 2)", "cannot compare (IN)"),
    ("arr between 'a' and 'b'", "cannot compare (BETWEEN)"),
    # constants and nonsense
    ("1 = 1", "reads no column"),
    ("true", "reads no column"),
    ("'a' = 'a' or 2 > 1", "reads no column"),
    ("", "it is empty"),
    ("   \n\t ", "it is empty"),
    ("tier = 'pooled", "unterminated string"),
    ("\"tier = 'pooled'", "unterminated quoted name"),
    ("tier = = 'pooled'", "does not parse"),
    ("tier =", "does not parse"),
    ("(tier = 'pooled'", "does not parse"),
    ("tier = 'pooled')", "does not parse"),
    ("and", "does not parse"),
    ("arr > 1 arr < 2", "does not parse"),
]


@pytest.mark.parametrize(("text", "fragment"), HOSTILE)
def test_hostile_condition_is_rejected(text: str, fragment: str | None) -> None:
    if text == "tier = 'x' or 1=1":
        parse_condition(text, COLUMNS)  # a tautology on a real column is legal, and harmless
        return
    with pytest.raises(ExpressionError) as caught:
        parse_condition(text, COLUMNS)
    error = caught.value
    assert isinstance(error, ConfigError)
    message = str(error)
    assert message.startswith("invalid condition "), message
    if fragment is not None:
        assert fragment in message, message
    assert "Traceback" not in message


def test_error_points_at_the_offending_part() -> None:
    with pytest.raises(ExpressionError) as caught:
        parse_condition("tier = 'pooled' and days_since_last_logn >= 14", COLUMNS)
    error = caught.value
    assert error.position == 20
    assert error.expression == "tier = 'pooled' and days_since_last_logn >= 14"
    lines = str(error).splitlines()
    assert lines[1] == "  tier = 'pooled' and days_since_last_logn >= 14"
    assert lines[2] == "  " + " " * 20 + "^"


@pytest.mark.parametrize(("text", "position"), [
    ("1=1; DROP TABLE accounts", 3),
    ("tier = 'pooled' -- x", 16),
    ("pg_sleep(10) > 0", 0),
    ("arr > 0 and tier = (SELECT 1)", 20),
    ("t\u0456er = 'x'", 1),
    ("tier = 'abc", 7),
    ("tier > 5", 7),
])
def test_positions(text: str, position: int) -> None:
    with pytest.raises(ExpressionError) as caught:
        parse_condition(text, COLUMNS)
    assert caught.value.position == position


def test_a_megabyte_is_rejected_before_parsing() -> None:
    text = "arr > 1 or " * 100_000 + "arr > 1"
    with pytest.raises(ExpressionError, match="the limit is 2,000") as caught:
        parse_condition(text, COLUMNS)
    assert len(str(caught.value)) < 400  # the message quotes a prefix, not the whole megabyte


def test_longest_accepted_length() -> None:
    text = "arr > 1"
    padded = text + " " * (MAX_LENGTH - len(text))
    assert parse_condition(padded, COLUMNS).canonical == "arr > 1"
    with pytest.raises(ExpressionError, match="characters long"):
        parse_condition(padded + " ", COLUMNS)


@pytest.mark.parametrize("depth", [26, 100, 999, 10_000])
def test_deep_parentheses_do_not_crash(depth: int) -> None:
    with pytest.raises(ExpressionError, match=r"nested|characters long"):
        parse_condition("(" * depth + "arr > 1" + ")" * depth, COLUMNS)


def test_moderate_parentheses_are_fine() -> None:
    assert parse_condition("(" * 25 + "arr > 1" + ")" * 25, COLUMNS).columns == ("arr",)


@pytest.mark.parametrize("text", [
    "not " * 400 + "is_active",
    "- " * 600 + "arr > 1",
    " + ".join(["arr"] * 300) + " > 1",
    " or ".join(["is_active"] * 150),
    "- " * 60 + "arr > 1",
    "not " * 55 + "is_active",
    "coalesce(" * 20 + "arr" + ", 1)" * 20 + " > 1 or " + " or ".join(["is_active"] * 60),
])
def test_deep_trees_are_rejected_not_crashed(text: str) -> None:
    with pytest.raises(ExpressionError, match="nested"):
        parse_condition(text, COLUMNS)


def test_bad_arguments() -> None:
    with pytest.raises(ExpressionError, match="unknown must be"):
        parse_condition("arr > 1", COLUMNS, unknown="maybe")  # type: ignore[arg-type]
    with pytest.raises(ExpressionError, match="has type 'integer'"):
        parse_condition("arr > 1", {"arr": "integer"})  # type: ignore[dict-item]
    with pytest.raises(ExpressionError, match="must be text"):
        parse_condition(b"arr > 1", COLUMNS)  # type: ignore[arg-type]
