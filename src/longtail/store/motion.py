"""Operational state of the motion engine: CTAs (with an audit log), signal firings, segments, tiers, runs.

Thin adapter over the tables in `tables.py`: the decisions are made in `longtail.core.motion`, this module
only reads the state they need and writes the effects they return, in bulk and in one transaction per call.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    and_,
    bindparam,
    case,
    delete,
    false,
    func,
    or_,
    select,
    update,
)

from longtail.core.motion.ctas import (
    ACTIVE,
    PRIORITIES,
    CloseCta,
    CreateCta,
    CreateFollowUp,
    Cta,
    CtaEffect,
    RefreshCta,
    WakeCta,
    new_cta,
)
from longtail.errors import LongtailError, UsageError
from longtail.store import tables

BATCH = 2_000
CTA_COLUMNS: tuple[str, ...] = tuple(c.name for c in tables.ctas.columns)
Owners = Mapping[str, tuple[str | None, str | None]]


@dataclass
class ApplyCounts:
    """What `apply_effects` changed; `skipped` counts creations whose id already existed (a same-day re-run)."""

    created: int = 0
    follow_ups: int = 0
    refreshed: int = 0
    closed: int = 0
    woken: int = 0
    skipped: int = 0


@dataclass(frozen=True)
class WorklistQuery:
    """Which CTAs a worklist shows (see `MotionStore.worklist`).

    `view`: `mine` is owned by (or escalated to) `member_id`; `pool` is the rest of the work in `member_tiers`
    (every tier when that is empty); `all` is everything the other filters let through.
    """

    statuses: frozenset[str]
    view: str = "all"
    cta_type: str | None = None
    owner: str | None = None
    tier: str | None = None
    member_id: str | None = None
    member_tiers: tuple[str, ...] = ()
    limit: int = 100
    offset: int = 0


@dataclass(frozen=True)
class WorklistPage:
    """`limit` CTAs of a worklist from `offset` in order, their accounts' current tiers, and how many matched."""

    ctas: list[Cta]
    tiers: dict[str, str]
    total: int


@dataclass(frozen=True)
class TierOverride:
    account_id: str
    tier: str
    reason: str
    expires: date | None
    created_on: date
    created_by: str


def cta_row(cta: Cta) -> dict[str, Any]:
    """A Cta as a `ctas` row (JSON columns get plain lists and dicts)."""
    row = {name: getattr(cta, name) for name in CTA_COLUMNS}
    row["inputs"] = dict(cta.inputs)
    row["checklist"] = list(cta.checklist)
    return row


def row_cta(row: Mapping[Any, Any]) -> Cta:
    """A `ctas` row as a Cta."""
    values = {str(k): v for k, v in row.items()}
    values["checklist"] = tuple(values["checklist"] or ())
    values["inputs"] = dict(values["inputs"] or {})
    return Cta(**values)


def _chunks(items: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), BATCH):
        yield items[start : start + BATCH]


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class _Batch:
    """One `apply_effects` call: its day, actor and time, the owners of new CTAs, what it counted and logged."""

    as_of: date
    actor: str
    at: datetime
    owners: Owners
    counts: ApplyCounts = field(default_factory=ApplyCounts)
    log: list[dict[str, Any]] = field(default_factory=list)

    def note(self, cta_id: str, action: str, detail: dict[str, Any]) -> None:
        self.log.append({"cta_id": cta_id, "on": self.as_of, "action": action, "actor": self.actor,
                         "detail": detail, "at": self.at})


def _create(conn: Connection, new: Sequence[CreateCta | CreateFollowUp], batch: _Batch) -> None:
    """Insert new CTAs in bulk, skipping ids that already exist."""
    if not new:
        return
    t = tables.ctas
    existing: set[str] = set()
    for part in _chunks([e.cta_id for e in new]):
        existing.update(conn.execute(select(t.c.cta_id).where(t.c.cta_id.in_(part))).scalars())
    rows = []
    for effect in new:
        if effect.cta_id in existing:
            batch.counts.skipped += 1
            continue
        existing.add(effect.cta_id)  # two effects with one id: the first wins
        owner_id, owner_reason = batch.owners.get(effect.cta_id, (None, None))
        if isinstance(effect, CreateCta):
            cta = new_cta(effect.cta_id, effect.request, effect.status, batch.as_of, owner_id=owner_id,
                          owner_reason=owner_reason)
            batch.counts.created += 1
        else:
            cta = new_cta(effect.cta_id, effect.request, "open", batch.as_of, follow_up_of=effect.follow_up_of,
                          owner_id=owner_id, owner_reason=owner_reason)
            batch.counts.follow_ups += 1
        rows.append(cta_row(cta))
        batch.note(cta.cta_id, "create" if isinstance(effect, CreateCta) else "follow_up",
                   {"reason": effect.reason, "status": cta.status, "owner_id": owner_id, "owner_reason": owner_reason})
    if rows:
        conn.execute(t.insert(), rows)


