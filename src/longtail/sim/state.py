"""The latent state of every account and its daily evolution.

State is a set of arrays of length N (accounts) or M (contact slots). Each
daily update is vectorised over all accounts; the only per-day randomness that
touches every account comes from fixed-shape draws (see `rng`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from .config import SimConfig
from .population import NEVER, Accounts, Contacts
from .rng import Purpose, entity_keys, generator, hash_uniform, stream_key

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
B = npt.NDArray[np.bool_]

N_MILESTONES = 3
ALL_MILESTONES = (1 << N_MILESTONES) - 1
CHAMPION_LEFT, REORG, BUDGET_CUT, COMPETITOR, NEW_TEAM = range(5)


@dataclass
class State:
    """Everything that changes from day to day."""

    live: B  # created and not churned
    churned_day: I64
    milestones: I64  # bit mask of reached onboarding milestones
    activated_day: I64
    adoption: F32
    engagement: F32
    satisfaction: F32
    ema_fast: F32
    ema_slow: F32
    demand: F64  # users the account wants to give access to
    shock_left: I64  # (n_shocks, N) days left of each shock
    bad_support_day: I64
    onboarding_until: I64
    rescue_until: I64
    seats: I64
    arr: F64
    # Contact slots.
    present: B  # exists and still works there
    unsubscribed: B
    fatigue: F32
    contact_created_day: I64
    contact_created_sec: I64


@dataclass(frozen=True)
class Day:
    """What a daily process needs: the world's parts and today's clock."""

    cfg: SimConfig
    acc: Accounts
    con: Contacts
    st: State
    t: int  # day index since the start
    day_s: int  # Unix seconds of today's 00:00 UTC
    end_s: int  # Unix seconds of the end of the window (exclusive)


def init_state(cfg: SimConfig, acc: Accounts, con: Contacts) -> State:
    """Draw a plausible state for accounts that already exist at the start."""
    rng = generator(cfg.seed, Purpose.INIT, 2)
    n = cfg.accounts
    old = acc.created_day < 0
    age = np.maximum(-acc.created_day, 0)
    reach = np.clip(0.45 + 0.5 * acc.fit, 0, 0.98) * np.minimum(age / 120.0, 1.0)
    bits = (rng.random((N_MILESTONES, n)) < reach).astype(np.int64)
    milestones = (bits << np.arange(N_MILESTONES)[:, None]).sum(axis=0)
    activated = milestones == ALL_MILESTONES
    adoption = np.where(old, acc.fit * rng.uniform(0.2, 0.9, n) * np.where(activated, 1.0, 0.4), 0.02)
    sat = np.clip(0.7 + 0.12 * rng.standard_normal(n), 0.05, 1.0)
    eng = np.clip(_target(acc.fit, activated, adoption, sat, np.zeros(n))
                  + 0.08 * rng.standard_normal(n), 0.02, 1.0)
    eng = np.where(old, eng, 0.3)
    dyn = cfg.dynamics
    shocks = np.zeros((len(dyn.shock_names), n), dtype=np.int64)
    for k, (rate, days) in enumerate(zip(dyn.shock_rate_per_year, dyn.shock_days, strict=True)):
        # Steady state: a shock is under way with probability rate * duration.
        on = old & (rng.random(n) < rate * days / 365.0)
        shocks[k] = np.where(on, rng.integers(1, days + 1, n), 0)
    present = (con.created_day < 0) & (con.spare == 0)
    return State(
        live=old.copy(), churned_day=np.full(n, NEVER, dtype=np.int64), milestones=milestones,
        activated_day=np.where(activated, -1, NEVER).astype(np.int64),
        adoption=adoption.astype(np.float32), engagement=eng.astype(np.float32),
        satisfaction=sat.astype(np.float32), ema_fast=eng.astype(np.float32),
        ema_slow=eng.astype(np.float32),
        demand=acc.seats * rng.uniform(0.7, 1.1, n), shock_left=shocks,
        bad_support_day=np.full(n, -NEVER, dtype=np.int64),
        onboarding_until=np.full(n, -1, dtype=np.int64),
        rescue_until=np.full(n, -1, dtype=np.int64),
        seats=acc.seats.copy(), arr=acc.arr.copy(),
        present=present, unsubscribed=np.zeros(con.account.size, dtype=bool),
        fatigue=np.zeros(con.account.size, dtype=np.float32),
        contact_created_day=con.created_day.copy(), contact_created_sec=con.created_sec.copy(),
    )


def _target(fit: F32, activated: B, adoption: npt.NDArray[np.floating],
            sat: npt.NDArray[np.floating], shock_eng: F64) -> F64:
    """Where engagement drifts to: fit, activation and adoption, minus trouble."""
    t = 0.10 + 0.25 * activated + 0.35 * adoption + 0.25 * fit + 0.3 * (sat - 0.65) + shock_eng
    return np.asarray(np.clip(t, 0.02, 1.0), dtype=np.float64)


def shock_engagement(cfg: SimConfig, st: State) -> F64:
    """Sum of the engagement effects of the shocks under way."""
    eff = np.asarray(cfg.dynamics.shock_engagement)[:, None]
    return np.asarray(((st.shock_left > 0) * eff).sum(axis=0), dtype=np.float64)


def apply_shocks(cfg: SimConfig, acc: Accounts, con: Contacts, st: State, t: int) -> I64:
    """Start new shocks (one uniform per account partitions the unit interval)."""
    dyn = cfg.dynamics
    u = generator(cfg.seed, Purpose.SHOCKS, t).random(cfg.accounts)
    daily = np.asarray(dyn.shock_rate_per_year) / 365.0
    edges = np.concatenate([[0.0], np.cumsum(daily)])
    kind = np.searchsorted(edges, u, side="right") - 1
    fire = st.live & (kind < daily.size)
    kind = np.where(fire, kind, -1)
    fire &= st.shock_left[np.clip(kind, 0, None), np.arange(cfg.accounts)] == 0
    kind = np.where(fire, kind, -1)
    for k, days in enumerate(dyn.shock_days):
        st.shock_left[k, kind == k] = days
    _champion_leaves(acc, con, st, np.flatnonzero(kind == CHAMPION_LEFT))
    grow = kind == NEW_TEAM
    st.demand[grow] *= 1.0 + dyn.new_team_growth
    _activate_spare(acc, st, np.flatnonzero(grow), 2, t)
    return kind


def _champion_leaves(acc: Accounts, con: Contacts, st: State, idx: I64) -> None:
    """The champion (slot 1, or the replacement if it already took over) leaves."""
    slot1 = acc.first_contact[idx] + 1
    spare = acc.first_contact[idx] + acc.n_contacts[idx]
    st.present[np.where(st.present[spare], spare, slot1)] = False


def _activate_spare(acc: Accounts, st: State, idx: I64, which: int, t: int) -> None:
    slot = acc.first_contact[idx] + acc.n_contacts[idx] + (which - 1)
    new = st.contact_created_day[slot] == NEVER
    slot = slot[new]
    st.contact_created_day[slot] = t
    st.contact_created_sec[slot] = 0
    st.present[slot] = True


def end_shocks(acc: Accounts, st: State, t: int) -> None:
    """Count shocks down; a replacement champion arrives when the gap closes."""
    ending = st.shock_left[CHAMPION_LEFT] == 1
    _activate_spare(acc, st, np.flatnonzero(ending & st.live), 1, t)
    np.subtract(st.shock_left, 1, out=st.shock_left, where=st.shock_left > 0)


def reach_milestones(cfg: SimConfig, acc: Accounts, st: State, t: int) -> tuple[I64, I64]:
    """Onboarding: each missing milestone is reached with a daily hazard.

    Returns (account, milestone) pairs reached today.
    """
    idx = np.flatnonzero(st.live & (st.milestones != ALL_MILESTONES) & (acc.created_day < t))
    if idx.size == 0:
        return idx, idx
    boost = np.where(st.onboarding_until[idx] >= t, cfg.effects.onboarding_boost, 1.0)
    scale = (0.3 + 1.4 * acc.fit[idx]) * (0.4 + st.engagement[idx]) * boost
    key = stream_key(cfg.seed, Purpose.MILESTONES, t)
    hit_acc, hit_ms = [], []
    for m, h in enumerate(cfg.dynamics.milestone_hazard):
        u = hash_uniform(entity_keys(idx, m), key)
        hit = ((st.milestones[idx] >> m) & 1 == 0) & (u < h * scale)
        hit_acc.append(idx[hit])
        hit_ms.append(np.full(int(hit.sum()), m, dtype=np.int64))
    accs, ms = np.concatenate(hit_acc), np.concatenate(hit_ms)
    np.bitwise_or.at(st.milestones, accs, 1 << ms)
    return accs, ms


def evolve(cfg: SimConfig, acc: Accounts, con: Contacts, st: State, t: int) -> None:
    """Engagement, satisfaction, adoption, usage averages and seat demand."""
    dyn = cfg.dynamics
    activated = st.milestones == ALL_MILESTONES
    excess = np.maximum(st.fatigue - cfg.effects.fatigue_free, 0.0)
    fatigue = np.bincount(con.account, weights=excess, minlength=cfg.accounts)
    target = _target(acc.fit, activated, st.adoption, st.satisfaction, shock_engagement(cfg, st))
    z = generator(cfg.seed, Purpose.NOISE_ENGAGEMENT, t).standard_normal(cfg.accounts, dtype=np.float32)
    eng = st.engagement + dyn.engagement_reversion * (target - st.engagement) + dyn.engagement_noise * z
    # Over-messaged contacts disengage: a direct daily loss per unit of excess fatigue.
    eng -= cfg.effects.fatigue_engagement * np.minimum(fatigue, 10.0)
    st.engagement = np.where(st.live, np.clip(eng, 0.01, 1.0), st.engagement).astype(np.float32)
    z = generator(cfg.seed, Purpose.NOISE_SATISFACTION, t).standard_normal(cfg.accounts, dtype=np.float32)
    sat_target = 0.55 + 0.2 * acc.fit + 0.1 * st.engagement
    sat = st.satisfaction + dyn.satisfaction_reversion * (sat_target - st.satisfaction) \
        + dyn.satisfaction_noise * z
    sat -= cfg.effects.fatigue_satisfaction * np.minimum(fatigue, 10.0)
    st.satisfaction = np.where(st.live, np.clip(sat, 0.01, 1.0), st.satisfaction).astype(np.float32)
    ceiling = acc.fit * np.where(activated, 1.0, 0.35)
    grow = dyn.adoption_growth * st.engagement * (ceiling - st.adoption)
    st.adoption = np.clip(st.adoption + np.where(st.live, grow, 0.0), 0.0, 1.0).astype(np.float32)
    st.ema_fast += (st.engagement - st.ema_fast) / 7.0
    st.ema_slow += (st.engagement - st.ema_slow) / 60.0
    # Healthy accounts add users slowly, struggling ones shed them.
    st.demand *= 1.0 + (0.25 * (st.engagement - 0.45)) / 365.0


def in_usage_drop(cfg: SimConfig, st: State) -> B:
    """Recent engagement well below its own longer-run average."""
    return st.live & (st.ema_fast < (1.0 - cfg.dynamics.usage_drop) * st.ema_slow)


def active_seats(st: State, idx: I64 | None = None) -> F64:
    """Seats in use: demand times how engaged the account is, capped by seats."""
    if idx is None:
        used = st.demand * (0.45 + 0.6 * st.engagement)
        return np.minimum(np.maximum(used, 1.0), st.seats)
    used = st.demand[idx] * (0.45 + 0.6 * st.engagement[idx])
    return np.minimum(np.maximum(used, 1.0), st.seats[idx])


def churn_terms(cfg: SimConfig, acc: Accounts, st: State, idx: I64) -> F64:
    """Per-cause contributions to the churn logit of accounts idx, shape (n_causes, len(idx))."""
    r = cfg.renewal
    util = active_seats(st, idx) / st.seats[idx]
    activated = st.milestones[idx] == ALL_MILESTONES
    shocks = (st.shock_left[:, idx] > 0) * np.asarray(cfg.dynamics.shock_churn_logit)[:, None]
    return np.vstack([
        r.w_engagement * (r.engagement_ref - st.ema_fast[idx]),
        r.w_satisfaction * (r.satisfaction_ref - st.satisfaction[idx]),
        r.w_not_activated * (~activated),
        r.w_utilisation * (r.utilisation_ref - util),
        shocks,
    ])


CAUSES: tuple[str, ...] = (
    "low_engagement", "low_satisfaction", "not_activated", "low_utilisation",
    "champion_left", "reorg", "budget_cut", "competitor", "new_team", "bad_support", "baseline",
)
LOW_SATISFACTION, BAD_SUPPORT_CAUSE, BASELINE_CAUSE = 1, 9, 10


def churn_probability(cfg: SimConfig, acc: Accounts, st: State, t: int, idx: I64 | None = None) -> F64:
    """True probability of churning if the renewal decision were taken today (accounts idx)."""
    if idx is None:
        idx = np.arange(cfg.accounts, dtype=np.int64)
    logit = np.asarray(cfg.tiers.churn_logit)[acc.tier[idx]] + churn_terms(cfg, acc, st, idx).sum(axis=0)
    p = 1.0 / (1.0 + np.exp(-logit))
    relief = np.where(st.rescue_until[idx] >= t, 1.0 - acc.rescue_efficacy[idx], 1.0)
    return np.asarray(p * relief, dtype=np.float64)
