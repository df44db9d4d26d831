"""The daily cycle: score, tiers, segments, triggers, playbooks, CTAs and routing, planned then applied.

`plan_day` decides everything and changes nothing; `run_day` computes the same plan and applies it (safe to
run twice for the same day: every step replaces or de-duplicates what that day already wrote).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from longtail.analytics import health_store
from longtail.analytics.connect import connect, ensure_snapshots, workspace_feature_defs
from longtail.analytics.health_run import checked_features, score_day, workspace_scorecards
from longtail.analytics.motion_source import workspace_motion
from longtail.channels.workspace import push_channel
from longtail.core.health import ScorecardSet
from longtail.core.motion.ctas import (
    CloseCta,
    Cta,
    CtaEffect,
    CtaRequest,
    HoldDecision,
    escalate,
    hold_if_flooding,
    plan_ctas,
)
from longtail.core.motion.definitions import ConditionTrigger, Playbook
from longtail.core.motion.load import Motion
from longtail.core.motion.routing import Escalation, OpenCtaView, Team, Workload, escalations, route
from longtail.core.motion.segments import membership_changes
from longtail.core.motion.success import SuccessCheck, SuccessOutcome, check_success
from longtail.core.motion.tiers import Override
from longtail.dispatch import PUSH_CHANNELS, dispatch
from longtail.predict import score_store
from longtail.runner import evaluate as ev
from longtail.runner.alerts import log_alerts, plan_alerts
from longtail.runner.effects import attribute_writes, cta_requests, owner_requests, step_effects
from longtail.runner.frame import (
    DayTables,
    account_fields,
    data_version,
    day_table,
    health_frame,
    in_day,
    motion_fields,
    stored_health,
    with_motion_attributes,
)
from longtail.runner.journeys import (
    JourneyContext,
    JourneyPlan,
    apply_journeys,
    entries,
    journey_context,
    plan_journeys,
    tick_instant,
)
from longtail.settings import Workspace
from longtail.store.db import make_engine, migrate
from longtail.store.entities import account_names
from longtail.store.motion import MotionStore
from longtail.store.motion_attributes import AttributeWrite, MotionAttributeStore
from longtail.store.outbox import OutboxStore
from longtail.store.playbooks import HitRow, PlaybookStore

log = logging.getLogger(__name__)


@dataclass
class DayPlan:
    """Everything a day of the motion would do, each with its reason."""

    as_of: date
    motion_hash: str
    accounts: int
    tier_changes: list[dict[str, Any]] = field(default_factory=list)
    entered: dict[str, list[str]] = field(default_factory=dict)
    left: dict[str, list[str]] = field(default_factory=dict)
    fires: list[ev.Fire] = field(default_factory=list)
    steps: list[dict[str, Any]] = field(default_factory=list)
    cta_effects: tuple[CtaEffect, ...] = ()
    owners: dict[str, tuple[str | None, str]] = field(default_factory=dict)
    escalations: list[Escalation] = field(default_factory=list)
    hold: HoldDecision | None = None
    cursors: dict[str, str] = field(default_factory=dict)
    hits: list[HitRow] = field(default_factory=list)
    success: list[SuccessOutcome] = field(default_factory=list)
    journeys: JourneyPlan | None = None
    dispatched: dict[str, int] = field(default_factory=dict)
    alerts: dict[str, int] = field(default_factory=dict)
    """alerts_posted (Slack posts enqueued; 0 when a re-run finds them already there) and alerts_logged."""
    attributes: list[AttributeWrite] = field(default_factory=list)
    """Values the set_attribute steps write (valid from the next day); the steps say why each other was not."""

    def counts(self) -> dict[str, Any]:
        kinds: dict[str, int] = {}
        for effect in self.cta_effects:
            kinds[type(effect).__name__] = kinds.get(type(effect).__name__, 0) + 1
        return {
            "accounts": self.accounts, "tier_changes": len(self.tier_changes),
            "segment_entries": sum(len(v) for v in self.entered.values()),
            "segment_exits": sum(len(v) for v in self.left.values()),
            "fires": sum(f.allowed for f in self.fires), "suppressed": sum(not f.allowed for f in self.fires),
            "ctas_created": kinds.get("CreateCta", 0), "ctas_refreshed": kinds.get("RefreshCta", 0),
            "ctas_closed": kinds.get("CloseCta", 0), "ctas_woken": kinds.get("WakeCta", 0),
            "escalations": len(self.escalations), "held": bool(self.hold and self.hold.held),
            "other_steps": len(self.steps), "playbook_hits": len(self.hits),
            "success_checked": len(self.success), "success_succeeded": sum(o.success for o in self.success),
            "attributes_set": len(self.attributes),
            **(self.journeys.counts() if self.journeys else {}), **self.alerts, **self.dispatched,
        }


def open_store(ws: Workspace) -> MotionStore:
    engine = make_engine(ws.database_url)
    migrate(engine)
    return MotionStore(engine)


def team_of(ws: Workspace) -> Team:
    ensure_snapshots(ws)
    path = ws.tables_dir / "team.parquet"
    return Team.from_rows(pq.read_table(path).to_pylist() if path.is_file() else [])


def _accounts(ws: Workspace) -> pa.Table:
    ensure_snapshots(ws)
    return pq.read_table(ws.tables_dir / "accounts.parquet")


@dataclass
class Context:
    """What a day needs that does not change from day to day."""

    ws: Workspace
    motion: Motion
    cards: ScorecardSet
    team: Team
    fields: pa.Table
    milestones: tuple[str, ...]
    journeys: JourneyContext | None = None
    days: DayTables = field(default_factory=DayTables)
    """Day tables computed by earlier days of this context, for as long as the data they came from is unchanged."""


def context(ws: Workspace) -> Context:
    motion = workspace_motion(ws)
    defs = workspace_feature_defs(ws)
    fields = motion_fields(account_fields(_accounts(ws), motion.account_attributes,
                                          motion.team.routing.named_csm_attribute), motion.attribute_types)
    return Context(ws, motion, workspace_scorecards(ws), team_of(ws), fields, defs.milestone_events,
                   journey_context(ws, motion, defs.names))


def _day_table(ctx: Context, day: date, store: MotionStore, *, store_health: bool) -> pa.Table:
    """Features, health, account fields and motion-set attributes of `day`; with `store_health` the day's health is
    scored and stored, otherwise a table this context already computed from the same data is reused."""
    version = data_version(ctx.ws)
    cached = None if store_health else ctx.days.get(day, version)
    if cached is not None:
        return _with_set_attributes(ctx, cached, day, store)
    features = checked_features(ctx.ws, day)
    if store_health:
        scores = score_day(ctx.ws, day, ctx.cards, features)
        # What the models said today, with the model and its reasons, for the account page (no model: no file).
        score_store.write_day(ctx.ws, day, score_store.score_rows(ctx.ws, features))
    else:
        scores = stored_health(ctx.ws, day, features, ctx.cards)
    week, month = health_store.earlier_scores(ctx.ws, day)
    table = day_table(features, health_frame(scores, week, month), ctx.fields)
    # Scoring in memory continues the same stored history as scoring and storing: either way the table is the same.
    ctx.days.put(day, version, table)
    return _with_set_attributes(ctx, table, day, store)


def _with_set_attributes(ctx: Context, table: pa.Table, day: date, store: MotionStore) -> pa.Table:
    """The values set_attribute steps stored that are in force on `day` (set by runs of earlier days), added after
    the cache: runs write them between days, and the data fingerprint of the cache does not see the database."""
    types = ctx.motion.attribute_types
    if not types:
        return table
    stored = MotionAttributeStore(store.engine).as_of(day, types)
    # A value stored when the attribute had another type is unknown now, as a missing one is.
    values = {k: v.value for k, v in stored.items() if v.value_type == types[k[1]]}
    return with_motion_attributes(table, types, values)


def journey_triggers(jc: JourneyContext | None) -> set[str]:
    """Triggers a journey enters on: evaluated even when no playbook uses them."""
    if jc is None:
        return set()
    return {j.entry.trigger for j in jc.journeys.journeys.values() if j.entry.trigger is not None}


def plan_day(ws: Workspace, day: date, *, ctx: Context | None = None, store: MotionStore | None = None,
             store_health: bool = False) -> DayPlan:
    """Decide the day. With `store_health` the day's health is also stored (that is what `run` does)."""
    ctx = ctx or context(ws)
    store = store or open_store(ws)
    motion = ctx.motion
    plan = DayPlan(day, motion.hash, 0)
    today = _day_table(ctx, day, store, store_health=store_health)
    previous_day = day - timedelta(days=1)
    # The previous day decides the edges; an account absent from it (not a customer yet) starts as false.
    yesterday = _day_table(ctx, previous_day, store, store_health=False)
    overrides = [Override(o.account_id, o.tier, o.reason, o.expires) for o in store.overrides(day).values()]
    with connect(ws) as (con, tables):
        previous_tiers = store.current_tiers()
        today, assigned = ev.with_tiers(con, today, motion, previous=previous_tiers, overrides=overrides, day=day)
        yesterday, _ = ev.with_tiers(con, yesterday, motion, previous=previous_tiers, overrides=overrides,
                                     day=previous_day)
        yesterday = ev.with_segments(con, yesterday, motion)
        today = ev.with_segments(con, today, motion)
        entering = journey_triggers(ctx.journeys)
        fires, holds = ev.condition_fires(con, today, yesterday, motion, day, also=entering)
        fires += in_day(ev.event_trigger_fires(con, tables, motion, day=day, since=_since(store, day),
                                               tz=ws.settings.timezone, milestones=ctx.milestones, also=entering),
                        today)
    plan.accounts = today.num_rows
    _plan_tiers(plan, assigned)
    _plan_segments(plan, store, today, motion)
    plan.fires = ev.apply_throttle(fires, motion, _history(store, fires, motion, day), day)
    hits = ev.playbook_hits(plan.fires, motion, today)
    plan.hits = [HitRow(h.playbook.id, h.account_id, day, motion.hash_of(f"playbook:{h.playbook.id}"),
                        h.fire.signal_id, day + timedelta(days=h.playbook.success.horizon_days)
                        if h.playbook.success else None) for h in hits]
    plan.success = _success(PlaybookStore(store.engine).due(day), motion, today, day)
    plan.steps = step_effects(hits, day)
    plan.attributes = _plan_attributes(plan.steps, motion, day, store)
    requests = cta_requests(hits, motion, day)
    if ctx.journeys is not None:
        want = entries(ctx.journeys, plan.steps, plan.fires, plan.entered)
        plan.journeys = plan_journeys(ctx.journeys, store.engine, day, today, want=want, tz=ws.settings.timezone)
        requests += plan.journeys.ctas
    _plan_ctas(plan, ctx, store, today, requests=requests, cleared=_cleared(store, motion, holds))
    return plan


