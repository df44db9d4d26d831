"""One day of the motion, decided: the account table, tiers, segments, trigger fires and playbook hits.

Shared by `run`, `plan` and `backtest`, so the three cannot disagree. The warehouse (DuckDB through Ibis)
evaluates segments and signals over the day's account table; Python only handles the accounts that fired.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import ibis
import pyarrow as pa
import pyarrow.compute as pc

from longtail.core.expressions import parse_condition, to_ibis
from longtail.core.features import AnalyticTables
from longtail.core.motion.definitions import ConditionTrigger, DateTrigger, EventTrigger, Playbook
from longtail.core.motion.events import Window, event_fires
from longtail.core.motion.load import Motion
from longtail.core.motion.segments import SegmentSpec, column_name, segment_table
from longtail.core.motion.signals import ConditionSignal, edge_table, level_table, renewal_signal
from longtail.core.motion.throttle import throttle
from longtail.core.motion.tiers import Override, TierBand, TierPolicy, assign_tiers_from, tier_inputs
from longtail.core.motion.tiers import Promotion as TierPromotion


@dataclass(frozen=True)
class Fire:
    """A trigger that fired for an account on a day; `allowed` is false when a cooldown or cap held it back."""

    signal_id: str
    trigger_id: str
    account_id: str
    day: date
    definition_hash: str
    inputs: Mapping[str, Any]
    allowed: bool = True
    reason: str = "allowed"


@dataclass(frozen=True)
class Hit:
    """A playbook that applies to an account on a day, because of `fire`."""

    playbook: Playbook
    account_id: str
    fire: Fire


@dataclass
class DayEval:
    day: date
    accounts: pa.Table
    """The day's account table: features, health, account fields, tier and one seg_<id> column per segment."""
    tiers: pa.Table | None
    fires: list[Fire] = field(default_factory=list)
    hits: list[Hit] = field(default_factory=list)
    true_now: dict[str, set[str]] = field(default_factory=dict)
    """Accounts for which each condition trigger holds today (a CTA it created closes when it stops holding)."""


def tier_policy(motion: Motion) -> TierPolicy | None:
    if motion.tiers is None:
        return None
    t = motion.tiers
    bands = tuple(TierBand(b.tier, float(b.min or 0.0)) for b in t.bands)
    promotions = tuple(TierPromotion(motion.conditions[f"promotion:{i}"], p.to, p.reason)
                       for i, p in enumerate(t.promotions))
    return TierPolicy(metric=t.metric, bands=bands, hysteresis_pct=t.hysteresis_pct, promotions=promotions)


def with_tiers(con: ibis.BaseBackend, table: pa.Table, motion: Motion, *, previous: Mapping[str, str],
               overrides: Sequence[Override], day: date) -> tuple[pa.Table, pa.Table | None]:
    """The table with a `tier` column (null without tiers) and the tier assignment (with reasons)."""
    policy = tier_policy(motion)
    if policy is None:
        return table.append_column("tier", pa.nulls(table.num_rows, pa.string())), None
    inputs = con.to_pyarrow(tier_inputs(ibis.memtable(table), policy))
    assigned = assign_tiers_from(inputs, previous, overrides, day, policy)
    if assigned.column("account_id").equals(table.column("account_id")):
        # Same rows in the same order (a plain projection keeps it): no join of the whole wide table needed.
        return table.append_column("tier", assigned.column("tier")), assigned
    tier_of = assigned.select(["account_id", "tier"])
    joined = table.join(tier_of, "account_id", join_type="left outer")
    return joined, assigned


def segment_specs(motion: Motion) -> list[SegmentSpec]:
    """Declared segments, plus one segment per tier (`tier = '<name>'`) so audiences can name tiers."""
    specs = [SegmentSpec(s.id, motion.conditions.get(f"segment:{s.id}"), s.all_of, s.any_of, s.none_of,
                         motion.hash_of(f"segment:{s.id}")) for s in motion.segments]
    for tier in motion.tier_names():
        cond = parse_condition(f"tier = '{tier}'", {"tier": "string"})
        specs.append(SegmentSpec.of(tier, cond))
    return specs


def with_segments(con: ibis.BaseBackend, table: pa.Table, motion: Motion) -> pa.Table:
    specs = segment_specs(motion)
    if not specs:
        return table
    flags = con.to_pyarrow(segment_table(ibis.memtable(table), specs))
    flag_cols = [c for c in flags.column_names if c != "account_id"]
    return table.join(flags.select(["account_id", *flag_cols]), "account_id", join_type="left outer")


def condition_signals(motion: Motion) -> tuple[list[ConditionSignal], list[ConditionSignal], dict[str, str]]:
    """(edge signals, level signals, signal id -> trigger id); date triggers become one edge signal per window."""
    edge: list[ConditionSignal] = []
    level: list[ConditionSignal] = []
    owner: dict[str, str] = {}
    columns = {"days_to_renewal": "number"}
    for trig in motion.triggers.values():
        if isinstance(trig, ConditionTrigger):
            signal = ConditionSignal(trig.id, motion.conditions[f"trigger:{trig.id}"],
                                     motion.hash_of(f"trigger:{trig.id}"))
            (edge if trig.mode == "edge" else level).append(signal)
            owner[trig.id] = trig.id
        elif isinstance(trig, DateTrigger):
            for days in trig.days_before:
                sid = f"{trig.id}_at_{days}d"
                cond = parse_condition(renewal_signal(days), columns)  # type: ignore[arg-type]
                edge.append(ConditionSignal(sid, cond, motion.hash_of(f"trigger:{trig.id}")))
                owner[sid] = trig.id
    return edge, level, owner


