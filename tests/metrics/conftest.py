"""Helpers for the retention tests: run an Ibis expression on a throwaway in-memory DuckDB."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ibis
import ibis.expr.types as ir
import pytest


@pytest.fixture(scope="session")
def run() -> Callable[[ir.Table], list[dict[str, Any]]]:
    con = ibis.duckdb.connect()

    def execute(expr: ir.Table) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = con.to_pyarrow(expr).to_pylist()
        return rows

    return execute
