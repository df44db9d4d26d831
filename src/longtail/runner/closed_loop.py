"""The closed loop: the simulated world and the motion, one day at a time, each reacting to the other.

    summary = run_closed_loop(ws, SimConfig(accounts=2000, days=365, seed=7), warmup_days=275, loop_days=90)

First `warmup_days` of history are simulated without outreach and loaded in bulk. Then, for each loop day D:

1. the interventions queued the day before (messages sent through the `sim` channel, CTAs worked by the
   simulated CSMs) are applied by `World.step(D)`; its responses come back as engagement events
   (delivered, opened, clicked, replied, unsubscribed; a message that could not be delivered is a bounce);
2. the day's new rows (events, tickets, surveys, and the entity rows that changed) are written under
   `.longtail/loop/day-N/` and loaded with the ordinary loader;
3. `run_day(D)` runs the motion (health, tiers, segments, triggers, CTAs, journeys) and dispatches due email
   through the workspace's channel, which must be `sim`; due in-app messages go the same way;
4. simulated CSMs work their open CTAs, at most `csm_capacity` each per day, highest priority and earliest due
   first: each becomes a CSM task for the next day and is recorded done by actor "sim-csm".

The world is seeded, so `World(config)` stepped without interventions is the exact counterfactual
(`counterfactual`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from longtail.channels.inapp import EVENT_PREFIX as INAPP_EVENT_PREFIX
from longtail.channels.sim import TASK_OF_CTA, QueuedItem, SimChannel, SimQueue, sim_queue
from longtail.core.contract import LOAD_ORDER
from longtail.core.motion.ctas import Cta, complete, plan_follow_up
from longtail.dispatch import dispatch
from longtail.errors import ConfigError
from longtail.ingest.loader import load_files
from longtail.runner.daily import context, open_store, run_day
from longtail.runner.frame import data_version
from longtail.runner.journeys import tick_instant
from longtail.settings import Workspace
from longtail.sim import DayOutput, SimConfig, World
from longtail.sim import tables as sim_tables
from longtail.sim.support import SurveyBatch, TicketBatch
from longtail.sim.writer import TableWriter
from longtail.store.motion import MotionStore
from longtail.store.outbox import ALL_CHANNELS, OutboxStore

log = logging.getLogger(__name__)

LOOP_DIR = Path("loop")
ACTOR = "sim-csm"
DEFAULT_CSM_CAPACITY = 6
"""CTAs one simulated CSM works per day: a CSM's day holds a handful of real conversations."""

Progress = Callable[[str, int, int], None]
"""Called with (phase, done, total): phase is "warmup", "load" or "loop"."""

EMAIL_EVENT_PREFIX = "longtail.email."
"""Email responses land in the warehouse as `longtail.email.<kind>` (delivered, bounced, opened, clicked,
replied, unsubscribed), like the events an email provider's webhooks would bring, so features can count them."""
INAPP_EVENT_KINDS = ("viewed", "clicked", "dismissed")
"""In-app responses land as `longtail.inapp.<kind>`, the product actions the in-app API lands (it lands no
`delivered`: that is the product's fetch, not the contact's action)."""

_PRIORITY_RANK = {"urgent": 0, "high": 1, "medium": 2, "low": 3}
_ENTITY_KINDS = ("accounts", "contacts", "subscriptions")
_TICKET_COLS = ("account", "key", "opened_s", "closed_s", "priority", "status", "csat", "requester")


@dataclass
class LoopDay:
    """What happened on one loop day."""

    day: date
    messages_sent: int = 0
    ctas_created: int = 0
    ctas_worked: int = 0
    interventions: int = 0
    delivered: int = 0
    opened: int = 0
    clicked: int = 0
    replied: int = 0  # emails replied to (the simulator's reply_given_open)
    unsubscribed: int = 0
    rescues: int = 0  # CSM rescue calls that reached an account in a usage drop
    churned: int = 0  # accounts that churned or cancelled on this day
    arr: float = 0.0  # ARR of the live accounts at the end of the day
    seconds: float = 0.0


