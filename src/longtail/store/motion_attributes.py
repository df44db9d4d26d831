"""Account attributes the motion set (playbook `set_attribute` steps), as a history (table `motion_attributes`).

Loaded attributes live in `accounts.attributes` and are replaced by every load; what the motion sets lives here, one
row per change, so a later load cannot erase it and every value keeps the playbook, definition hash and run day
that wrote it. A row set by the run of day D is valid from D + 1 (`valid_from`): the run of D decided on D's table,
like tiers and segment memberships, and its writes feed the next day. The unique key (account, name, run day) makes
a re-run of a day write nothing twice.
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Engine, and_, func, select
from sqlalchemy.dialects import postgresql, sqlite

from longtail.core.motion.definitions import ATTRIBUTE_VALUE_MAX, attribute_type
from longtail.errors import UsageError
from longtail.store import tables

Value = str | float | bool
BATCH = 2_000
KEY = ("account_id", "name", "run_day")


@dataclass(frozen=True)
class AttributeWrite:
    """One value a run sets: `motion_<name>` of the account, from `valid_from` on, because of `reason`."""

    account_id: str
    name: str
    value: Value
    valid_from: date
    playbook_id: str
    definition_hash: str
    run_day: date
    reason: str

    @property
    def value_type(self) -> str:
        return attribute_type(self.value)


@dataclass(frozen=True)
class StoredAttribute:
    """A stored value of one attribute of one account, with where it came from."""

    account_id: str
    name: str
    value: Value | None
    """None when the stored text is not a value of `value_type` (written by something other than `record`)."""
    value_type: str
    valid_from: date
    playbook_id: str
    definition_hash: str
    run_day: date
    set_at: datetime
    reason: str


def encode(value: Value) -> str:
    """The value as JSON text; a value no definition could hold (too long, not finite, control characters inside
    text) is refused here as well, so nothing else writing this table can store one."""
    if isinstance(value, float) and not math.isfinite(value):
        raise UsageError(f"attribute value {value!r} is not a finite number")
    if isinstance(value, str) and len(value) > ATTRIBUTE_VALUE_MAX:
        raise UsageError(f"attribute value of {len(value)} characters; the limit is {ATTRIBUTE_VALUE_MAX}")
    if isinstance(value, str) and any(ord(c) < 32 or 127 <= ord(c) <= 159 or c in "\u2028\u2029" for c in value):
        raise UsageError("attribute value holds a control character; a value is one line of printable text")
    if not isinstance(value, str | float | bool | int):
        raise UsageError(f"attribute value of type {type(value).__name__}; use text, a number or true/false")
    return json.dumps(value, ensure_ascii=True)


def decode(text: str, value_type: str) -> Value | None:
    """The stored value as its type (None if the row does not hold what its type says)."""
    value = json.loads(text)
    if value_type == "boolean":
        return value if isinstance(value, bool) else None
    if value_type == "number":
        return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
    return value if isinstance(value, str) else None


class MotionAttributeStore:
    """Reads and writes the `motion_attributes` history on SQLite or PostgreSQL."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def record(self, writes: Sequence[AttributeWrite], at: datetime) -> int:
        """Insert the writes whose (account, name, run day) is new; returns how many were inserted."""
        rows = [{"account_id": w.account_id, "name": w.name, "value": encode(w.value), "value_type": w.value_type,
                 "valid_from": w.valid_from, "playbook_id": w.playbook_id, "definition_hash": w.definition_hash,
                 "run_day": w.run_day, "set_at": at, "reason": w.reason} for w in writes]
        if not rows:
            return 0
        t = tables.motion_attributes
        dialect_insert = postgresql.insert if self.engine.dialect.name == "postgresql" else sqlite.insert
        # The unique key decides what is new, so two runs of one day racing each other still write once.
        stmt = dialect_insert(t).on_conflict_do_nothing(index_elements=list(KEY)).returning(t.c.id)
        inserted = 0
        with self.engine.begin() as conn:
            for start in range(0, len(rows), BATCH):
                inserted += len(conn.execute(stmt, rows[start:start + BATCH]).all())
        return inserted

    def as_of(self, day: date, names: Collection[str], accounts: Iterable[str] | None = None
              ) -> dict[tuple[str, str], StoredAttribute]:
        """By (account, name): the latest value of each of `names` valid on `day` (valid_from <= day)."""
        if not names:
            return {}
        t = tables.motion_attributes
        latest = (select(t.c.account_id, t.c.name, func.max(t.c.valid_from).label("valid_from"))
                  .where(t.c.valid_from <= day, t.c.name.in_(sorted(names))))
        wanted = None if accounts is None else sorted(set(accounts))
        if wanted is not None:
            if not wanted:
                return {}
            latest = latest.where(t.c.account_id.in_(wanted))
        sub = latest.group_by(t.c.account_id, t.c.name).subquery()
        query = select(t).join(sub, and_(t.c.account_id == sub.c.account_id, t.c.name == sub.c.name,
                                         t.c.valid_from == sub.c.valid_from))
        with self.engine.connect() as conn:
            return {(r.account_id, r.name): _stored(r._mapping) for r in conn.execute(query)}

    def history(self, account_id: str | None = None) -> list[StoredAttribute]:
        """Every stored value (of one account), oldest first."""
        t = tables.motion_attributes
        query = select(t).order_by(t.c.account_id, t.c.name, t.c.valid_from)
        if account_id is not None:
            query = query.where(t.c.account_id == account_id)
        with self.engine.connect() as conn:
            return [_stored(r._mapping) for r in conn.execute(query)]


def _stored(row: Mapping[Any, Any]) -> StoredAttribute:
    return StoredAttribute(
        account_id=row["account_id"], name=row["name"], value=decode(row["value"], row["value_type"]),
        value_type=row["value_type"], valid_from=row["valid_from"], playbook_id=row["playbook_id"],
        definition_hash=row["definition_hash"], run_day=row["run_day"], set_at=_aware(row["set_at"]),
        reason=row["reason"])


def _aware(at: datetime) -> datetime:
    """SQLite hands back the UTC instant without its zone; PostgreSQL with it."""
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


__all__ = ["AttributeWrite", "MotionAttributeStore", "StoredAttribute", "decode", "encode"]
