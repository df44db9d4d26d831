"""The operational store on a real PostgreSQL gives the same results as SQLite; migrations keep rows."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, insert, inspect, select

from longtail.core.contract import LOAD_ORDER
from longtail.ingest.loader import load_files
from longtail.settings import Workspace, open_workspace
from longtail.store.db import current_revision, head_revision, make_engine, migrate
from longtail.store.entities import EntityStore
from longtail.store.tables import ENTITY_TABLES, accounts
from tests.conftest import NOW, SAMPLE

KINDS = [k for k in LOAD_ORDER if k != "events"]


def _canonical(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for row in rows:
        clean = {}
        for key, value in row.items():
            is_aware = isinstance(value, datetime) and value.tzinfo is not None
            clean[key] = value.astimezone(UTC).replace(tzinfo=None) if is_aware else value
        out.append(clean)
    return out


@pytest.mark.postgres
def test_postgres_and_sqlite_hold_the_same_rows(tmp_path: Path, sample_dir: Callable[[str], Path],
                                                 pg_engine: Engine, postgres_url: str,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from longtail.settings import init_workspace

    folder = sample_dir("csv")
    lite = init_workspace(tmp_path / "lite")
    monkeypatch.setenv("LONGTAIL_DATABASE_URL", postgres_url)
    init_workspace(tmp_path / "pg")
    pg = open_workspace(tmp_path / "pg")
    assert pg.database_url == postgres_url
    monkeypatch.delenv("LONGTAIL_DATABASE_URL")
    results: dict[str, list[tuple[int, ...]]] = {"lite": [], "pg": []}
    for name, ws in (("lite", lite), ("pg", pg)):
        for _ in range(2):  # the second round must be all "unchanged" on both
            for kind in KINDS:
                r = load_files(ws, kind, [folder / f"{kind}.csv"], now=NOW)
                results[name].append((r.read, r.loaded, r.updated, r.unchanged, r.rejected))
    assert results["lite"] == results["pg"]
    lite_store, pg_store = EntityStore(make_engine(lite.database_url)), EntityStore(pg_engine)
    for kind in KINDS:
        assert _canonical(lite_store.rows(kind)) == _canonical(pg_store.rows(kind)), kind
        assert pg_store.count(kind) == len(SAMPLE[kind])
    assert lite_store.attribute_types("accounts") == pg_store.attribute_types("accounts")


def _upgrade_keeps_rows(engine: Engine) -> None:
    migrate(engine, "0001")
    assert current_revision(engine) == "0001"
    assert "load_runs" not in inspect(engine).get_table_names()
    with engine.begin() as conn:
        conn.execute(insert(accounts), [{"account_id": f"a{i}", "name": f"n{i}", "row_hash": "h"} for i in range(50)])
    migrate(engine)
    assert current_revision(engine) == head_revision()
    assert "load_runs" in inspect(engine).get_table_names()
    with engine.connect() as conn:
        names = conn.execute(select(accounts.c.name).order_by(accounts.c.account_id)).scalars().all()
    assert sorted(names) == sorted(f"n{i}" for i in range(50))
    migrate(engine)  # idempotent
    assert current_revision(engine) == head_revision()


def test_migrations_upgrade_sqlite_without_losing_rows(tmp_path: Path) -> None:
    _upgrade_keeps_rows(make_engine(f"sqlite:///{tmp_path / 'old.db'}"))


@pytest.mark.postgres
def test_migrations_upgrade_postgres_without_losing_rows(pg_engine: Engine) -> None:
    _upgrade_keeps_rows(pg_engine)


def test_migrations_match_the_table_definitions(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    migrate(engine)
    inspector = inspect(engine)
    for table in [*ENTITY_TABLES.values()]:
        migrated = {c["name"] for c in inspector.get_columns(table.name)}
        assert migrated == {c.name for c in table.columns}, table.name


def test_workspace_fixture_is_sqlite(workspace: Workspace) -> None:
    assert workspace.database_url.startswith("sqlite:///")
    assert workspace.database_url.endswith(".longtail/state.db")