@dataclass
class LoopSummary:
    """The loop's per-day counts, and where the world ended."""

    config: SimConfig
    warmup_days: int
    loop_days: int
    days: list[LoopDay] = field(default_factory=list)
    warmup_seconds: float = 0.0
    churned_in_loop: int = 0
    arr_end: float = 0.0
    churned_accounts: tuple[str, ...] = ()

    def totals(self) -> dict[str, float]:
        """Sums over the loop days (ARR is the last day's)."""
        names = ("messages_sent", "ctas_created", "ctas_worked", "interventions", "delivered", "opened", "clicked",
                 "replied", "unsubscribed", "rescues", "churned")
        out: dict[str, float] = {n: float(sum(getattr(d, n) for d in self.days)) for n in names}
        out["arr_end"] = self.arr_end
        out["seconds_per_day"] = (sum(d.seconds for d in self.days) / len(self.days)) if self.days else 0.0
        return out


@dataclass(frozen=True)
class WorldOutcome:
    """Churn and ARR of a world over the loop window (for comparing treated and untreated runs)."""

    churned_in_loop: int
    arr_end: float
    churned_accounts: tuple[str, ...]


def run_closed_loop(ws: Workspace, config: SimConfig, *, warmup_days: int, loop_days: int,
                    progress: Progress | None = None, csm_capacity: int = DEFAULT_CSM_CAPACITY) -> LoopSummary:
    """Simulate `warmup_days` without outreach (loaded in bulk), then run `loop_days` in closed loop."""
    _check(ws, config, warmup_days, loop_days, csm_capacity)
    summary = LoopSummary(config, warmup_days, loop_days)
    began = time.perf_counter()
    world = World(config)
    vocab = sim_tables.Vocab(world)
    loop_dir = ws.state_dir / LOOP_DIR
    _warmup(ws, world, vocab, loop_dir / "warmup", days=warmup_days, progress=progress)
    loaded = _entity_rows(world, vocab)
    summary.warmup_seconds = time.perf_counter() - began
    queue = sim_queue(ws.state_dir)
    stale = queue.pending()
    if stale:
        # Left by an earlier, interrupted loop in this workspace: they belong to a world that is gone.
        log.warning("dropping %d interventions queued by an earlier loop", len(stale))
        queue.remove(stale)
    ctx = context(ws)  # built once: the motion, the team and the accounts' fields do not change in the loop
    store = open_store(ws)
    for n in range(loop_days):
        started = time.perf_counter()
        record = LoopDay(world.today)
        out, engagement = _step(world, queue, OutboxStore(store.engine), record)
        loaded = _load_day(ws, vocab, world, out, loaded=loaded, folder=loop_dir / f"day-{n + 1:03d}",
                           engagement=engagement)
        # The load added rows of this day only, so yesterday's table, computed by yesterday's run, still holds.
        ctx.days.advance(data_version(ws), out.day)
        plan = run_day(ws, out.day, ctx=ctx, store=store)
        counts = plan.counts()
        record.ctas_created = int(counts.get("ctas_created", 0))
        record.messages_sent = int(counts.get("emails_sent", 0)) + _dispatch_in_app(ws, store, queue, out.day)
        record.ctas_worked = len(work_ctas(store, queue, out.day, csm_capacity))
        record.arr = float(world.state.arr[world.state.live].sum())
        record.seconds = time.perf_counter() - started
        summary.days.append(record)
        if progress is not None:
            progress("loop", n + 1, loop_days)
    outcome = world_outcome(world, warmup_days)
    summary.churned_in_loop, summary.arr_end = outcome.churned_in_loop, outcome.arr_end
    summary.churned_accounts = outcome.churned_accounts
    return summary


def _check(ws: Workspace, config: SimConfig, warmup_days: int, loop_days: int, csm_capacity: int) -> None:
    if warmup_days < 1 or loop_days < 1:
        raise ConfigError(f"warmup_days and loop_days must be at least 1 (got {warmup_days}, {loop_days})")
    if config.days < warmup_days + loop_days:
        raise ConfigError(f"the simulation has {config.days} days; warmup {warmup_days} + loop {loop_days} "
                          "do not fit")
    if csm_capacity < 0:
        raise ConfigError(f"csm_capacity must not be negative (got {csm_capacity})")
    if ws.settings.email_channel != "sim":
        raise ConfigError("the closed loop sends through the simulator: set email_channel = \"sim\" "
                          "(or LONGTAIL_EMAIL_CHANNEL=sim) for this workspace")


