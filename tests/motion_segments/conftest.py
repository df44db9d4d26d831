"""A DuckDB connection and small feature tables for the segment, tier and signal tests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import ibis
import pytest

from longtail.core.expressions import Columns

COLUMNS: Columns = {
    "events_28d": "number",
    "seats": "number",
    "arr": "number",
    "nps_latest": "number",
    "days_to_renewal": "number",
    "days_since_last_activity": "number",
}
SCHEMA = {"account_id": "string", **{name: "float64" for name in COLUMNS}}


def features(rows: list[dict[str, Any]]) -> ibis.Table:
    """A feature table: every column of `SCHEMA`, missing keys are null."""
    return ibis.memtable([{c: row.get(c) for c in SCHEMA} for row in rows], schema=SCHEMA)


@pytest.fixture(scope="session")
def duckdb_con() -> Iterator[ibis.BaseBackend]:
    con = ibis.duckdb.connect()
    yield con
    con.disconnect()


@pytest.fixture(scope="module")
def postgres_con(postgres_url: str) -> ibis.BaseBackend:
    from tests.backends.conftest import _postgres

    return _postgres(postgres_url)
