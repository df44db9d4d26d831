"""The Segments and Playbooks pages: each definition beside what the runs measured for it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pyarrow.parquet as pq
from sqlalchemy import func, select

from longtail.analytics.connect import ensure_snapshots
from longtail.analytics.motion_source import workspace_motion
from longtail.settings import Workspace
from longtail.store import tables
from longtail.store.playbooks import PlaybookStore
from longtail.web.views._shared import engine_of
from longtail.web.views.portfolio import active_arr

RECENT_DAYS = 30


@dataclass(frozen=True)
class SegmentRow:
    segment_id: str
    description: str
    when: str | None
    all_of: tuple[str, ...]
    any_of: tuple[str, ...]
    none_of: tuple[str, ...]
    members: int
    arr: float
    entered_recently: int
    left_recently: int


@dataclass(frozen=True)
class SegmentsView:
    as_of: date
    recent_days: int
    segments: tuple[SegmentRow, ...]


@dataclass(frozen=True)
class BacktestRow:
    fires: int
    accounts: int
    precision: float | None
    lift: float | None
    recall: float | None
    lead_time_days: float | None
    period: str


@dataclass(frozen=True)
class PlaybookRow:
    playbook_id: str
    objective: str
    trigger: str
    enabled: bool
    audience: tuple[str, ...]
    exclude: tuple[str, ...]
    steps: tuple[str, ...]
    success_when: str | None
    success_horizon_days: int | None
    hits: int
    accounts: int
    hits_recently: int
    success_checked: int
    success_succeeded: int
    success_pending: int
    success_rate: float | None
    backtest: BacktestRow | None


@dataclass(frozen=True)
class PlaybooksView:
    as_of: date
    recent_days: int
    playbooks: tuple[PlaybookRow, ...]
    backtest_note: str


def segments_view(ws: Workspace, as_of: date) -> SegmentsView:
    """Every segment of the motion with its current members, their ARR on `as_of`, and recent entries and exits."""
    motion = workspace_motion(ws)
    ensure_snapshots(ws)
    arr = active_arr(pq.read_table(ws.tables_dir / "subscriptions.parquet",
                                   columns=["account_id", "start_date", "end_date", "arr"]), as_of)
    t = tables.segment_membership
    since = as_of - timedelta(days=RECENT_DAYS)
    with engine_of(ws).connect() as conn:
        members: dict[str, list[str]] = {}
        for segment, account in conn.execute(select(t.c.segment_id, t.c.account_id).where(t.c.left.is_(None))):
            members.setdefault(segment, []).append(account)
        entered: dict[str, int] = {k: int(n) for k, n in conn.execute(select(t.c.segment_id, func.count()).where(
            t.c.entered > since, t.c.entered <= as_of).group_by(t.c.segment_id))}
        left: dict[str, int] = {k: int(n) for k, n in conn.execute(select(t.c.segment_id, func.count()).where(
            t.c.left > since, t.c.left <= as_of).group_by(t.c.segment_id))}
    rows = []
    for s in motion.segments:
        ids = members.get(s.id, [])
        rows.append(SegmentRow(s.id, s.description, s.when, tuple(s.all_of), tuple(s.any_of), tuple(s.none_of),
                               len(ids), sum(arr.get(a, 0.0) for a in ids), int(entered.get(s.id, 0)),
                               int(left.get(s.id, 0))))
    return SegmentsView(as_of, RECENT_DAYS, tuple(rows))


def playbooks_view(ws: Workspace, as_of: date, backtest: Mapping[str, Any] | None = None) -> PlaybooksView:
    """Every playbook: definition, hits (all time and recent), measured success rate, and its row of
    `backtest` (a report as `longtail backtest --format json` prints it, kept by `runner.backtest_store`) when
    one is given.
    """
    motion = workspace_motion(ws)
    engine = engine_of(ws)
    measured = PlaybookStore(engine).summary()
    h = tables.playbook_hits
    with engine.connect() as conn:
        recent: dict[str, int] = {k: int(n) for k, n in conn.execute(select(h.c.playbook_id, func.count()).where(
            h.c.day > as_of - timedelta(days=RECENT_DAYS), h.c.day <= as_of).group_by(h.c.playbook_id))}
    tested = {str(p["id"]): p for p in (backtest or {}).get("playbooks", [])}
    period = f"{backtest.get('from')} to {backtest.get('to')}" if backtest else ""
    rows = []
    for book in motion.playbooks:
        m = measured.get(book.id, {})
        checked, succeeded = int(m.get("checked", 0)), int(m.get("succeeded", 0))
        t = tested.get(book.id)
        rows.append(PlaybookRow(
            playbook_id=book.id, objective=book.objective, trigger=book.trigger, enabled=book.enabled,
            audience=tuple(book.audience), exclude=tuple(book.exclude), steps=tuple(s.type for s in book.steps),
            success_when=book.success.when if book.success else None,
            success_horizon_days=book.success.horizon_days if book.success else None,
            hits=int(m.get("hits", 0)), accounts=int(m.get("accounts", 0)), hits_recently=int(recent.get(book.id, 0)),
            success_checked=checked, success_succeeded=succeeded, success_pending=int(m.get("pending", 0)),
            success_rate=succeeded / checked if checked else None,
            backtest=None if t is None else BacktestRow(int(t["fires"]), int(t["accounts"]), t.get("precision"),
                                                        t.get("lift"), t.get("recall"), t.get("lead_time_days"),
                                                        period)))
    note = f"backtest {period}" if backtest else "no backtest kept: run `longtail backtest` to measure playbooks"
    if backtest and backtest.get("motion_hash") != motion.hash:
        note += " (the motion has changed since: run `longtail backtest` again)"
    return PlaybooksView(as_of, RECENT_DAYS, tuple(rows), note)