def counterfactual(config: SimConfig, *, warmup_days: int, loop_days: int) -> WorldOutcome:
    """The same world without any outreach: churn and ARR over the loop window."""
    world = World(config)
    for _ in range(warmup_days + loop_days):
        world.step(world.today)
    return world_outcome(world, warmup_days)


def world_outcome(world: World, warmup_days: int) -> WorldOutcome:
    """Accounts that churned from day `warmup_days` on, and the live ARR now."""
    st = world.state
    gone = np.flatnonzero((st.churned_day >= warmup_days) & (st.churned_day < world.t))
    ids = tuple(sim_tables.Vocab(world).accounts.take(gone).to_pylist())
    return WorldOutcome(int(gone.size), float(st.arr[st.live].sum()), ids)


# ------------------------------------------------------------------------------------------------ the world


def _step(world: World, queue: SimQueue, outbox: OutboxStore, record: LoopDay) -> tuple[DayOutput, pa.Table]:
    """Apply yesterday's queued interventions, step the world, and record its responses; returns the day's
    output and the responses as warehouse events."""
    items = queue.pending()
    out = world.step(world.today, [i.intervention() for i in items])
    queue.remove(items)
    record.interventions = len(items)
    churned = out.renewals.cause >= 0
    record.churned = int(np.unique(out.renewals.account[churned]).size)
    rows = _record_responses(outbox, items, out.responses, out.day, record) if items else []
    return out, pa.Table.from_pylist(rows, schema=ENGAGEMENT_EVENT_SCHEMA)


ENGAGEMENT_EVENT_SCHEMA = pa.schema([("event_id", pa.string()), ("account_id", pa.string()),
                                     ("contact_id", pa.string()), ("event", pa.string()),
                                     ("ts", pa.timestamp("us", tz="UTC"))])


def response_kinds(item: QueuedItem, response: dict[str, Any]) -> list[str]:
    """The engagement kinds one message's simulated response stands for, in the order they happened."""
    if not response["delivered"]:
        return ["bounced"]
    kinds = ["delivered"]
    if response["opened"]:
        kinds.append("viewed" if item.kind == "in_app" else "opened")
    if response["clicked"]:
        kinds.append("clicked")
    if response.get("replied"):  # emails only; absent from responses recorded before replies were simulated
        kinds.append("replied")
    if response["unsubscribed"]:
        kinds.append("unsubscribed")
    return kinds


def engagement_event_name(item: QueuedItem, kind: str) -> str | None:
    """The warehouse event a response of `kind` lands as, or None when it lands none."""
    if item.kind == "in_app":
        return INAPP_EVENT_PREFIX + kind if kind in INAPP_EVENT_KINDS else None
    return EMAIL_EVENT_PREFIX + kind


def _record_responses(outbox: OutboxStore, items: Sequence[QueuedItem], responses: pa.Table, day: date,
                      record: LoopDay) -> list[dict[str, Any]]:
    """Each message's response becomes engagement events on its outbox key (ids derived from the key, so a
    repeated report is ignored) and warehouse events of the same ids; CSM tasks report whether a rescue took
    hold. Responses are stamped at noon UTC of the simulated day."""
    at = datetime.combine(day, dtime(12, 0), tzinfo=UTC)
    rows: list[dict[str, Any]] = []
    for item, resp in zip(items, responses.to_pylist(), strict=True):
        if item.kind == "csm_task":
            record.rescues += resp["effect"] == "rescue"
            continue
        channel = item.channel or item.kind
        kinds = response_kinds(item, resp)
        for kind in kinds:
            outbox.record_event(f"{item.key}:{kind}", kind=kind, channel=channel, at=at, message_key=item.key,
                                contact_id=item.contact_id, account_id=item.account_id, detail={"sim_day": str(day)})
            name = engagement_event_name(item, kind)
            if name is not None and item.account_id:
                rows.append({"event_id": f"{item.key}:{kind}", "account_id": item.account_id,
                             "contact_id": item.contact_id, "event": name, "ts": at})
        record.delivered += bool(resp["delivered"])
        record.opened += bool(resp["opened"])
        record.clicked += bool(resp["clicked"])
        record.replied += "replied" in kinds  # as recorded: a reply event, once per message
        record.unsubscribed += bool(resp["unsubscribed"])
        if item.contact_id and ("unsubscribed" in kinds or "bounced" in kinds):
            # The world never delivers to this contact again (unsubscribed for good, or gone): stop sending.
            reason = "unsubscribed in the simulation" if "unsubscribed" in kinds else "undeliverable in the simulation"
            outbox.suppress(reason=reason, at=at, contact_id=item.contact_id, channel=ALL_CHANNELS)
    return rows