def used_triggers(motion: Motion, also: Collection[str] = ()) -> set[str]:
    """Triggers worth evaluating: those of enabled playbooks, and `also` (journey entry triggers)."""
    return {p.trigger for p in motion.playbooks if p.enabled} | set(also)


def condition_fires(con: ibis.BaseBackend, today: pa.Table, previous: pa.Table | None, motion: Motion,
                    day: date, *, also: Collection[str] = ()) -> tuple[list[Fire], dict[str, set[str]]]:
    """Fires of condition and date triggers used by a playbook (or named in `also`: a journey enters on them),
    and who satisfies each condition today."""
    used = used_triggers(motion, also)
    edge, level, owner = condition_signals(motion)
    edge = [s for s in edge if owner[s.signal_id] in used]
    level = [s for s in level if owner[s.signal_id] in used]
    fires: list[Fire] = []
    holds: dict[str, set[str]] = {}
    t = ibis.memtable(today)
    parts = []
    if edge:
        parts.append(edge_table(t, ibis.memtable(previous) if previous is not None else None, edge))
    if level:
        parts.append(level_table(t, level))
    for part in parts:
        rows = con.to_pyarrow(part).to_pylist()
        for row in rows:
            fires.append(Fire(row["signal_id"], owner[row["signal_id"]], row["account_id"], day,
                              row["definition_hash"], json.loads(row["inputs"]) if row["inputs"] else {}))
    conds = [s for s in (*edge, *level) if s.signal_id == owner[s.signal_id]]
    if conds:
        holds = _holding(con, t, conds)
    return fires, holds


def _holding(con: ibis.BaseBackend, table: ibis.Table, signals: Sequence[ConditionSignal]) -> dict[str, set[str]]:
    """Accounts for which each signal's condition holds, from one narrow select of flags (no inputs to build:
    this only decides which CTAs are cleared)."""
    flags = con.to_pyarrow(table.select(table.account_id, **{f"_holds_{i}": to_ibis(s.condition, table)
                                                             for i, s in enumerate(signals)}))
    ids = flags.column("account_id")
    holds: dict[str, set[str]] = {}
    for i, signal in enumerate(signals):
        mask = pc.fill_null(flags.column(f"_holds_{i}"), False)  # an unknown that the policy left null is not true
        held = set(pc.filter(ids, mask).to_pylist())
        if held:
            holds[signal.signal_id] = held
    return holds


def event_trigger_fires(con: ibis.BaseBackend, tables: AnalyticTables, motion: Motion, *, day: date,
                        since: date, tz: str, milestones: tuple[str, ...], also: Collection[str] = ()) -> list[Fire]:
    """Fires of event triggers used by a playbook (or named in `also`), for events in the days (since, day]."""
    used = used_triggers(motion, also)
    fires: list[Fire] = []
    window = Window(since, day, tz)
    for trig in motion.triggers.values():
        if not isinstance(trig, EventTrigger) or trig.id not in used:
            continue
        rows = con.to_pyarrow(event_fires(tables, trig, window, milestones)).to_pylist()
        for row in rows:
            inputs = {"event": trig.event, "count": int(row["n"]), "first_at": str(row["first_at"]),
                      "value": row["value"]}
            fires.append(Fire(trig.id, trig.id, row["account_id"], day, motion.hash_of(f"trigger:{trig.id}"),
                              inputs))
    return fires


def apply_throttle(fires: list[Fire], motion: Motion, history: Mapping[str, Mapping[str, Sequence[date]]],
                   day: date) -> list[Fire]:
    """Fires with cooldowns and caps applied; `history[signal_id][account]` = earlier allowed fire days."""
    out: list[Fire] = []
    for fire in fires:
        trig = motion.triggers[fire.trigger_id]
        verdict = throttle([fire.account_id], history.get(fire.signal_id, {}), day,
                           cooldown_days=trig.cooldown_days, cap=trig.cap)[0]
        out.append(fire if verdict.allowed else
                   Fire(fire.signal_id, fire.trigger_id, fire.account_id, day, fire.definition_hash, fire.inputs,
                        allowed=False, reason=verdict.reason))
    return out


def playbook_hits(fires: Sequence[Fire], motion: Motion, accounts: pa.Table) -> list[Hit]:
    """Allowed fires matched to the enabled playbooks whose audience holds the account."""
    by_trigger: dict[str, list[Playbook]] = {}
    for book in motion.playbooks:
        if book.enabled:
            by_trigger.setdefault(book.trigger, []).append(book)
    if not fires or not by_trigger:
        return []
    fired = pa.array(sorted({f.account_id for f in fires if f.allowed}), pa.string())
    subset = accounts.filter(pc.is_in(accounts.column("account_id"), value_set=fired))
    membership = _membership(subset, motion)
    hits: list[Hit] = []
    for fire in fires:
        if not fire.allowed:
            continue
        segs = membership.get(fire.account_id, frozenset())
        for book in by_trigger.get(fire.trigger_id, []):
            if all(s in segs for s in book.audience) and not any(s in segs for s in book.exclude):
                hits.append(Hit(book, fire.account_id, fire))
    return hits


def _membership(accounts: pa.Table, motion: Motion) -> dict[str, frozenset[str]]:
    names = [*motion.segment_ids(), *motion.tier_names()]
    ids = accounts.column("account_id").to_pylist()
    member: dict[str, set[str]] = {a: set() for a in ids}
    for name in names:
        col = column_name(name)
        if col not in accounts.column_names:
            continue
        for account in pc.filter(accounts.column("account_id"), pc.fill_null(accounts.column(col), False)).to_pylist():
            member[account].add(name)
    return {a: frozenset(s) for a, s in member.items()}


def previous_day(day: date) -> date:
    return day - timedelta(days=1)
