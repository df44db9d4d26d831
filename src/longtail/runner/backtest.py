"""Replay the motion over history without sending or storing anything, and score each playbook against churn.

Each evaluated day goes through the same steps as `run` (features, health, tiers, segments, triggers with
cooldowns and caps, playbook audiences), with state kept in memory instead of the store. The fires of each
playbook are then measured by `longtail.core.motion.backtest` against the churns found in the subscriptions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import ibis
import pyarrow as pa
import pyarrow.compute as pc

from longtail.analytics.connect import connect, workspace_feature_defs
from longtail.analytics.features import feature_series
from longtail.analytics.health_run import customers, score_batches
from longtail.core.features import AnalyticTables
from longtail.core.health.columnar import PREVIOUS_COLUMNS
from longtail.core.motion.backtest import (
    DEFAULT_HORIZON_DAYS,
    band_stats,
    outcomes_from_subscriptions,
    population_from_subscriptions,
    rule_stats,
)
from longtail.core.motion.load import Motion
from longtail.core.motion.success import SuccessCheck, SuccessOutcome, check_success, split_due, success_rate
from longtail.errors import UsageError
from longtail.predict.scoring import with_null_scores
from longtail.runner import evaluate as ev
from longtail.runner.daily import Context, context
from longtail.runner.frame import day_table, health_frame, in_day, result_scores, stack_scores
from longtail.settings import Workspace

MAX_EVALUATIONS = 2_000
_BANDS = pa.schema([("day", pa.date32()), ("account_id", pa.string()),
                    ("band", pa.dictionary(pa.int32(), pa.string()))])


@dataclass
class _State:
    """What the store would hold between days, kept in memory for the replay."""

    health: pa.Table | None = None  # PREVIOUS_COLUMNS: each account's latest results
    scores: dict[date, pa.Table | None] = field(default_factory=dict)  # account_id, score by day (last 30 days)
    tiers: dict[str, str] = field(default_factory=dict)
    previous: pa.Table | None = None
    previous_day: date | None = None
    history: dict[str, dict[str, list[date]]] = field(default_factory=dict)
    fires: dict[str, set[tuple[date, str]]] = field(default_factory=dict)
    bands: list[pa.Table] = field(default_factory=list)  # _BANDS per evaluated day: Arrow, not a Python tuple per
    # account and day, which a year of a large book would not fit
    pending: list[SuccessCheck] = field(default_factory=list)
    outcomes: list[SuccessOutcome] = field(default_factory=list)


def evaluation_days(first: date, last: date, every: int) -> list[date]:
    if every < 1:
        raise UsageError("--every must be at least 1 day")
    if last < first:
        raise UsageError(f"--to ({last}) must not be before --from ({first})")
    days = [first + timedelta(days=i) for i in range(0, (last - first).days + 1, every)]
    if len(days) > MAX_EVALUATIONS:
        raise UsageError(f"{len(days)} evaluation days; the limit is {MAX_EVALUATIONS} (use a larger --every)")
    return days


def _remember(state: _State, day: date, results: list[pa.Table]) -> None:
    """Keep the day's results as the previous state of their accounts (an account not scored today keeps its
    older state), and its scores for the 7- and 30-day changes."""
    today = pa.concat_tables([r.select(list(PREVIOUS_COLUMNS)) for r in results]) if results else None
    if today is not None and state.health is not None:
        kept = state.health.filter(pc.invert(pc.is_in(state.health.column("account_id"),
                                                       value_set=today.column("account_id"))))
        today = pa.concat_tables([kept, today])
    state.health = today if today is not None else state.health
    state.scores[day] = pa.concat_tables([r.select(["account_id", "score"]) for r in results]) if results else None
    for old in [d for d in state.scores if (day - d).days > 30]:
        del state.scores[old]


def _day(ctx: Context, con: ibis.BaseBackend, tables: AnalyticTables, day: date, table: pa.Table, *,
         state: _State) -> None:
    ws, motion = ctx.ws, ctx.motion
    # Today's models did not exist on a past day (and scoring it with them would be in-sample), so model scores
    # are NULL in a backtest; conditions reading them still evaluate, to unknown.
    features = with_null_scores(customers(table))
    week = state.scores.get(day - timedelta(days=7))
    month = state.scores.get(day - timedelta(days=30))
    parts, kept = [], []
    # batch by batch: of each batch only what the replay needs is kept (memory), and the previous state is
    # replaced once the whole day is scored
    for results in score_batches(features, ctx.cards, state.health, day):
        kept.append(results.select(list(PREVIOUS_COLUMNS)).append_column("score", results.column("score")))
        parts.append(result_scores(results))
    _remember(state, day, kept)
    scores = stack_scores(parts)
    state.bands.append(pa.table({"day": pa.array([day] * scores.num_rows, pa.date32()),
                                 "account_id": scores.column("account_id"),
                                 "band": scores.column("band").dictionary_encode()}, schema=_BANDS))
    today = day_table(features, health_frame(scores, week, month), ctx.fields)
    today, assigned = ev.with_tiers(con, today, motion, previous=state.tiers, overrides=(), day=day)
    if assigned is not None:
        state.tiers = dict(zip(assigned.column("account_id").to_pylist(), assigned.column("tier").to_pylist(),
                               strict=True))
    today = ev.with_segments(con, today, motion)
    _check_due(state, motion, today, day)
    fires, _ = ev.condition_fires(con, today, state.previous, motion, day)
    since = state.previous_day if state.previous_day is not None else day - timedelta(days=1)
    fires += in_day(ev.event_trigger_fires(con, tables, motion, day=day, since=since, tz=ws.settings.timezone,
                                           milestones=ctx.milestones), today)
    fires = ev.apply_throttle(fires, motion, state.history, day)
    for fire in fires:
        if fire.allowed:
            state.history.setdefault(fire.signal_id, {}).setdefault(fire.account_id, []).append(day)
    for hit in ev.playbook_hits(fires, motion, today):
        state.fires.setdefault(hit.playbook.id, set()).add((day, hit.account_id))
        if hit.playbook.success is not None:
            state.pending.append(SuccessCheck.of(hit.playbook.id, hit.account_id, day,
                                                 hit.playbook.success.horizon_days))
    state.previous, state.previous_day = today, day


def _check_due(state: _State, motion: Motion, today: pa.Table, day: date) -> None:
    """Check the success of hits that reached their horizon, on this day's rows."""
    due, state.pending = split_due(state.pending, day)
    if not due:
        return
    wanted = pa.array(sorted({c.account_id for c in due}), pa.string())
    rows = {r["account_id"]: r for r in today.filter(pc.is_in(today.column("account_id"), value_set=wanted))
            .to_pylist()}
    conditions = {b.id: motion.conditions[f"success:{b.id}"] for b in motion.playbooks if b.success is not None}
    state.outcomes += check_success(due, conditions, rows, day)