# ------------------------------------------------------------------------------------------------ loading


def _warmup(ws: Workspace, world: World, vocab: sim_tables.Vocab, folder: Path, *, days: int,
            progress: Progress | None) -> None:
    """Simulate the history without outreach and load it in one go."""
    folder.mkdir(parents=True, exist_ok=True)
    writers = {k: TableWriter(folder, k, "parquet") for k in ("events", "tickets", "surveys")}
    chunk: list[DayOutput] = []
    for n in range(days):
        chunk.append(world.step(world.today))
        if len(chunk) == world.config.chunk_days or n == days - 1:
            _write_outputs(writers, vocab, chunk)
            chunk = []
        if progress is not None:
            progress("warmup", n + 1, days)
    for w in writers.values():
        w.close()
    entities = _entity_rows(world, vocab)
    for kind, table in entities.items():
        pq.write_table(table, folder / f"{kind}.parquet")
    pq.write_table(sim_tables.team_table(world), folder / "team.parquet")
    _load_folder(ws, folder, world.today, progress)


def _write_outputs(writers: dict[str, TableWriter], vocab: sim_tables.Vocab, days: Sequence[DayOutput]) -> None:
    writers["events"].write(pa.concat_tables([sim_tables.events_table(vocab, d.events) for d in days]))
    tickets = TicketBatch(*(np.concatenate([getattr(d.tickets, c) for d in days]) for c in _TICKET_COLS))
    writers["tickets"].write(sim_tables.tickets_table(vocab, tickets))
    surveys: list[SurveyBatch] = [s for d in days for s in d.surveys]
    writers["surveys"].write(sim_tables.surveys_table(vocab, surveys))


def _entity_rows(world: World, vocab: sim_tables.Vocab) -> dict[str, pa.Table]:
    return {"accounts": sim_tables.accounts_table(vocab, world),
            "contacts": sim_tables.contacts_table(vocab, world),
            "subscriptions": sim_tables.subscriptions_table(vocab, world)}


def _row_keys(table: pa.Table) -> pa.Array:
    """One text per row made of every value, to compare two versions of a table row by row."""
    parts = [pc.fill_null(pc.cast(table.column(n), pa.string()), "\x00") for n in table.column_names]
    return pc.binary_join_element_wise(*parts, "\x1f")


def changed_rows(before: pa.Table, after: pa.Table) -> pa.Table:
    """Rows of `after` not identical to a row of `before` (new or changed)."""
    if before.num_rows == 0:
        return after
    seen = pc.is_in(_row_keys(after), value_set=_row_keys(before))
    return after.filter(pc.invert(seen))


def _load_day(ws: Workspace, vocab: sim_tables.Vocab, world: World, out: DayOutput, *,
              loaded: dict[str, pa.Table], folder: Path, engagement: pa.Table) -> dict[str, pa.Table]:
    """Write the day's new rows (with the responses as events) as Parquet under `folder` and load them; returns
    the entity tables now loaded. A kind with no new rows gets no file: loading it would only rewrite its
    snapshot."""
    folder.mkdir(parents=True, exist_ok=True)
    now = _entity_rows(world, vocab)
    for kind, table in now.items():
        fresh = changed_rows(loaded[kind], table)
        if fresh.num_rows:
            pq.write_table(fresh, folder / f"{kind}.parquet")
    events = sim_tables.events_table(vocab, out.events)
    if engagement.num_rows:
        events = pa.concat_tables([events, _as_events(engagement, events.schema)])
    tickets = sim_tables.tickets_table(vocab, out.tickets)
    surveys = sim_tables.surveys_table(vocab, list(out.surveys))
    for kind, table in (("events", events), ("tickets", tickets), ("surveys", surveys)):
        if table.num_rows:
            pq.write_table(table, folder / f"{kind}.parquet")
    _load_folder(ws, folder, out.day + timedelta(days=1), None)
    return now