def _plan_attributes(steps: list[dict[str, Any]], motion: Motion, day: date, store: MotionStore
                     ) -> list[AttributeWrite]:
    names = {str(s["name"]) for s in steps if s.get("type") == "set_attribute"}
    if not names:
        return []
    accounts = {str(s["account_id"]) for s in steps if s.get("type") == "set_attribute"}
    # What is in force the day the writes would start, including an earlier run of this same day.
    current = MotionAttributeStore(store.engine).as_of(day + timedelta(days=1), names, accounts)
    return attribute_writes(steps, motion, day, current)


def _success(due: list[SuccessCheck], motion: Motion, today: pa.Table, day: date) -> list[SuccessOutcome]:
    """Check hits whose success horizon has come against today's rows (playbooks since removed are skipped)."""
    conditions = {b.id: motion.conditions[f"success:{b.id}"] for b in motion.playbooks if b.success is not None}
    due = [c for c in due if c.playbook_id in conditions]
    if not due:
        return []
    wanted = pa.array(sorted({c.account_id for c in due}), pa.string())
    rows = {r["account_id"]: r for r in today.filter(pc.is_in(today.column("account_id"), value_set=wanted))
            .to_pylist()}
    return check_success(due, conditions, rows, day)


CATCH_UP_DAYS = 31


