"""Open the warehouse of a workspace and expose its tables as `AnalyticTables`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import ibis
import ibis.expr.types as ir

from longtail.core.features import FEATURES_FILE, AnalyticTables, FeatureSet, load_feature_defs
from longtail.errors import ConfigError
from longtail.settings import Workspace
from longtail.store.db import make_engine, migrate
from longtail.store.entities import EntityStore
from longtail.warehouse.entities import entity_table, write_snapshot
from longtail.warehouse.events import Warehouse


def ensure_snapshots(ws: Workspace) -> None:
    """Write entity snapshots missing from the warehouse (a workspace loaded before they existed)."""
    missing = [k for k in SNAPSHOT_KINDS if not (ws.tables_dir / f"{k}.parquet").is_file()]
    if not missing:
        return
    engine = make_engine(ws.database_url)
    migrate(engine)
    store = EntityStore(engine)
    for kind in missing:
        write_snapshot(store, kind, ws.tables_dir)

SNAPSHOT_KINDS = ("accounts", "subscriptions", "contacts", "tickets", "surveys", "team")


def warehouse_table(con: ibis.BaseBackend, name: str) -> ir.Table:
    """A table that already lives in the warehouse: `table` or `schema.table`."""
    schema, _, table = name.rpartition(".")
    try:
        return con.table(table, database=schema or None)
    except Exception as exc:  # backends raise their own error types for a missing table
        raise ConfigError(f"warehouse table {name!r} cannot be read on {con.name}: {exc}") from exc


def analytic_tables(ws: Workspace, con: ibis.BaseBackend) -> AnalyticTables:
    """The workspace's events and entities as Ibis tables on `con`.

    Each kind comes from `[warehouse_tables]` when configured (data already in the warehouse),
    otherwise from the local Parquet files the loader wrote.
    """
    mapped = ws.settings.warehouse_tables
    unknown = sorted(set(mapped) - {"events", *SNAPSHOT_KINDS})
    if unknown:
        raise ConfigError(f"[warehouse_tables] names unknown kinds: {', '.join(unknown)}")
    if any(kind not in mapped for kind in SNAPSHOT_KINDS):
        ensure_snapshots(ws)

    def table(kind: str) -> ir.Table:
        if kind in mapped:
            return warehouse_table(con, mapped[kind])
        if kind == "events":
            return Warehouse(ws.warehouse_url, ws.state_dir).events(con)
        return entity_table(con, ws.tables_dir, kind)

    return AnalyticTables(
        events=table("events"),
        accounts=table("accounts"),
        subscriptions=table("subscriptions"),
        contacts=table("contacts"),
        tickets=table("tickets"),
        surveys=table("surveys"),
    )


@contextmanager
def connect(ws: Workspace) -> Iterator[tuple[ibis.BaseBackend, AnalyticTables]]:
    """A warehouse connection and the tables on it; closed on exit."""
    with Warehouse(ws.warehouse_url, ws.state_dir).connect() as con:
        yield con, analytic_tables(ws, con)


def workspace_feature_defs(ws: Workspace) -> FeatureSet:
    """The standard features merged with the workspace's motion/features.yml (when it exists)."""
    path = ws.root / FEATURES_FILE
    if not path.is_file():
        return load_feature_defs(None)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read ({exc})") from exc
    return load_feature_defs(text, source=str(path))