def _update(conn: Connection, batch: _Batch, action: str,
            changes: Sequence[tuple[dict[str, Any], str, dict[str, Any]]]) -> None:
    """Apply (values, cta_id, log detail) changes with one executemany, counting and logging each."""
    if not changes:
        return
    t = tables.ctas
    conn.execute(update(t).where(t.c.cta_id == bindparam("k_id")), [{**v, "k_id": i} for v, i, _ in changes])
    for _, cta_id, detail in changes:
        batch.note(cta_id, action, detail)
    counter = {"refresh": "refreshed", "auto_close": "closed", "wake": "woken"}[action]
    setattr(batch.counts, counter, getattr(batch.counts, counter) + len(changes))


class MotionStore:
    """Motion state in the operational database (SQLite or PostgreSQL).

    `clock` stamps the audit log's `at` (when a change was recorded, as opposed to the business day `on`,
    which callers always pass); tests inject a fixed one.
    """

    def __init__(self, engine: Engine, clock: Callable[[], datetime] = _utc_now) -> None:
        self.engine = engine
        self.clock = clock

    # ------------------------------------------------------------------------------------------ CTAs

    def open_ctas(self) -> list[Cta]:
        """Every CTA not done or cancelled (held, open, in progress, snoozed), by id."""
        t = tables.ctas
        return self._ctas(select(t).where(t.c.status.in_(sorted(ACTIVE))).order_by(t.c.cta_id))

    def get_cta(self, cta_id: str) -> Cta | None:
        found = self._ctas(select(tables.ctas).where(tables.ctas.c.cta_id == cta_id))
        return found[0] if found else None

    def list_ctas(self, status: str | None = None, owner: str | None = None, account: str | None = None, *,
                  statuses: Collection[str] | None = None) -> list[Cta]:
        """CTAs filtered by status (or any of `statuses`), owner and account (each optional), by due date then id."""
        t = tables.ctas
        query = select(t)
        if status is not None:
            query = query.where(t.c.status == status)
        if statuses is not None:
            query = query.where(t.c.status.in_(sorted(statuses)))
        if owner is not None:
            query = query.where(t.c.owner_id == owner)
        if account is not None:
            query = query.where(t.c.account_id == account)
        return self._ctas(query.order_by(t.c.due, t.c.cta_id))

    def worklist(self, q: WorklistQuery) -> WorklistPage:
        """The worklist's CTAs filtered, sorted (most urgent priority, soonest due, id) and cut in the database.

        With 100k accounts a pool holds thousands of workable CTAs; building them all in Python to show a page
        was most of the page's time, so only the page's rows are read.
        """
        t, h = tables.ctas, tables.tier_history
        where: list[ColumnElement[bool]] = [t.c.status.in_(sorted(q.statuses))]
        if q.cta_type:
            where.append(t.c.cta_type == q.cta_type)
        if q.owner:
            where.append(t.c.owner_id == q.owner)
        if q.tier:
            where.append(h.c.tier == q.tier)
        if q.view == "mine":
            where.append(false() if q.member_id is None else or_(t.c.owner_id == q.member_id,
                                                                 t.c.escalated_to == q.member_id))
        elif q.view == "pool":
            if q.member_id is not None:  # NULL owners are in the pool: compare through coalesce
                where.append(and_(func.coalesce(t.c.owner_id, "") != q.member_id,
                                  func.coalesce(t.c.escalated_to, "") != q.member_id))
            if q.member_tiers:
                where.append(h.c.tier.in_(sorted(q.member_tiers)))
        # The tier join (open spell, through its account_id index) only when a filter reads the tier; the page's
        # tiers are looked up for its own rows afterwards.
        by_tier = bool(q.tier) or (q.view == "pool" and bool(q.member_tiers))
        source = t.join(h, and_(h.c.account_id == t.c.account_id, h.c.left.is_(None))) if by_tier else t
        rank = case({p: i for i, p in enumerate(PRIORITIES)}, value=t.c.priority, else_=-1)
        page = (select(t).select_from(source).where(and_(*where))
                .order_by(rank.desc(), t.c.due, t.c.cta_id).limit(q.limit).offset(q.offset))
        count = select(func.count()).select_from(source).where(and_(*where))
        with self.engine.connect() as conn:
            result = conn.execute(page)
            keys = list(map(str, result.keys()))
            ctas = [row_cta(dict(zip(keys, r, strict=True))) for r in result]
            total = int(conn.execute(count).scalar_one())
        return WorklistPage(ctas, self.current_tiers({c.account_id for c in ctas}), total)

    def history(self, cta_id: str) -> list[dict[str, Any]]:
        """The audit trail of one CTA, oldest first."""
        t = tables.cta_log
        query = select(t.c.on, t.c.action, t.c.actor, t.c.detail, t.c.at).where(t.c.cta_id == cta_id).order_by(t.c.id)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    def _ctas(self, query: Any) -> list[Cta]:
        # keys zipped once per query: `.mappings()` rows rebuild their key map per row, which was most of the
        # worklist's time with a few thousand open CTAs
        with self.engine.connect() as conn:
            result = conn.execute(query)
            keys = list(map(str, result.keys()))
            return [row_cta(dict(zip(keys, r, strict=True))) for r in result]

    def apply_effects(self, effects: Sequence[CtaEffect], as_of: date, owners: Owners | None = None,
                      actor: str = "motion") -> ApplyCounts:
        """Apply planned CTA effects in one transaction, logging each to `cta_log`.

        `owners` maps a new CTA's id to (owner_id, owner_reason). A creation whose id already exists is
        skipped: deterministic ids make that a same-day re-run after a human closed the CTA.
        """
        batch = _Batch(as_of, actor, self.clock(), owners or {})
        with self.engine.begin() as conn:
            _create(conn, [e for e in effects if isinstance(e, CreateCta | CreateFollowUp)], batch)
            _update(conn, batch, "refresh", [
                ({"inputs": dict(e.inputs), "priority": e.priority, "fire_count": e.fire_count,
                  "last_fired_on": as_of, "updated_on": as_of},
                 e.cta_id, {"reason": e.reason, "priority": e.priority, "fire_count": e.fire_count})
                for e in effects if isinstance(e, RefreshCta)])
            _update(conn, batch, "auto_close", [
                ({"status": e.status, "closed_on": as_of, "close_reason": e.reason, "snoozed_until": None,
                  "snooze_reason": None, "updated_on": as_of}, e.cta_id, {"reason": e.reason, "status": e.status})
                for e in effects if isinstance(e, CloseCta)])
            _update(conn, batch, "wake", [
                ({"status": "open", "snoozed_until": None, "snooze_reason": None, "updated_on": as_of},
                 e.cta_id, {"reason": e.reason}) for e in effects if isinstance(e, WakeCta)])
            if batch.log:
                conn.execute(tables.cta_log.insert(), batch.log)
        return batch.counts

    def save_cta(self, cta: Cta, action: str, actor: str, detail: Mapping[str, Any] | None = None,
                 follow_up: CreateFollowUp | None = None) -> None:
        """Store a human transition (and the follow-up it created) with its log line, in one transaction."""
        self.save_ctas([cta], action, actor, detail, follow_ups=() if follow_up is None else (follow_up,))

    def save_ctas(self, ctas: Sequence[Cta], action: str, actor: str, detail: Mapping[str, Any] | None = None,
                  follow_ups: Sequence[CreateFollowUp] = ()) -> None:
        """Store the same human transition of many CTAs (e.g. approving every held one) in bulk.

        Each follow-up is created open, owned by the owner of the CTA it follows.
        """
        if not ctas:
            return
        t = tables.ctas
        at = self.clock()
        by_id = {c.cta_id: c for c in ctas}
        rows = [{**{k: v for k, v in cta_row(c).items() if k != "cta_id"}, "k_id": c.cta_id} for c in ctas]
        log = [{"cta_id": c.cta_id, "on": c.updated_on, "action": action, "actor": actor,
                "detail": {"status": c.status, **(detail or {})}, "at": at} for c in ctas]
        extra = []
        for follow in follow_ups:
            done = by_id.get(follow.follow_up_of)
            if done is None:
                raise LongtailError(f"follow-up {follow.cta_id} follows {follow.follow_up_of}, which is not saved here")
            extra.append(cta_row(new_cta(follow.cta_id, follow.request, "open", done.updated_on,
                                         follow_up_of=done.cta_id, owner_id=done.owner_id,
                                         owner_reason=f"owner of {done.cta_id}, which it follows up")))
            log.append({"cta_id": follow.cta_id, "on": done.updated_on, "action": "follow_up", "actor": actor,
                        "detail": {"reason": follow.reason, "status": "open"}, "at": at})
        with self.engine.begin() as conn:
            known: set[str] = set()
            for part in _chunks(list(by_id)):
                known.update(conn.execute(select(t.c.cta_id).where(t.c.cta_id.in_(part))).scalars())
            missing = sorted(set(by_id) - known)
            if missing:
                more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
                raise UsageError(f"no CTA {missing[0]!r}{more}")
            conn.execute(update(t).where(t.c.cta_id == bindparam("k_id")), rows)
            if extra:
                conn.execute(t.insert(), extra)
            conn.execute(tables.cta_log.insert(), log)

    # ------------------------------------------------------------------------------------------ signal fires

    def record_fires(self, rows: Sequence[Mapping[str, Any]],
                     replace: Collection[tuple[str, date]] | None = None) -> int:
        """Store signal firings, replacing what was stored for each (signal_id, day) being recorded.

        One call carries every firing of a signal on a day, so re-running a day is idempotent. `replace`
        names (signal_id, day) pairs to clear even when nothing fires now (default: the pairs in `rows`).
        """
        t = tables.signal_fires
        pairs = set(replace) if replace is not None else {(r["signal_id"], r["day"]) for r in rows}
        clean = [{"signal_id": r["signal_id"], "account_id": r["account_id"], "day": r["day"],
                  "definition_hash": r["definition_hash"], "inputs": dict(r.get("inputs") or {}),
                  "suppressed_reason": r.get("suppressed_reason")} for r in rows]
        stray = {(r["signal_id"], r["day"]) for r in clean} - pairs
        if stray:
            raise LongtailError(f"record_fires got fires for {sorted(stray)[0]} outside the pairs it replaces")
        with self.engine.begin() as conn:
            if pairs:
                conn.execute(delete(t).where(t.c.signal_id == bindparam("s"), t.c.day == bindparam("d")),
                             [{"s": s, "d": d} for s, d in sorted(pairs)])
            for part in _chunks(clean):
                conn.execute(t.insert(), list(part))
        return len(clean)

    def fires_between(self, signal_id: str, account_ids: Collection[str] | None, first: date,
                      last: date) -> list[dict[str, Any]]:
        """Firings of a signal from `first` to `last` (both inclusive), for some accounts or all."""
        t = tables.signal_fires
        base = (select(t.c.signal_id, t.c.account_id, t.c.day, t.c.definition_hash, t.c.inputs,
                       t.c.suppressed_reason)
                .where(t.c.signal_id == signal_id, t.c.day >= first, t.c.day <= last))
        out: list[dict[str, Any]] = []
        with self.engine.connect() as conn:
            if account_ids is None:
                out = [dict(r) for r in conn.execute(base).mappings()]
            else:
                for part in _chunks(sorted(set(account_ids))):
                    out.extend(dict(r) for r in conn.execute(base.where(t.c.account_id.in_(part))).mappings())
        return sorted(out, key=lambda r: (r["day"], r["account_id"]))

    # ------------------------------------------------------------------------------------------ segments

    def membership(self, segment_id: str) -> set[str]:
        """The accounts currently in a segment."""
        t = tables.segment_membership
        query = select(t.c.account_id).where(t.c.segment_id == segment_id, t.c.left.is_(None))
        with self.engine.connect() as conn:
            return set(conn.execute(query).scalars())

    def apply_membership(self, segment_id: str, entered: Collection[str], left: Collection[str], on: date,
                         definition_hash: str) -> None:
        """Record accounts entering and leaving a segment on `on` (entering twice or leaving unseen is a no-op)."""
        t = tables.segment_membership
        both = set(entered) & set(left)
        if both:
            raise LongtailError(f"account {sorted(both)[0]!r} cannot both enter and leave segment {segment_id}")
        current = self.membership(segment_id)
        rows = [{"segment_id": segment_id, "account_id": a, "entered": on, "left": None,
                 "definition_hash": definition_hash} for a in sorted(set(entered) - current)]
        gone = [{"k_seg": segment_id, "k_acc": a, "left": on} for a in sorted(set(left) & current)]
        with self.engine.begin() as conn:
            for part in _chunks(rows):
                conn.execute(t.insert(), list(part))
            if gone:
                stmt = update(t).where(t.c.segment_id == bindparam("k_seg"), t.c.account_id == bindparam("k_acc"),
                                       t.c.left.is_(None))
                conn.execute(stmt, gone)

    # ------------------------------------------------------------------------------------------ tiers

    def current_tiers(self, accounts: Collection[str] | None = None) -> dict[str, str]:
        """Each account's current tier; with `accounts`, only theirs (a page showing some CTAs need not read the
        tiers of every account)."""
        t = tables.tier_history
        query = select(t.c.account_id, t.c.tier).where(t.c.left.is_(None))
        with self.engine.connect() as conn:
            if accounts is None:
                return {r.account_id: r.tier for r in conn.execute(query)}
            found: dict[str, str] = {}
            for part in _chunks(sorted(set(accounts))):
                found.update({r.account_id: r.tier for r in conn.execute(query.where(t.c.account_id.in_(part)))})
            return found

    def tier_names(self) -> list[str]:
        """The tiers some account is in now, sorted."""
        t = tables.tier_history
        with self.engine.connect() as conn:
            return sorted(str(v) for v in conn.execute(select(t.c.tier).where(t.c.left.is_(None)).distinct()).scalars())

    def apply_tiers(self, changes: Mapping[str, tuple[str, str]], on: date) -> int:
        """Move accounts to new tiers on `on`: account_id -> (tier, reason). Returns how many moved."""
        t = tables.tier_history
        current = self.current_tiers()
        moves = {a: c for a, c in changes.items() if current.get(a) != c[0]}
        if not moves:
            return 0
        closing = [{"k_acc": a, "left": on} for a in sorted(moves) if a in current]
        rows = [{"account_id": a, "tier": tier, "entered": on, "left": None, "reason": reason}
                for a, (tier, reason) in sorted(moves.items())]
        with self.engine.begin() as conn:
            if closing:
                conn.execute(update(t).where(t.c.account_id == bindparam("k_acc"), t.c.left.is_(None)), closing)
            for part in _chunks(rows):
                conn.execute(t.insert(), list(part))
        return len(moves)

    def overrides(self, as_of: date) -> dict[str, TierOverride]:
        """Manual tier overrides in force on `as_of`: set on or before it, and it is before their `expires` day."""
        t = tables.tier_overrides
        query = select(t).where(t.c.created_on <= as_of, (t.c.expires.is_(None)) | (t.c.expires > as_of))
        with self.engine.connect() as conn:
            return {r["account_id"]: TierOverride(**r) for r in conn.execute(query).mappings()}

    def set_override(self, account_id: str, tier: str, reason: str, *, on: date, by: str,
                     expires: date | None = None) -> None:
        """Pin an account to a tier (replacing any override it had); a reason is required."""
        if not reason.strip():
            raise UsageError("a tier override needs a reason")
        if expires is not None and expires <= on:
            raise UsageError(f"a tier override set on {on} must expire after it, not on {expires}")
        t = tables.tier_overrides
        with self.engine.begin() as conn:
            conn.execute(delete(t).where(t.c.account_id == account_id))
            conn.execute(t.insert().values(account_id=account_id, tier=tier, reason=reason.strip(), expires=expires,
                                           created_on=on, created_by=by))

    def clear_override(self, account_id: str) -> bool:
        """Remove an account's override; False when it had none."""
        t = tables.tier_overrides
        with self.engine.begin() as conn:
            return bool(conn.execute(delete(t).where(t.c.account_id == account_id)).rowcount)

    # ------------------------------------------------------------------------------------------ runs

    def start_run(self, run_id: str, as_of: date, definitions_hash: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(tables.motion_runs.insert().values(run_id=run_id, as_of=as_of, started_at=self.clock(),
                                                            definitions_hash=definitions_hash, status="running"))

    def finish_run(self, run_id: str, status: str, counts: Mapping[str, Any]) -> None:
        t = tables.motion_runs
        with self.engine.begin() as conn:
            done = conn.execute(update(t).where(t.c.run_id == run_id)
                                .values(finished_at=self.clock(), status=status, counts=dict(counts)))
            if not done.rowcount:
                raise LongtailError(f"no motion run {run_id!r} to finish")

    def runs(self) -> list[dict[str, Any]]:
        t = tables.motion_runs
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(select(t).order_by(t.c.started_at, t.c.run_id)).mappings()]