def _since(store: MotionStore, day: date) -> date:
    """Event triggers look at the days after the last completed run (up to a month back), so a skipped day's
    events are not lost; without an earlier run, at the day itself."""
    earlier: list[date] = [r["as_of"] for r in store.runs() if r.get("status") == "done" and r["as_of"] < day]
    last = max(earlier, default=None)
    if last is None or (day - last).days > CATCH_UP_DAYS:
        return day - timedelta(days=1)
    return last


def _plan_tiers(plan: DayPlan, assigned: pa.Table | None) -> None:
    if assigned is None:
        return
    changed = assigned.filter(assigned.column("changed"))
    plan.tier_changes = [{"account_id": r["account_id"], "from": r["previous_tier"], "to": r["tier"],
                          "reason": r["reason"]} for r in changed.to_pylist()]


def _plan_segments(plan: DayPlan, store: MotionStore, today: pa.Table, motion: Motion) -> None:
    names = [*motion.segment_ids(), *motion.tier_names()]
    stored = [(s, a) for s in names for a in sorted(store.membership(s))]
    previous = pa.table({"segment_id": pa.array([s for s, _ in stored], pa.string()),
                         "account_id": pa.array([a for _, a in stored], pa.string())})
    flags = today.select(["account_id", *[c for c in today.column_names if c.startswith("seg_")]])
    entered, left = membership_changes(previous, flags)
    for row in entered.to_pylist():
        plan.entered.setdefault(row["segment_id"], []).append(row["account_id"])
    for row in left.to_pylist():
        plan.left.setdefault(row["segment_id"], []).append(row["account_id"])


