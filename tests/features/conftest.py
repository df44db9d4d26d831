"""Hand-built tiny tables (see test_feature_table.py for the expected values) and helpers."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import ibis
import pyarrow as pa
import pytest

from longtail.core.features import AnalyticTables, FeatureSet, feature_table
from longtail.warehouse.entities import snapshot_schema
from longtail.warehouse.events import events_schema

AS_OF = date(2025, 3, 31)


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def d(text: str) -> date:
    return date.fromisoformat(text)


def arrow(kind: str, rows: list[dict[str, Any]]) -> pa.Table:
    schema = events_schema() if kind == "events" else snapshot_schema(kind)
    return pa.Table.from_pylist([{name: row.get(name) for name in schema.names} for row in rows], schema=schema)


ACCOUNTS = [
    {"account_id": "a1", "created_at": ts("2025-01-01T00:00:00"),
     "attributes": json.dumps({"goal": 40, "score": "7.5", "segment": "smb"})},
    {"account_id": "a2", "created_at": ts("2025-03-31T23:59:59")},
    {"account_id": "a3", "created_at": ts("2025-04-01T00:00:00")},  # created after the as-of date
    {"account_id": "a4", "created_at": None},
]
CONTACTS = [
    {"contact_id": "c1", "account_id": "a1", "role": "champion"},
    {"contact_id": "c2", "account_id": "a1", "role": "admin"},
    {"contact_id": "c3", "account_id": "a1", "role": "user"},
    {"contact_id": "c4", "account_id": "a2", "role": "user"},
]
EVENTS = [
    {"event_id": "e1", "account_id": "a1", "contact_id": "c1", "event": "login", "ts": ts("2025-03-31T23:59:59")},
    {"event_id": "e2", "account_id": "a1", "contact_id": "c1", "event": "login", "ts": ts("2025-04-01T00:00:00")},
    {"event_id": "e3", "account_id": "a1", "contact_id": "c3", "event": "project_created",
     "ts": ts("2025-03-25T00:00:00")},
    {"event_id": "e4", "account_id": "a1", "contact_id": "c3", "event": "document_edited",
     "ts": ts("2025-03-24T23:59:59")},
    {"event_id": "e5", "account_id": "a1", "contact_id": "c2", "event": "settings_updated",
     "ts": ts("2025-03-04T00:00:00")},
    {"event_id": "e6", "account_id": "a1", "contact_id": "c2", "event": "report_shared",
     "ts": ts("2025-03-03T23:59:59")},
    {"event_id": "e7", "account_id": "a1", "contact_id": None, "event": "license_usage",
     "ts": ts("2025-03-30T00:00:00"), "value": 12.0},
    {"event_id": "e8", "account_id": "a1", "contact_id": "c1", "event": "integration_connected",
     "ts": ts("2025-01-10T12:00:00")},
    {"event_id": "e9", "account_id": "a1", "contact_id": "c1", "event": "login", "ts": ts("2024-12-31T23:59:59")},
    {"event_id": "e10", "account_id": "a1", "contact_id": "c1", "event": "integration_connected",
     "ts": ts("2025-02-10T00:00:00")},
]
SUBSCRIPTIONS = [
    {"subscription_id": "s1", "account_id": "a1", "start_date": d("2025-01-01"), "end_date": d("2025-06-01"),
     "mrr": 100.0, "arr": 1200.0, "quantity": 10},
    {"subscription_id": "s2", "account_id": "a1", "start_date": d("2025-03-01"), "end_date": d("2025-05-01"),
     "mrr": 50.0, "arr": 600.0, "quantity": 5},
    {"subscription_id": "s3", "account_id": "a1", "start_date": d("2024-01-01"), "end_date": d("2025-03-31"),
     "mrr": 999.0, "arr": 11988.0, "quantity": 100},  # ended: end_date is exclusive
    {"subscription_id": "s4", "account_id": "a1", "start_date": d("2025-04-01"), "end_date": None,
     "mrr": 999.0, "arr": 11988.0, "quantity": 100},  # starts after the as-of date
    {"subscription_id": "s5", "account_id": "a2", "start_date": d("2025-03-31"), "end_date": None,
     "mrr": None, "arr": 2400.0, "quantity": None},
]
TICKETS = [
    {"ticket_id": "t1", "account_id": "a1", "opened_at": ts("2025-03-01T00:00:00"), "closed_at": None,
     "priority": "high"},
    {"ticket_id": "t2", "account_id": "a1", "opened_at": ts("2025-03-02T00:00:00"),
     "closed_at": ts("2025-04-01T00:00:00"), "priority": "Urgent"},
    {"ticket_id": "t3", "account_id": "a1", "opened_at": ts("2025-03-10T00:00:00"),
     "closed_at": ts("2025-03-11T00:00:00"), "priority": "normal"},
    {"ticket_id": "t4", "account_id": "a1", "opened_at": ts("2024-12-01T00:00:00"),
     "closed_at": ts("2025-01-02T00:00:00"), "priority": "low"},
    {"ticket_id": "t5", "account_id": "a1", "opened_at": ts("2024-10-01T00:00:00"),
     "closed_at": ts("2024-12-31T23:00:00"), "priority": "high"},
    {"ticket_id": "t6", "account_id": "a1", "opened_at": ts("2025-04-01T00:00:00"), "closed_at": None,
     "priority": "urgent"},
]
SURVEYS = [
    {"response_id": "r1", "account_id": "a1", "ts": ts("2025-01-15T10:00:00"), "kind": "nps", "score": 6.0},
    {"response_id": "r2", "account_id": "a1", "ts": ts("2025-03-20T10:00:00"), "kind": "nps", "score": 9.0},
    {"response_id": "r3", "account_id": "a1", "ts": ts("2025-04-01T00:00:00"), "kind": "nps", "score": 2.0},
    {"response_id": "r4", "account_id": "a1", "ts": ts("2025-03-01T10:00:00"), "kind": "csat", "score": 4.0},
    {"response_id": "r5", "account_id": "a1", "ts": ts("2025-03-30T10:00:00"), "kind": "ces", "score": 3.0},
    {"response_id": "r6", "account_id": "a2", "ts": ts("2025-02-01T10:00:00"), "kind": "nps", "score": 10.0},
]


def make_tables(events: list[dict[str, Any]] | None = None) -> AnalyticTables:
    return AnalyticTables(
        events=ibis.memtable(arrow("events", EVENTS if events is None else events)),
        accounts=ibis.memtable(arrow("accounts", ACCOUNTS)),
        subscriptions=ibis.memtable(arrow("subscriptions", SUBSCRIPTIONS)),
        contacts=ibis.memtable(arrow("contacts", CONTACTS)),
        tickets=ibis.memtable(arrow("tickets", TICKETS)),
        surveys=ibis.memtable(arrow("surveys", SURVEYS)),
    )


@pytest.fixture(scope="session")
def con() -> ibis.BaseBackend:
    return ibis.duckdb.connect()


Compute = Callable[..., dict[str, dict[str, Any]]]


@pytest.fixture
def compute(con: ibis.BaseBackend) -> Compute:
    """Run feature_table and return {account_id: row}."""

    def run(
        tables: AnalyticTables, defs: FeatureSet, as_of: date = AS_OF, tz: str = "UTC"
    ) -> dict[str, dict[str, Any]]:
        rows = con.to_pyarrow(feature_table(tables, as_of, defs, tz=tz)).to_pylist()
        return {row["account_id"]: row for row in rows}

    return run
