"""Pointing a workspace's warehouse at PostgreSQL or Spark gives the same features as DuckDB."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from pathlib import Path

import ibis
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy.engine import make_url

from longtail.analytics.features import features_as_of
from longtail.core.contract import LOAD_ORDER
from longtail.errors import ConfigError
from longtail.ingest.loader import load_files
from longtail.settings import Workspace, open_workspace
from longtail.warehouse.events import Warehouse
from tests.conftest import NOW

AS_OF = date(2025, 6, 30)


def _loaded(workspace: Workspace, sample_dir: Callable[[str], Path]) -> Workspace:
    folder = sample_dir("csv")
    for kind in LOAD_ORDER:
        load_files(workspace, kind, [folder / f"{kind}.csv"], now=NOW)
    return workspace


def _rows(table: pa.Table) -> list[dict[str, object]]:
    return sorted(table.to_pylist(), key=lambda r: str(r["account_id"]))


@pytest.mark.postgres
def test_postgres_warehouse_with_mapped_tables(workspace: Workspace, sample_dir: Callable[[str], Path],
                                               postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    ws = _loaded(workspace, sample_dir)
    expected = features_as_of(ws, AS_OF)
    parts = make_url(postgres_url)
    pg_url = f"postgres://{parts.username}@{parts.host}:{parts.port}/{parts.database}"
    con = ibis.connect(pg_url)
    names = {}
    for kind in ("accounts", "subscriptions", "contacts", "tickets", "surveys"):
        names[kind] = f"lt_wh_{kind}"
        con.create_table(names[kind], pq.read_table(ws.tables_dir / f"{kind}.parquet"), overwrite=True)
    events = pa.concat_tables(pq.read_table(p) for p in Warehouse(ws.warehouse_url, ws.state_dir).parts())
    names["events"] = "lt_wh_events"
    con.create_table("lt_wh_events", events, overwrite=True)
    con.disconnect()
    monkeypatch.setenv("LONGTAIL_WAREHOUSE_URL", pg_url)
    monkeypatch.setenv("LONGTAIL_WAREHOUSE_TABLES", json.dumps(names))
    on_pg = features_as_of(open_workspace(ws.root), AS_OF)
    assert on_pg.num_rows == expected.num_rows == 3
    assert _rows(on_pg) == _rows(expected)


def test_unknown_kind_in_warehouse_tables(workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LONGTAIL_WAREHOUSE_TABLES", json.dumps({"widgets": "x"}))
    with pytest.raises(ConfigError, match="widgets"):
        features_as_of(open_workspace(workspace.root), AS_OF)


def test_missing_warehouse_table_is_a_clear_error(workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LONGTAIL_WAREHOUSE_TABLES", json.dumps({"events": "no_such_schema.no_such_table"}))
    with pytest.raises(ConfigError, match="no_such_table"):
        features_as_of(open_workspace(workspace.root), AS_OF)