def _history(store: MotionStore, fires: list[ev.Fire], motion: Motion, day: date
             ) -> dict[str, dict[str, list[date]]]:
    """Earlier allowed fires of each fired signal, as far back as its cooldown and cap look."""
    history: dict[str, dict[str, list[date]]] = {}
    for signal in sorted({f.signal_id for f in fires}):
        trig = motion.triggers[next(f.trigger_id for f in fires if f.signal_id == signal)]
        look = max(trig.cooldown_days, trig.cap.per_days if trig.cap else 0)
        if look == 0:
            continue
        accounts = {f.account_id for f in fires if f.signal_id == signal}
        for row in store.fires_between(signal, accounts, day - timedelta(days=look), day - timedelta(days=1)):
            if row["suppressed_reason"] is None:
                history.setdefault(signal, {}).setdefault(row["account_id"], []).append(row["day"])
    return history


def _cleared(store: MotionStore, motion: Motion, holds: Mapping[str, set[str]]) -> set[tuple[str, str, str]]:
    """Keys of active CTAs whose playbook's condition trigger no longer holds for the account."""
    books: dict[str, Playbook] = {b.id: b for b in motion.playbooks}
    cleared: set[tuple[str, str, str]] = set()
    for cta in store.open_ctas():
        book = books.get(cta.playbook_id)
        # A disabled playbook's trigger is not evaluated, so silence is not "cleared": its CTAs stay as they are.
        if book is None or not book.enabled or not isinstance(motion.triggers.get(book.trigger), ConditionTrigger):
            continue
        if cta.account_id not in holds.get(book.trigger, set()):
            cleared.add(cta.key)
    return cleared


def _plan_ctas(plan: DayPlan, ctx: Context, store: MotionStore, today: pa.Table, *, requests: list[CtaRequest],
               cleared: set[tuple[str, str, str]]) -> None:
    routing = ctx.motion.team.routing
    open_ctas = store.open_ctas()
    effects = plan_ctas(requests, open_ctas, plan.as_of, cleared=cleared)
    effects, plan.hold = hold_if_flooding(effects, routing.volume_alarm)
    plan.cta_effects = effects
    workload = Workload(open_ctas=_open_counts(open_ctas), cursors=_cursors(store))
    assignments, after = route(owner_requests(effects, today, store.list_ctas(), ctx.motion), ctx.team, workload,
                               max_open_ctas=routing.max_open_ctas)
    # Nobody in the pool has room: the CTA goes to the tier's team lead rather than to no one (the reason says why).
    plan.owners = {a.key: (a.owner_id, a.reason) if a.owner_id or not a.escalate_to else
                   (a.escalate_to, f"{a.reason}; given to the team lead") for a in assignments}
    plan.cursors = dict(after.cursors)
    if routing.escalate_after_days is not None:
        tiers = dict(zip(today.column("account_id").to_pylist(), today.column("tier").to_pylist(), strict=True))
        closing = {e.cta_id for e in effects if isinstance(e, CloseCta)}  # closed today: nothing to escalate
        views = [OpenCtaView(c.cta_id, c.owner_id, tiers.get(c.account_id), c.due, c.status, c.escalated_to)
                 for c in open_ctas if c.cta_id not in closing]
        plan.escalations = escalations(views, ctx.team, plan.as_of, routing.escalate_after_days)


