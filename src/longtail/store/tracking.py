"""Adapter for Segment-compatible ingestion: write what a request says, durably, before it is acknowledged.

Events land as one atomic Parquet file per request in the warehouse's landing folder (compaction later moves
them into the event store, de-duplicated by `event_id`). Contacts and accounts are merged into the operational
database through `EntityStore`.

Who belongs to which account (the user's latest `group` call) lives in the contacts table: the contact whose
`contact_id` is the Segment `userId` carries the `account_id` of that user's latest group. We chose it over a
state file because the database already serialises concurrent writers from several server processes, the
membership commits in the same transaction as the contact, and a user looked up by primary key costs one
indexed query per request. A user identified before any group call is stored with account `unattributed`
until a group call names the account.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import ibis
import ibis.expr.types as ir
import pyarrow as pa
from ibis import _
from sqlalchemy import Engine, select

from longtail.ingest.segment import UNATTRIBUTED, AnyMessage, lookups, map_messages
from longtail.ingest.validate import value_type
from longtail.settings import Workspace
from longtail.store import tables
from longtail.store.db import make_engine, migrate
from longtail.store.entities import EntityStore, widen
from longtail.warehouse.events import EVENT_COLUMNS, Warehouse, events_schema

LOOKUP_CHUNK = 500
READ_RETRIES = 3


@dataclass
class Ingested:
    """What one request stored (returned to the sender beside Segment's `success`)."""

    received: int
    events: int
    unattributed: int
    contacts: int
    accounts: int
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"success": True, "received": self.received, "events": self.events,
                "unattributed": self.unattributed, "contacts": self.contacts, "accounts": self.accounts,
                "notes": self.notes}


class Tracker:
    """Stores validated Segment messages for one workspace."""

    def __init__(self, ws: Workspace, engine: Engine | None = None) -> None:
        self.engine = engine if engine is not None else make_engine(ws.database_url)
        migrate(self.engine)
        self.store = EntityStore(self.engine)
        self.warehouse = Warehouse(ws.warehouse_url, ws.state_dir)
        self._commits = GroupCommit(self.warehouse)

    def ingest(self, messages: Sequence[AnyMessage], received_at: datetime) -> Ingested:
        """Store the messages; returns only once events are on disk and entities are committed."""
        mapped = map_messages(messages, self.memberships(lookups(messages)), received_at)
        # Entities first, events last: a failure part-way gets no 200, the sender retries, and every step is
        # idempotent (merges by key, events de-duplicated by event_id).
        accounts = self._merge("accounts", "account_id", mapped.accounts)
        contacts = self._merge("contacts", "contact_id", mapped.contacts)
        self.land(mapped.events)
        return Ingested(len(messages), len(mapped.events), mapped.unattributed, contacts, accounts, mapped.notes)

    def memberships(self, users: Iterable[str]) -> dict[str, str]:
        """User id -> account of the user's latest group call, for the users that have one."""
        wanted = sorted(set(users))
        table = tables.contacts
        found: dict[str, str] = {}
        with self.engine.connect() as conn:
            for start in range(0, len(wanted), LOOKUP_CHUNK):
                part = wanted[start : start + LOOKUP_CHUNK]
                rows = conn.execute(select(table.c.contact_id, table.c.account_id).where(
                    table.c.contact_id.in_(part), table.c.account_id != UNATTRIBUTED))
                found.update({r.contact_id: r.account_id for r in rows})
        return found

    def _existing(self, kind: str, key: str, ids: list[str]) -> dict[str, dict[str, Any]]:
        table = tables.ENTITY_TABLES[kind]
        out: dict[str, dict[str, Any]] = {}
        with self.engine.connect() as conn:
            for start in range(0, len(ids), LOOKUP_CHUNK):
                rows = conn.execute(select(table).where(table.c[key].in_(ids[start : start + LOOKUP_CHUNK])))
                out.update({r._mapping[key]: dict(r._mapping) for r in rows})
        return out

    def _merge(self, kind: str, key: str, partial: dict[str, dict[str, Any]]) -> int:
        """Overlay partial rows on the stored ones (a field a call does not send keeps its value)."""
        if not partial:
            return 0
        existing = self._existing(kind, key, sorted(partial))
        rows = []
        types: dict[str, str] = {}
        for ident, fields in partial.items():
            base = existing.get(ident) or {key: ident, **({"account_id": UNATTRIBUTED} if kind == "contacts" else {})}
            attributes = {**(base.get("attributes") or {}), **fields.get("attributes", {})}
            for name, value in fields.get("attributes", {}).items():
                typ = value_type(value)
                types[name] = widen(types[name], typ) if name in types else typ
            row = {**base, **{k: v for k, v in fields.items() if k != "attributes"}}
            row["attributes"] = attributes or None
            rows.append(row)
        self.store.upsert(kind, rows, (key,))
        self.store.register_attributes(kind, types)
        return len(rows)

    def land(self, events: list[dict[str, Any]]) -> None:
        """Write event rows to a landing file flushed to disk; returns once they are durable."""
        if events:
            self._commits.land(events)


