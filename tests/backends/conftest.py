"""One Ibis connection per backend: DuckDB (embedded), PostgreSQL (server), PySpark (local mode)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import date
from typing import Any

import ibis
import ibis.expr.types as ir
import pytest
from sqlalchemy.engine import make_url

from longtail.sim import SimConfig, generate

Runner = Callable[[ir.Table], list[dict[str, Any]]]
BACKENDS = ("duckdb", "postgres", "pyspark")


def _postgres(url: str) -> ibis.BaseBackend:
    parts = make_url(url)
    return ibis.postgres.connect(host=parts.host, port=parts.port, user=parts.username,
                                 password=parts.password, database=parts.database)


def _pyspark() -> Iterator[ibis.BaseBackend]:
    from pyspark.sql import SparkSession

    spark = (
        SparkSession.builder.master("local[1]")
        .appName("longtail-parity")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", "2")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    yield ibis.pyspark.connect(spark)
    spark.stop()


@pytest.fixture(scope="session")
def connections(postgres_url: str) -> Iterator[dict[str, ibis.BaseBackend]]:
    os.environ.setdefault("PYSPARK_PYTHON", os.sys.executable)  # type: ignore[attr-defined]
    spark = _pyspark()
    cons = {"duckdb": ibis.duckdb.connect(), "postgres": _postgres(postgres_url), "pyspark": next(spark)}
    yield cons
    next(spark, None)


def runner(con: ibis.BaseBackend) -> Runner:
    def run(expr: ir.Table) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = con.to_pyarrow(expr).to_pylist()
        return rows

    return run


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A small simulated world (Parquet files) shared by the parity tests."""
    import pyarrow.parquet as pq

    out = tmp_path_factory.mktemp("world")
    generate(SimConfig(accounts=150, days=240, start=date(2025, 1, 1), seed=11), out, "parquet")
    subs = pq.read_table(out / "subscriptions.parquet").to_pylist()
    accounts = pq.read_table(out / "accounts.parquet")
    return {"dir": out, "subscriptions": subs, "accounts": accounts}
