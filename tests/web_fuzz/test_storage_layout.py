"""The storage layout the cockpit's per-account reads rely on: sorted event parts with bounded row groups,
durable landing and part files, small health row groups, and the account_id indexes of migration 0008."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, inspect

from longtail.analytics import health_store
from longtail.core.health import score_table
from longtail.core.health.loader import ScorecardSet
from longtail.settings import Workspace, init_workspace
from longtail.store.db import MIGRATIONS, make_engine, migrate
from longtail.warehouse import events as events_module
from longtail.warehouse.events import PART_ROW_GROUP_ROWS, Warehouse, events_schema
from tests.health.cards import USAGE

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def event_rows(first: int, n: int, accounts: int) -> pa.Table:
    """`n` events in arrival order: accounts interleaved and times decreasing, the opposite of the part order."""
    return pa.table({
        "event_id": [f"e{first + i}" for i in range(n)],
        "account_id": [f"a{(first + i) * 7919 % accounts:04d}" for i in range(n)],
        "contact_id": [None] * n,
        "event": ["login"] * n,
        "ts": [T0 - timedelta(seconds=first + i) for i in range(n)],
        "value": [None] * n,
        "properties": [None] * n,
    }, schema=events_schema())


def land(warehouse: Warehouse, table: pa.Table) -> None:
    landing = warehouse.open_landing()
    landing.write(table)
    assert landing.close() is not None


def assert_sorted_part(path: Path) -> None:
    part = pq.ParquetFile(path)
    table = part.read(columns=["account_id", "ts"])
    keys = list(zip(table.column("account_id").to_pylist(), table.column("ts").to_pylist(), strict=True))
    assert keys == sorted(keys)
    meta = part.metadata
    account = meta.schema.names.index("account_id")
    ranges = [(meta.row_group(i).column(account).statistics.min, meta.row_group(i).column(account).statistics.max)
              for i in range(meta.num_row_groups)]
    assert all(meta.row_group(i).num_rows <= PART_ROW_GROUP_ROWS for i in range(meta.num_row_groups))
    # Sorted, so row groups overlap at most at a boundary account: a one-account filter reads one or two.
    assert all(ranges[i][1] <= ranges[i + 1][0] for i in range(len(ranges) - 1))


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return init_workspace(tmp_path / "ws")


def test_a_first_load_of_unique_events_is_written_sorted_with_bounded_row_groups(ws: Workspace) -> None:
    warehouse = Warehouse(ws.warehouse_url, ws.state_dir)
    rows = PART_ROW_GROUP_ROWS + 5_000  # more than one row group
    land(warehouse, event_rows(0, rows // 2, 500))
    land(warehouse, event_rows(rows // 2, rows - rows // 2, 500))
    done = warehouse.compact()
    assert (done.rows, done.inserted) == (rows, rows)
    [part] = warehouse.parts()
    assert pq.ParquetFile(part).metadata.num_row_groups >= 2
    assert_sorted_part(part)
    assert warehouse.landed() == []


def test_later_compactions_and_duplicates_also_write_sorted_parts(ws: Workspace) -> None:
    warehouse = Warehouse(ws.warehouse_url, ws.state_dir)
    land(warehouse, event_rows(0, 3_000, 50))
    warehouse.compact()
    land(warehouse, event_rows(2_000, 3_000, 50))  # 1,000 already stored
    land(warehouse, event_rows(4_000, 500, 50))  # repeated within the landed files
    done = warehouse.compact()
    assert done.inserted == 2_000
    assert warehouse.count() == 5_000
    for part in warehouse.parts():
        assert_sorted_part(part)


def test_landing_and_parts_are_flushed_before_and_after_their_rename(ws: Workspace,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    journal: list[tuple[str, str]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        journal.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def replace(src: str | Path, dst: str | Path) -> None:
        journal.append(("replace", str(src)))
        real_replace(src, dst)

    monkeypatch.setattr(events_module.os, "fsync", fsync)
    monkeypatch.setattr(events_module.os, "replace", replace)
    warehouse = Warehouse(ws.warehouse_url, ws.state_dir)
    landing = warehouse.open_landing()
    landing.write(event_rows(0, 10, 3))
    final = landing.close()
    assert final is not None
    partial = str(landing.partial)
    assert journal == [("fsync", partial), ("replace", partial), ("fsync", str(final.parent))]
    journal.clear()
    warehouse.compact()
    [part] = warehouse.parts()
    kinds = [kind for kind, _ in journal]
    assert kinds == ["fsync", "replace", "fsync"]
    assert journal[0][1] == journal[1][1] and journal[2][1] == str(part.parent)


def test_health_days_are_stored_in_small_row_groups(ws: Workspace) -> None:
    day = date(2026, 2, 1)
    n = health_store.ROW_GROUP_ROWS * 2 + 10
    features = pa.table({
        "account_id": [f"acc-{i:05d}" for i in range(n)], "as_of": [day] * n,
        "active_users_7d": pa.array([float(i % 20) for i in range(n)], pa.float64()),
        "days_since_last_activity": [3.0] * n, "nps_latest": pa.array([None] * n, pa.float64()),
        "tickets_high_priority_open": [0.0] * n,
    })
    results = score_table(features, ScorecardSet(scorecards=(USAGE,), source="test"), {}, as_of=day)
    path = health_store.write_results(ws, day, results)
    meta = pq.ParquetFile(path).metadata
    assert meta.num_row_groups == 3
    assert max(meta.row_group(i).num_rows for i in range(3)) == health_store.ROW_GROUP_ROWS
    row = health_store.read_account(ws, day, f"acc-{n - 1:05d}")
    assert row is not None and row["account_id"] == f"acc-{n - 1:05d}"
    assert health_store.read_account(ws, day, "acc-missing") is None


ACCOUNT_INDEXES = {"segment_membership": "ix_segment_membership_account_id", "outbox": "ix_outbox_account_id",
                   "engagement_events": "ix_engagement_events_account_id"}


def index_columns(engine: Engine, table: str) -> dict[str, list[str]]:
    return {str(i["name"]): [str(c) for c in i["column_names"]] for i in inspect(engine).get_indexes(table)}


def test_migration_0008_indexes_the_account_page_filters_and_downgrades(ws: Workspace) -> None:
    engine = make_engine(ws.database_url)
    try:
        migrate(engine)
        for table, name in ACCOUNT_INDEXES.items():
            assert index_columns(engine, table).get(name) == ["account_id"], table
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.downgrade(config, "0007")
        for table, name in ACCOUNT_INDEXES.items():
            assert name not in index_columns(engine, table)
        migrate(engine)  # and back up again: the upgrade is repeatable
        assert all(name in index_columns(engine, table) for table, name in ACCOUNT_INDEXES.items())
    finally:
        engine.dispose()
