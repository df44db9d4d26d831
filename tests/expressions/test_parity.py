"""Every valid condition gives the same answer in the warehouse (Ibis on DuckDB, PostgreSQL) and in Python."""

from __future__ import annotations

from typing import Any

import ibis
import pytest

from longtail.core.expressions import decide, evaluate, parse_condition, to_ibis
from tests.expressions.conftest import COLUMNS, ROWS, memtable

VALID = [
    "days_since_last_login >= 14 and tier = 'pooled'",
    "DAYS_SINCE_LAST_LOGIN >= 14 AND TIER = 'pooled'",
    "days_since_last_login > 14 or nps_latest < 20",
    "not (days_since_last_login < 14)",
    "nps_latest != 30",
    "nps_latest <> 30",
    "nps_latest <= 30",
    "seat_utilisation = 0.5",
    "nps_latest is null",
    "nps_latest is not null and tier is not null",
    "tier in ('pooled', 'mid')",
    "tier not in ('pooled', 'mid')",
    "days_since_last_login in (3, 14, -1)",
    "days_since_last_login between 3 and 21",
    "days_since_last_login not between 3 and 21",
    "tier like 'pool%'",
    "tier not like '_ed%'",
    "segment like '%-%'",
    "seat_utilisation * 100 < 50",
    "arr / 12 > 1000",
    "arr / days_since_last_login > 1000",
    "days_since_last_login - 7 >= -4 + 3",
    "-nps_latest > 0",
    "abs(nps_latest) >= 20",
    "coalesce(nps_latest, 0) < 20",
    "coalesce(tier, 'none') = 'none'",
    "least(days_since_last_login, 30) = 30",
    "greatest(seat_utilisation, 0.6) > 0.6",
    "lower(segment) = 'mid-market'",
    "upper(tier) = 'POOLED'",
    "length(tier) > 6",
    "length(tier) = 0",
    "is_active",
    "not is_active",
    "is_active = false",
    "is_active = true or nps_latest > 40",
    "renewal_date < DATE '2026-03-31'",
    "renewal_date between DATE '2026-01-01' and DATE '2026-03-31'",
    "last_seen_at >= TIMESTAMP '2026-01-10 09:00:00'",
    "days_between(renewal_date, DATE '2026-04-01') between 0 and 90",
    "days_between(last_seen_at, DATE '2026-01-15') >= 5",
    "days_between(last_seen_at, renewal_date) > 30",
    "tier = 'pooled''s'",
    "(days_since_last_login >= 14 or seat_utilisation < 0.3) and (tier = 'pooled' or segment = 'smb')",
    "nps_latest / 0 > 1 or tier = 'mid'",
    "coalesce(nps_latest, seat_utilisation * 100, -1) between -1 and 45",
    "not (nps_latest > 20 and nps_latest < 60)",
]


def warehouse(con: ibis.BaseBackend, table: ibis.Table, text: str, unknown: str = "false") -> list[Any]:
    condition = parse_condition(text, COLUMNS, unknown=unknown)  # type: ignore[arg-type]
    query = table.mutate(_result=to_ibis(condition, table)).order_by("_row").select("_result")
    rows = con.to_pyarrow(query).to_pylist()
    return [row["_result"] for row in rows]


def in_python(text: str, unknown: str = "false") -> list[bool]:
    condition = parse_condition(text, COLUMNS, unknown=unknown)  # type: ignore[arg-type]
    return [decide(condition, row).result for row in ROWS]


@pytest.mark.parametrize("text", VALID)
@pytest.mark.parametrize("unknown", ["false", "true"])
def test_duckdb_and_python_agree(duckdb_con: ibis.BaseBackend, text: str, unknown: str) -> None:
    assert warehouse(duckdb_con, memtable(ROWS), text, unknown) == in_python(text, unknown)


def test_the_table_exercises_unknown() -> None:
    """The hand-built rows make some conditions unknown, so the policy is really tested above."""
    unknown_somewhere = [t for t in VALID if any(evaluate(parse_condition(t, COLUMNS), r) is None for r in ROWS)]
    assert len(unknown_somewhere) > len(VALID) // 2


def test_unknown_policy_decides_nulls(duckdb_con: ibis.BaseBackend) -> None:
    table = memtable(ROWS)
    out = warehouse(duckdb_con, table, "nps_latest < 20", "false")
    into = warehouse(duckdb_con, table, "nps_latest < 20", "true")
    raw = [evaluate(parse_condition("nps_latest < 20", COLUMNS), row) for row in ROWS]
    assert raw == [False, False, None, None, True, True, True]
    assert out == [False, False, False, False, True, True, True]
    assert into == [False, False, True, True, True, True, True]


@pytest.mark.parametrize("dialect", ["duckdb", "postgres"])
def test_every_condition_compiles_for_each_backend(dialect: str) -> None:
    table = memtable(ROWS)
    for text in VALID:
        sql = ibis.to_sql(table.filter(to_ibis(parse_condition(text, COLUMNS), table)), dialect=dialect)
        assert "WHERE" in sql


@pytest.fixture(scope="module")
def postgres_con(postgres_url: str) -> ibis.BaseBackend:
    from tests.backends.conftest import _postgres

    return _postgres(postgres_url)


@pytest.mark.postgres
@pytest.mark.parametrize("text", VALID)
def test_postgres_and_python_agree(postgres_con: ibis.BaseBackend, text: str) -> None:
    name = "longtail_expressions_rows"
    table = postgres_con.create_table(name, memtable(ROWS), overwrite=True)
    assert warehouse(postgres_con, table, text) == in_python(text)