def _as_events(engagement: pa.Table, schema: pa.Schema) -> pa.Table:
    """Engagement rows with the columns of the simulator's event files (value and properties empty)."""
    columns = [engagement.column(f.name).cast(f.type) if f.name in engagement.column_names
               else pa.nulls(engagement.num_rows, f.type) for f in schema]
    return pa.Table.from_arrays(columns, schema=schema)


def _load_folder(ws: Workspace, folder: Path, day: date, progress: Progress | None) -> None:
    """Load every kind present in `folder`, in dependency order; `day` stamps the load (time is a parameter)."""
    stamp = datetime.combine(day, dtime(0, 0), tzinfo=UTC)
    kinds = [k for k in LOAD_ORDER if (folder / f"{k}.parquet").is_file()]
    for n, kind in enumerate(kinds):
        result = load_files(ws, kind, [folder / f"{kind}.parquet"], now=stamp)
        if result.rejected:
            log.warning("%s of %s: %d rows rejected (see %s)", kind, folder.name, result.rejected,
                        result.rejects_file)
        if progress is not None:
            progress("load", n + 1, len(kinds))


# ------------------------------------------------------------------------------------------------ the team


def _dispatch_in_app(ws: Workspace, store: MotionStore, queue: SimQueue, day: date) -> int:
    """Due in-app messages go to the world too (the product would show them on the contact's next visit)."""
    at = tick_instant(day, ws.settings.timezone)
    counts = dispatch(OutboxStore(store.engine), SimChannel(queue), f"loop-{day.isoformat()}", lambda: at,
                      channel_name="in_app")
    return counts.sent


def work_ctas(store: MotionStore, queue: SimQueue, day: date, capacity: int) -> list[Cta]:
    """Simulated CSMs work their open CTAs, at most `capacity` each per day (priority, then due date, then id):
    each is completed by actor "sim-csm" and queued as a CSM task on its account for the next day.

    CTAs without an owner, held for approval, or snoozed wait: nobody in the team has picked them up yet.
    """
    todo: dict[str, list[Cta]] = {}
    for cta in store.open_ctas():
        if cta.owner_id and cta.status in ("open", "in_progress") and cta.created_on <= day:
            todo.setdefault(cta.owner_id, []).append(cta)
    worked: list[Cta] = []
    for owner in sorted(todo):
        mine = sorted(todo[owner], key=lambda c: (_PRIORITY_RANK.get(c.priority, 9), c.due, c.cta_id))
        for cta in mine[:capacity]:
            done, follow_request = complete(cta, day, f"worked by the simulated CSM ({TASK_OF_CTA[cta.cta_type]})")
            follow = None if follow_request is None else plan_follow_up(done, follow_request, day)
            store.save_cta(done, "done", ACTOR, {"task": TASK_OF_CTA[cta.cta_type]}, follow_up=follow)
            queue.put(QueuedItem(key=f"cta:{cta.cta_id}", kind="csm_task", detail=TASK_OF_CTA[cta.cta_type],
                                 account_id=cta.account_id))
            worked.append(done)
    return worked


__all__ = ["ACTOR", "DEFAULT_CSM_CAPACITY", "EMAIL_EVENT_PREFIX", "ENGAGEMENT_EVENT_SCHEMA", "INAPP_EVENT_KINDS",
           "LoopDay", "LoopSummary", "WorldOutcome", "changed_rows",
           "counterfactual", "engagement_event_name", "response_kinds", "run_closed_loop", "work_ctas",
           "world_outcome"]
