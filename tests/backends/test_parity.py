"""The same definitions give identical results on DuckDB, PostgreSQL and PySpark."""

from __future__ import annotations

import math
from datetime import date
from pathlib import Path
from typing import Any

import ibis
import pytest

from longtail.core.retention import monthly_retention, retention, subscriptions_table
from tests.backends.conftest import BACKENDS, runner

pytestmark = [pytest.mark.postgres, pytest.mark.spark, pytest.mark.slow]


def _same(a: list[dict[str, Any]], b: list[dict[str, Any]], key: str) -> None:
    assert len(a) == len(b)
    for left, right in zip(sorted(a, key=lambda r: str(r[key])), sorted(b, key=lambda r: str(r[key])), strict=True):
        assert left.keys() == right.keys()
        for name, value in left.items():
            other = right[name]
            if isinstance(value, float) or isinstance(other, float):
                both_null = value is None and other is None
                assert both_null or math.isclose(float(value), float(other), rel_tol=1e-9, abs_tol=1e-9), name
            else:
                assert value == other, (name, value, other)


def test_retention_metrics_agree_on_every_backend(world: dict[str, Any],
                                                   connections: dict[str, ibis.BaseBackend]) -> None:
    subs = subscriptions_table(world["subscriptions"])
    exprs = {
        "span": retention(subs, date(2025, 2, 1), date(2025, 8, 1)),
        "monthly": monthly_retention(subs, date(2025, 1, 15), date(2025, 8, 15)),
    }
    for name, expr in exprs.items():
        results = {b: runner(connections[b])(expr) for b in BACKENDS}
        assert results["duckdb"], name
        assert any(r["n_churned"] for r in results["duckdb"]), "the world must contain churn to be a real check"
        for backend in ("postgres", "pyspark"):
            _same(results["duckdb"], results[backend], "period_start")


def test_grouped_retention_agrees(world: dict[str, Any], connections: dict[str, ibis.BaseBackend]) -> None:
    subs = subscriptions_table(world["subscriptions"])
    accounts = ibis.memtable(world["accounts"].select(["account_id", "industry"]))
    expr = retention(subs, date(2025, 1, 1), date(2025, 9, 1), accounts=accounts, by="industry")
    results = {b: runner(connections[b])(expr) for b in BACKENDS}
    assert len(results["duckdb"]) > 1
    for backend in ("postgres", "pyspark"):
        _same(results["duckdb"], results[backend], "industry")


def test_world_dir_exists(world: dict[str, Any]) -> None:
    assert Path(world["dir"], "events.parquet").is_file()
