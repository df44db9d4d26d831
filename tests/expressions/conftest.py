"""A hand-built account table with nulls in every column, and the columns conditions may read."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from typing import Any

import ibis
import pytest

from longtail.core.expressions import Columns

COLUMNS: Columns = {
    "days_since_last_login": "number",
    "seat_utilisation": "number",
    "nps_latest": "number",
    "arr": "number",
    "tier": "string",
    "segment": "string",
    "renewal_date": "date",
    "last_seen_at": "timestamp",
    "is_active": "boolean",
}
SCHEMA = {
    "days_since_last_login": "int64",
    "seat_utilisation": "float64",
    "nps_latest": "float64",
    "arr": "float64",
    "tier": "string",
    "segment": "string",
    "renewal_date": "date",
    "last_seen_at": "timestamp",
    "is_active": "boolean",
}


def _row(*values: int | float | str | date | datetime | bool | None) -> dict[str, Any]:
    """One account: days, seats, nps, arr, tier, segment, renewal date, last seen, active."""
    return dict(zip(SCHEMA, values, strict=True))


ROWS: list[dict[str, Any]] = [
    _row(21, 0.45, 30.0, 12_000.0, "pooled", "smb", date(2026, 3, 1), datetime(2026, 1, 10, 9, 0), True),
    _row(3, 0.92, 55.0, 80_000.0, "dedicated", "enterprise", date(2026, 6, 30), datetime(2026, 1, 14, 23, 59), True),
    _row(14, 0.0, None, 6_000.0, "pooled", "smb", None, None, False),
    _row(None, None, None, None, None, None, None, None, None),
    _row(60, 1.5, -20.0, 0.0, "mid", "Mid-Market", date(2026, 1, 15), datetime(2025, 11, 16, 0, 0), None),
    _row(0, 0.5, 0.0, 24_000.5, "", "smb", date(2025, 12, 31), datetime(2026, 1, 15, 0, 0), False),
    _row(14, None, 10.0, None, "pooled's", None, date(2026, 2, 14), datetime(2026, 1, 1, 12, 30), True),
]


def memtable(rows: list[dict[str, Any]]) -> ibis.Table:
    """The rows as a table, with a `_row` column giving their order (backends do not keep it otherwise)."""
    numbered = [{**row, "_row": i} for i, row in enumerate(rows)]
    return ibis.memtable(numbered, schema={**SCHEMA, "_row": "int64"})


@pytest.fixture(scope="session")
def duckdb_con() -> Iterator[ibis.BaseBackend]:
    con = ibis.duckdb.connect()
    yield con
    con.disconnect()


@pytest.fixture(scope="session")
def accounts() -> ibis.Table:
    return memtable(ROWS)