def _open_counts(ctas: list[Cta]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for cta in ctas:
        if cta.owner_id:
            counts[cta.owner_id] = counts.get(cta.owner_id, 0) + 1
    return counts


def _cursors(store: MotionStore) -> dict[str, str]:
    runs = [r for r in store.runs() if r.get("status") == "done"]
    if not runs:
        return {}
    latest = max(runs, key=lambda r: (r["as_of"], str(r["finished_at"])))
    cursors = (latest.get("counts") or {}).get("cursors") or {}
    return {str(k): str(v) for k, v in cursors.items()}


def run_day(ws: Workspace, day: date, *, ctx: Context | None = None, store: MotionStore | None = None,
            send: bool = True) -> DayPlan:
    """Plan the day and apply it: fires, memberships, tiers, CTAs with owners, escalations, journeys (their
    messages go to the outbox, then out through the workspace's email channel unless `send` is false)."""
    ctx = ctx or context(ws)
    store = store or open_store(ws)
    # Every execution gets its own record; a second run of the same day is a new run that changes nothing.
    attempt = sum(1 for r in store.runs() if r["as_of"] == day) + 1
    run_id = f"{day.isoformat()}-{ctx.motion.hash[:8]}-{attempt}"
    store.start_run(run_id, day, ctx.motion.hash)
    plan = plan_day(ws, day, ctx=ctx, store=store, store_health=True)
    _apply(plan, store, ctx)
    if send:
        plan.dispatched = _dispatch(ws, store, day)
    store.finish_run(run_id, "done", {**plan.counts(), "cursors": plan.cursors})
    return plan


def _apply(plan: DayPlan, store: MotionStore, ctx: Context) -> None:
    day = plan.as_of
    signals = {s.signal_id for s in ev.condition_signals(ctx.motion)[0]} | set(ctx.motion.triggers)
    store.record_fires([{"signal_id": f.signal_id, "account_id": f.account_id, "day": day,
                         "definition_hash": f.definition_hash, "inputs": f.inputs,
                         "suppressed_reason": None if f.allowed else f.reason} for f in plan.fires],
                       replace={(s, day) for s in signals})
    for segment in sorted(set(plan.entered) | set(plan.left)):
        key = f"segment:{segment}"
        digest = ctx.motion.hash_of(key) if key in ctx.motion.defined else ctx.motion.hash_of("tiers")
        store.apply_membership(segment, plan.entered.get(segment, []), plan.left.get(segment, []), day, digest)
    if plan.tier_changes:
        store.apply_tiers({c["account_id"]: (c["to"], c["reason"]) for c in plan.tier_changes}, day)
    store.apply_effects(plan.cta_effects, day, owners=plan.owners)
    playbooks = PlaybookStore(store.engine)
    playbooks.record_hits(day, plan.hits)
    playbooks.record_outcomes(plan.success)
    moved = []
    for item in plan.escalations:
        cta = store.get_cta(item.cta_id)
        if cta is not None and item.to_member is not None:
            moved.append(escalate(cta, item.to_member, day, item.reason))
    store.save_ctas(moved, "escalate", "motion")
    if plan.journeys is not None:
        apply_journeys(plan.journeys, store.engine, day, ctx.ws.settings.timezone)
    plan.alerts = _alert(plan, store, ctx)
    _set_attributes(plan, store)


def _set_attributes(plan: DayPlan, store: MotionStore) -> None:
    """Store the day's set_attribute values (a re-run finds them there and writes nothing)."""
    if not plan.attributes:
        return
    written = MotionAttributeStore(store.engine).record(plan.attributes, store.clock())
    for w in plan.attributes:
        log.info("set_attribute: %s motion_%s = %r from %s (%s)", w.account_id, w.name, w.value,
                 w.valid_from.isoformat(), w.reason)
    if written != len(plan.attributes):  # another run of the day got there between plan and apply
        log.warning("set_attribute: %d of %d values were already stored for %s", len(plan.attributes) - written,
                    len(plan.attributes), plan.as_of.isoformat())


def _alert(plan: DayPlan, store: MotionStore, ctx: Context) -> dict[str, int]:
    """Carry out the day's alert steps: Slack posts into the outbox (sent by the dispatch), the rest logged."""
    if not any(s.get("type") == "alert" for s in plan.steps):
        return {}
    ids = sorted({str(s["account_id"]) for s in plan.steps if s.get("type") == "alert"})
    names = account_names(store.engine, ids)
    at = tick_instant(plan.as_of, ctx.ws.settings.timezone)
    alerts = plan_alerts(plan.steps, names, at)
    log_alerts(alerts.logged, names)
    posted, _ = OutboxStore(store.engine).enqueue(alerts.posts, now=at) if alerts.posts else (0, 0)
    return {"alerts_posted": posted, "alerts_logged": len(alerts.logged)}


_PREFIX = {"email": "emails", "webhook": "webhooks", "slack": "slack"}
"""Count keys per channel in a run's summary (emails_sent as before)."""


def _dispatch(ws: Workspace, store: MotionStore, day: date) -> dict[str, int]:
    """Send the emails, webhooks and Slack posts due by the day's tick (a message held for quiet hours goes out
    on a later run); in-app messages wait for the product to fetch them."""
    at = tick_instant(day, ws.settings.timezone)
    outbox = OutboxStore(store.engine)
    counts: dict[str, int] = {}
    for name in PUSH_CHANNELS:
        if not outbox.has_due(name, at):
            continue  # no channel set-up (an SMTP connection, a webhook secret) for a channel with nothing to send
        channel = push_channel(ws, name)
        try:
            sent = dispatch(outbox, channel, f"run-{day.isoformat()}", lambda: at, channel_name=name)
        finally:
            channel.close()
        counts.update({f"{_PREFIX.get(name, name)}_{k}": v for k, v in asdict(sent).items()})
    return counts