def _fires_table(pairs: set[tuple[date, str]]) -> pa.Table:
    ordered = sorted(pairs)
    return pa.table({"day": pa.array([d for d, _ in ordered], pa.date32()),
                     "account_id": pa.array([a for _, a in ordered], pa.string())})


def backtest(ws: Workspace, first: date, last: date, *, every: int = 1, horizon_days: int = DEFAULT_HORIZON_DAYS,
             playbook: str | None = None) -> dict[str, Any]:
    """Per playbook: fires, accounts, precision, recall, lead time and CTA load over [first, last]."""
    if horizon_days < 1:
        raise UsageError("--horizon must be at least 1 day")
    days = evaluation_days(first, last, every)
    ctx = context(ws)
    books = [b for b in ctx.motion.playbooks if b.enabled and (playbook is None or b.id == playbook)]
    if playbook is not None and not books:
        known = ", ".join(b.id for b in ctx.motion.playbooks) or "none"
        raise UsageError(f"no enabled playbook {playbook!r} (playbooks: {known})")
    defs = workspace_feature_defs(ws)
    state = _State()
    with connect(ws) as (con, tables):
        for day, table in feature_series(con, tables, days, defs, tz=ctx.ws.settings.timezone):
            _day(ctx, con, tables, day, table, state=state)
        subs = con.to_pyarrow(tables.subscriptions)
        data_end = _data_end(con, tables, last)
    outcomes = outcomes_from_subscriptions(subs, data_end)
    population = population_from_subscriptions(subs, days)
    csms = max(1, len(ctx.team.csms()))
    report = []
    for book in books:
        stats = rule_stats(_fires_table(state.fires.get(book.id, set())), outcomes, population,
                           horizon_days=horizon_days, start=first, end=last, csm_count=csms)
        entry = {"id": book.id, "trigger": book.trigger, "objective": book.objective, **stats.as_dict()}
        if book.success is not None:
            rate = success_rate([o for o in state.outcomes if o.check.playbook_id == book.id],
                                sum(1 for c in state.pending if c.playbook_id == book.id))
            entry.update({"success_when": book.success.when, "success_horizon_days": book.success.horizon_days,
                          **rate.as_dict()})
        report.append(entry)
    health = pa.concat_tables(state.bands) if state.bands else _BANDS.empty_table()
    bands = sorted(str(b) for b in pc.unique(pc.cast(health.column("band"), pa.string())).to_pylist())
    band_report = [{"band": b, **band_stats(health, b, outcomes, population, horizon_days=horizon_days, start=first,
                                            end=last, csm_count=csms).as_dict()} for b in bands]
    base = next((r["base_rate"] for r in report), None) if report else (
        band_report[0]["base_rate"] if band_report else None)
    return {"from": first.isoformat(), "to": last.isoformat(), "every_days": every, "horizon_days": horizon_days,
            "evaluations": len(days), "data_end": data_end.isoformat(), "csm_count": csms,
            "motion_hash": ctx.motion.hash, "base_rate": base, "playbooks": report, "health_bands": band_report}


def _data_end(con: ibis.BaseBackend, tables: AnalyticTables, last: date) -> date:
    """The last day the data covers (the latest event's day); churn after it is unknown, so fires are censored."""
    latest = con.to_pyarrow(tables.events.select(ts=tables.events.ts.max())).column("ts")[0].as_py()
    return latest.date() if latest is not None else last