class _Slot:
    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows
        self.done = False
        self.error: BaseException | None = None


class GroupCommit:
    """Requests arriving while a landing file is being flushed share the next file and its fsync.

    fsync costs milliseconds, more than the rest of a 100-event request; one flush per request would cap a
    server at a few hundred requests per second. The first waiting request writes everything queued behind
    it (leader/follower), and every request still returns only after its own rows are on disk.
    """

    def __init__(self, warehouse: Warehouse) -> None:
        self.warehouse = warehouse
        self._cond = threading.Condition()
        self._queue: list[_Slot] = []
        self._writing = False

    def land(self, rows: list[dict[str, Any]]) -> None:
        slot = _Slot(rows)
        with self._cond:
            self._queue.append(slot)
            while not slot.done:
                if self._writing:
                    self._cond.wait()
                    continue
                self._writing = True
                group, self._queue = self._queue, []
                self._cond.release()
                error: BaseException | None = None
                try:
                    self._write([row for member in group for row in member.rows])
                except BaseException as exc:  # noqa: BLE001 - not swallowed: every request of the group re-raises it
                    error = exc
                finally:
                    self._cond.acquire()
                    self._writing = False
                    for member in group:
                        member.done, member.error = True, error
                    self._cond.notify_all()
        if slot.error is not None:
            raise slot.error

    def _write(self, rows: list[dict[str, Any]]) -> Path | None:
        table = pa.Table.from_pylist(rows, schema=events_schema())
        landing = self.warehouse.open_landing()
        try:
            landing.write(table)
        finally:
            # close() flushes the file and its folder entry before returning, so the batch is durable here;
            # with nothing written it removes the partial file.
            path = landing.close()
        return path


@dataclass(frozen=True)
class EventFilter:
    """A page of events, filtered; times are UTC instants (since inclusive, until exclusive)."""

    account_id: str | None = None
    event: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 100
    offset: int = 0


def _filtered(t: ir.Table, f: EventFilter) -> ir.Table:
    preds = []
    if f.account_id is not None:
        preds.append(t.account_id == f.account_id)
    if f.event is not None:
        preds.append(t.event == f.event)
    if f.since is not None:
        preds.append(t.ts >= f.since)
    if f.until is not None:
        preds.append(t.ts < f.until)
    return t.filter(*preds) if preds else t


def _unique_events(con: ibis.BaseBackend, landed: list[Path], parts: list[Path], f: EventFilter) -> ir.Table:
    """Compacted parts (already unique) plus landed events not yet in them, one row per event_id.

    Exactly what compaction will keep: a part's row wins over a landed one; among landed rows the earliest.
    """
    empty = ibis.memtable(events_schema().empty_table())
    stored = con.read_parquet([str(p) for p in parts]) if parts else empty
    if not landed:
        return _filtered(stored.select(*EVENT_COLUMNS), f)
    fresh = _filtered(con.read_parquet([str(p) for p in landed]).select(*EVENT_COLUMNS), f)
    if parts:
        fresh = fresh.anti_join(stored.select("event_id"), "event_id")
    ranked = fresh.mutate(_rank=ibis.row_number().over(group_by=_.event_id, order_by=_.ts))
    fresh = ranked.filter(_._rank == 0).drop("_rank")
    return _filtered(stored.select(*EVENT_COLUMNS), f).union(fresh, distinct=False)


def read_events(warehouse: Warehouse, f: EventFilter) -> tuple[int, list[dict[str, Any]]]:
    """(total matching, one page of rows newest first) over landed and compacted events, exactly once each."""
    for attempt in range(READ_RETRIES):
        # Landed first, then parts: a file compaction moves in between is then seen twice (and de-duplicated)
        # rather than missed.
        landed = warehouse.landed()
        parts = warehouse.parts()
        if not landed and not parts:
            return 0, []
        con = ibis.duckdb.connect()
        try:
            events = _unique_events(con, landed, parts, f)
            total = int(events.count().to_pyarrow().as_py())
            page = events.order_by([ibis.desc("ts"), "event_id"]).limit(f.limit, offset=f.offset)
            return total, page.to_pyarrow().to_pylist()
        except (OSError, duckdb.IOException):
            # Compaction removed a landed file between listing and reading: list again.
            if attempt == READ_RETRIES - 1:
                raise
        finally:
            con.disconnect()
    raise AssertionError("unreachable: the last attempt returns or raises")
