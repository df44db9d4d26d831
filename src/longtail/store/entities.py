"""Repository for the data contract's entities: upsert with change detection, key lookups."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, Table, bindparam, func, select

from longtail.store import tables

MONEY = Decimal("0.0001")
BATCH = 2_000


@dataclass
class UpsertCounts:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0

    def __iadd__(self, other: UpsertCounts) -> UpsertCounts:
        self.inserted += other.inserted
        self.updated += other.updated
        self.unchanged += other.unchanged
        return self


def _normalise(table: Table, row: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for column in table.columns:
        if column.name == "row_hash":
            continue
        value = row.get(column.name)
        if column.name in ("mrr", "arr") and value is not None:
            value = Decimal(str(value)).quantize(MONEY)
        elif column.name == "attributes" and isinstance(value, str):
            value = json.loads(value)
        out[column.name] = value
    return out


def row_hash(row: dict[str, Any]) -> str:
    def default(value: Any) -> str:
        if isinstance(value, datetime):
            return value.isoformat()
        return str(value)

    payload = json.dumps(row, sort_keys=True, default=default, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()


class EntityStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def upsert(self, kind: str, rows: Sequence[dict[str, Any]], key: Sequence[str]) -> UpsertCounts:
        """Insert new rows, update changed ones, count unchanged ones (by content hash)."""
        table = tables.ENTITY_TABLES[kind]
        counts = UpsertCounts()
        for start in range(0, len(rows), BATCH):
            counts += self._upsert_batch(table, rows[start : start + BATCH], tuple(key))
        return counts

    def _upsert_batch(self, table: Table, rows: Sequence[dict[str, Any]], key: tuple[str, ...]) -> UpsertCounts:
        prepared = []
        for row in rows:
            clean = _normalise(table, row)
            clean["row_hash"] = row_hash(clean)
            prepared.append(clean)
        first = table.c[key[0]]
        wanted = list({r[key[0]] for r in prepared})
        cols = [table.c[k] for k in key] + [table.c.row_hash]
        with self.engine.begin() as conn:
            existing = {
                tuple(r[:-1]): r[-1]
                for r in conn.execute(select(*cols).where(first.in_(wanted))).all()
            }
            new = [r for r in prepared if tuple(r[k] for k in key) not in existing]
            changed = [
                r for r in prepared
                if (old := existing.get(tuple(r[k] for k in key))) is not None and old != r["row_hash"]
            ]
            if new:
                conn.execute(table.insert(), new)
            if changed:
                stmt = table.update().where(*[table.c[k] == bindparam(f"k_{k}") for k in key])
                conn.execute(stmt, [{**r, **{f"k_{k}": r[k] for k in key}} for r in changed])
        return UpsertCounts(len(new), len(changed), len(prepared) - len(new) - len(changed))

    def keys(self, kind: str, column: str) -> list[str]:
        table = tables.ENTITY_TABLES[kind]
        with self.engine.connect() as conn:
            return [r[0] for r in conn.execute(select(table.c[column]))]

    def count(self, kind: str) -> int:
        table = tables.ENTITY_TABLES[kind]
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(table)).scalar_one())

    def rows(self, kind: str) -> list[dict[str, Any]]:
        """Every row of a kind ordered by key (for summaries and tests; not for big tables)."""
        table = tables.ENTITY_TABLES[kind]
        order = [c for c in table.primary_key.columns]
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(select(table).order_by(*order))]

    def iter_rows(self, kind: str, size: int) -> Iterator[list[dict[str, Any]]]:
        """Every row of a kind in key order, `size` rows at a time (streamed from the database)."""
        table = tables.ENTITY_TABLES[kind]
        order = list(table.primary_key.columns)
        with self.engine.connect() as conn:
            result = conn.execution_options(stream_results=True, yield_per=size).execute(
                select(table).order_by(*order)
            )
            for part in result.mappings().partitions(size):
                yield [dict(r) for r in part]

    def register_attributes(self, kind: str, types: dict[str, str]) -> None:
        """Remember the type of each custom attribute, widening when values disagree."""
        if not types:
            return
        table = tables.custom_attributes
        with self.engine.begin() as conn:
            known = {
                r.name: r.type
                for r in conn.execute(select(table.c.name, table.c.type).where(table.c.kind == kind))
            }
            for name, typ in types.items():
                if name not in known:
                    conn.execute(table.insert().values(kind=kind, name=name, type=typ))
                elif known[name] != typ:
                    wider = widen(known[name], typ)
                    if wider != known[name]:
                        conn.execute(
                            table.update()
                            .where(table.c.kind == kind, table.c.name == name)
                            .values(type=wider)
                        )

    def attribute_types(self, kind: str) -> dict[str, str]:
        table = tables.custom_attributes
        with self.engine.connect() as conn:
            rows = conn.execute(select(table.c.name, table.c.type).where(table.c.kind == kind))
            return {r.name: r.type for r in rows}

    def record_run(self, values: dict[str, Any]) -> None:
        with self.engine.begin() as conn:
            conn.execute(tables.load_runs.insert().values(**values))


def widen(a: str, b: str) -> str:
    if a == b:
        return a
    if {a, b} == {"integer", "number"}:
        return "number"
    if {a, b} == {"date", "timestamp"}:
        return "timestamp"
    return "string"


def account_names(engine: Engine, ids: Sequence[str]) -> dict[str, str]:
    """account_id -> display name (the id itself when the account has no name) for the ids that exist."""
    t = tables.accounts
    names: dict[str, str] = {}
    with engine.connect() as conn:
        for start in range(0, len(ids), 1000):
            part = list(ids[start : start + 1000])
            names.update({r.account_id: r.name or r.account_id
                          for r in conn.execute(select(t.c.account_id, t.c.name).where(t.c.account_id.in_(part)))})
    return names
