"""Shared fixtures: a fresh workspace, sample files of every kind, and the PostgreSQL URL."""

from __future__ import annotations

import csv
import gzip
import json
import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import settings
from sqlalchemy import Engine, text

from longtail.settings import Workspace, init_workspace
from longtail.store.db import make_engine

# No wall-clock deadlines: these machines are shared and noisy.
settings.register_profile("longtail", deadline=None, max_examples=60)
settings.load_profile("longtail")

NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)

SAMPLE: dict[str, list[dict[str, Any]]] = {
    "team": [
        {"member_id": "m1", "name": "Ana Ops", "email": "ana@vendor.test", "role": "ops", "capacity": "0",
         "skills": "", "tiers": ""},
        {"member_id": "m2", "name": "Ben Csm", "email": "ben@vendor.test", "role": "csm", "capacity": "300",
         "skills": "onboarding;renewals", "tiers": "pooled;mid"},
    ],
    "accounts": [
        {"account_id": "a1", "name": "Acme", "created_at": "2025-01-10T09:00:00Z", "industry": "software",
         "country": "US", "employees": "120", "parent_account_id": "", "segment": "smb", "nps_goal": "40"},
        {"account_id": "a2", "name": "Beta, Inc.", "created_at": "2025-02-01", "industry": "retail",
         "country": "DE", "employees": "15", "parent_account_id": "a1", "segment": "mid", "nps_goal": "35.5"},
        {"account_id": "a3", "name": "Gamma \"G\" Ltd\nSecond line", "created_at": "2025-03-05 08:30:00",
         "industry": "", "country": "FR", "employees": "", "parent_account_id": "", "segment": "", "nps_goal": ""},
    ],
    "contacts": [
        {"contact_id": "c1", "account_id": "a1", "email": "ceo@acme.test", "name": "Cleo", "role": "champion",
         "title": "COO", "timezone": "America/New_York", "created_at": "2025-01-10T09:00:00Z"},
        {"contact_id": "c2", "account_id": "a2", "email": "it@beta.test", "name": "Dan", "role": "admin",
         "title": "IT", "timezone": "Europe/Berlin", "created_at": "2025-02-01T10:00:00+01:00"},
    ],
    "subscriptions": [
        {"subscription_id": "s1", "account_id": "a1", "plan": "pro", "start_date": "2025-01-10",
         "end_date": "2026-01-10", "mrr": "1000", "arr": "", "quantity": "20", "currency": "usd"},
        {"subscription_id": "", "account_id": "a2", "plan": "team", "start_date": "2025-02-01",
         "end_date": "", "mrr": "", "arr": "6000", "quantity": "5", "currency": ""},
    ],
    "tickets": [
        {"ticket_id": "t1", "account_id": "a1", "opened_at": "2025-03-01T10:00:00Z",
         "closed_at": "2025-03-02T10:00:00Z", "priority": "high", "status": "solved", "csat": "4"},
        {"ticket_id": "t2", "account_id": "a2", "opened_at": "2025-04-01T10:00:00Z", "closed_at": "",
         "priority": "normal", "status": "open", "csat": ""},
    ],
    "surveys": [
        {"response_id": "r1", "account_id": "a1", "contact_id": "c1", "ts": "2025-05-01T10:00:00Z",
         "kind": "nps", "score": "9", "comment": "Great, \"really\""},
        {"response_id": "r2", "account_id": "a2", "contact_id": "", "ts": "2025-05-02T10:00:00Z",
         "kind": "churn_reason", "score": "", "comment": "budget"},
    ],
    "events": [
        {"account_id": "a1", "contact_id": "c1", "event": "login", "ts": "2025-06-01T10:00:00Z", "value": "",
         "properties": "", "event_id": "e1"},
        {"account_id": "a1", "contact_id": "c1", "event": "report_shared", "ts": "2025-06-01T11:00:00Z",
         "value": "3", "properties": "{\"report\": \"weekly\"}", "event_id": "e2"},
        {"account_id": "a2", "contact_id": "", "event": "login", "ts": "2025-06-02T10:00:00Z", "value": "",
         "properties": "", "event_id": ""},
    ],
}


def write_rows(path: Path, rows: list[dict[str, Any]]) -> Path:
    """Write rows as CSV, JSONL or Parquet (by suffix, optionally .gz); empty strings mean null."""
    name = path.name[:-3] if path.name.endswith(".gz") else path.name
    if name.endswith(".parquet"):
        columns = list(rows[0])
        data = {c: pa.array([r.get(c) or None for r in rows], pa.string()) for c in columns}
        pq.write_table(pa.table(data), path)
        return path
    opener: Callable[..., Any] = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "wt", encoding="utf-8", newline="") as fh:
        if name.endswith(".csv"):
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        else:
            for row in rows:
                fh.write(json.dumps({k: v for k, v in row.items() if v != ""}) + "\n")
    return path


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    return init_workspace(tmp_path / "ws")


@pytest.fixture
def sample_dir(tmp_path: Path) -> Callable[[str], Path]:
    """Write every sample kind in one format ('csv', 'jsonl', 'parquet', 'csv.gz') into a folder."""

    def make(fmt: str) -> Path:
        folder = tmp_path / f"sample-{fmt}"
        folder.mkdir(exist_ok=True)
        for kind, rows in SAMPLE.items():
            write_rows(folder / f"{kind}.{fmt}", rows)
        return folder

    return make


@pytest.fixture(scope="session")
def postgres_url() -> str:
    url = os.environ.get("LONGTAIL_TEST_POSTGRES_URL")
    if not url:
        if os.environ.get("LONGTAIL_REQUIRE_SERVICES"):
            pytest.fail("LONGTAIL_TEST_POSTGRES_URL is not set although services are required")
        pytest.skip("no PostgreSQL: run through `make test` (scripts/with-services.sh)")
    return url


@pytest.fixture
def pg_engine(postgres_url: str) -> Iterator[Engine]:
    """An engine on the test PostgreSQL with its public schema emptied (no tables: the test migrates, or a
    folder's conftest overrides this fixture with a migrated one)."""
    engine = make_engine(postgres_url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    yield engine
    engine.dispose()
