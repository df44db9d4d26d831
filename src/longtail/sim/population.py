"""The initial customer base: accounts, their contracts, contacts and the CS team.

Everything is drawn once, vectorised, from the INIT streams, before day 0.
Contacts are pre-allocated: besides the initial contacts every account has two
spare slots (a replacement champion and a new team's power user) that only
appear in `contacts` if the world activates them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from . import catalog
from .config import SimConfig
from .rng import Purpose, generator

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
F32 = npt.NDArray[np.float32]
B = npt.NDArray[np.bool_]

SPARE_CHAMPION, SPARE_TEAM = 1, 2


@dataclass
class Accounts:
    """Static attributes and the contract calendar of every account (length N)."""

    tier: I64
    arr: F64
    seats: I64
    monthly: B
    created_day: I64  # day index relative to start (negative = before the window)
    created_sec: I64
    dom: I64  # billing day of month, 1..28
    term_start_month: I64  # months since 1970-01 of the current term's start
    term_start_day: I64
    term_end_day: I64
    next_bill_day: I64  # next month boundary (monthly billing), else term end
    industry: I64
    country: I64
    employees: I64
    name_left: I64
    name_right: I64
    fit: F32  # latent product fit in (0, 1), never written outside truth/
    saveable: B
    rescue_efficacy: F32
    nps_offset: I64
    first_contact: I64
    n_contacts: I64  # initial contacts (spares excluded)


@dataclass
class Contacts:
    """Pre-allocated contact slots (length M)."""

    account: I64
    role: I64
    spare: I64  # 0 = initial, 1 = replacement champion, 2 = new-team power user
    propensity: F32
    activity: F32  # active_base * role activity * propensity: the static part of P(active)
    zone: I64
    created_day: I64  # huge for spares until activated
    created_sec: I64
    first_name: I64
    last_name: I64
    title: I64


NEVER = np.int64(1 << 40)


def month_day(months: I64, dom: I64, start: dt.date) -> I64:
    """Day index (relative to start) of day `dom` of month `months` since 1970-01."""
    first = months.astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)
    return np.asarray(first + (dom - 1) - (start - dt.date(1970, 1, 1)).days, dtype=np.int64)


def _draw_arr(cfg: SimConfig, rng: np.random.Generator, tier: I64) -> F64:
    lo, b1, b2, hi = cfg.tiers.bounds
    u = rng.random(tier.size)
    arr = np.empty(tier.size)
    for t, (a, b) in enumerate(((lo, b1), (b1, b2))):
        m = tier == t
        arr[m] = np.exp(np.log(a) + u[m] * (np.log(b) - np.log(a)))
    m = tier == 2
    # Pareto above the enterprise floor, truncated at the ceiling by inversion.
    cap = 1.0 - (b2 / hi) ** cfg.tiers.pareto_alpha
    arr[m] = b2 / (1.0 - u[m] * cap) ** (1.0 / cfg.tiers.pareto_alpha)
    return np.round(arr, 2)


def _calendar(cfg: SimConfig, rng: np.random.Generator, n: int) -> dict[str, I64]:
    new = rng.random(n) < cfg.population.new_account_share
    age = rng.integers(30, int(cfg.population.max_account_age_years * 365), n)
    created_day = np.where(new, rng.integers(0, cfg.days, n), -age).astype(np.int64)
    created = np.datetime64(cfg.start, "D") + created_day
    dom = (created - created.astype("datetime64[M]")).astype(np.int64) + 1
    # Billing anniversaries on the 29th-31st do not exist every month: sign-ups move back.
    created_day = created_day - np.maximum(dom - 28, 0)
    created = np.datetime64(cfg.start, "D") + created_day
    dom = (created - created.astype("datetime64[M]")).astype(np.int64) + 1
    cmonth = created.astype("datetime64[M]").astype(np.int64)
    smonth = np.datetime64(cfg.start, "M").astype(np.int64)
    years = np.maximum((smonth - cmonth) // 12, 0)
    years -= (month_day(cmonth + 12 * years, dom, cfg.start) > 0) & (years > 0)
    term_month = np.where(created_day >= 0, cmonth, cmonth + 12 * years)
    term_start = month_day(term_month, dom, cfg.start)
    term_end = month_day(term_month + 12, dom, cfg.start)
    nxt = term_month + np.maximum(smonth - term_month, 1)
    nxt += month_day(nxt, dom, cfg.start) < np.maximum(created_day, 0)
    return {"created_day": created_day, "dom": dom, "term_start_month": term_month,
            "term_start_day": term_start, "term_end_day": term_end, "next_bill_month": nxt}


def build_accounts(cfg: SimConfig) -> Accounts:
    """Draw the N accounts and their current contract term."""
    rng = generator(cfg.seed, Purpose.INIT)
    n = cfg.accounts
    tier = rng.choice(3, size=n, p=np.asarray(cfg.tiers.shares)).astype(np.int64)
    arr = _draw_arr(cfg, rng, tier)
    price = np.asarray(cfg.tiers.seat_price)[tier]
    seats = np.maximum(np.round(arr / (12 * price)), 1).astype(np.int64)
    monthly = rng.random(n) < np.asarray(cfg.tiers.monthly_share)[tier]
    cal = _calendar(cfg, rng, n)
    next_bill = np.where(monthly, month_day(cal["next_bill_month"], cal["dom"], cfg.start),
                         cal["term_end_day"])
    ind_w = np.array([w for _, w in catalog.INDUSTRIES])
    cty_w = np.array([w for _, w, _ in catalog.COUNTRIES])
    pop = cfg.population
    n_contacts = np.clip(np.round(pop.contacts_a + pop.contacts_b * np.sqrt(seats)),
                         pop.contacts_lo, pop.contacts_hi).astype(np.int64)
    slots = n_contacts + 2
    first = np.concatenate([[0], np.cumsum(slots)[:-1]]).astype(np.int64)
    fit = rng.beta(3.0, 2.0, n).astype(np.float32)
    saveable = rng.random(n) < cfg.effects.saveable_share
    efficacy = (cfg.effects.rescue_efficacy * rng.uniform(0.5, 1.5, n) * saveable).astype(np.float32)
    return Accounts(
        tier=tier, arr=arr, seats=seats, monthly=monthly,
        created_day=cal["created_day"], created_sec=rng.integers(0, 86_400, n),
        dom=cal["dom"], term_start_month=cal["term_start_month"],
        term_start_day=cal["term_start_day"], term_end_day=cal["term_end_day"],
        next_bill_day=next_bill,
        industry=rng.choice(len(ind_w), size=n, p=ind_w / ind_w.sum()).astype(np.int64),
        country=rng.choice(len(cty_w), size=n, p=cty_w / cty_w.sum()).astype(np.int64),
        employees=np.round(seats * rng.lognormal(1.2, 0.6, n) + 2).astype(np.int64),
        name_left=rng.integers(0, len(catalog.NAME_LEFT), n),
        name_right=rng.integers(0, len(catalog.NAME_RIGHT), n),
        fit=fit, saveable=saveable, rescue_efficacy=efficacy,
        nps_offset=rng.integers(0, 182, n), first_contact=first, n_contacts=n_contacts,
    )


def _roles(cfg: SimConfig, acc: Accounts, rng: np.random.Generator,
           account: I64, slot: I64) -> tuple[I64, I64]:
    n_init = acc.n_contacts[account]
    big = acc.tier[account] >= cfg.population.exec_sponsor_from_tier
    power = rng.random(account.size) < cfg.population.power_user_share
    role = np.where(power, catalog.POWER, catalog.USER)
    role = np.where(big & (slot == 3), catalog.BILLING, role)
    role = np.where(big & (slot == 2), catalog.EXEC, role)
    role = np.where(slot == 1, catalog.CHAMPION, role)
    role = np.where(slot == 0, catalog.ADMIN, role)
    spare = np.clip(slot - n_init + 1, 0, 2)
    role = np.where(spare == SPARE_CHAMPION, catalog.CHAMPION, role)
    role = np.where(spare == SPARE_TEAM, catalog.POWER, role)
    return role.astype(np.int64), spare.astype(np.int64)


def build_contacts(cfg: SimConfig, acc: Accounts) -> Contacts:
    """Lay out every contact slot, account by account."""
    rng = generator(cfg.seed, Purpose.INIT_CONTACTS)
    slots = acc.n_contacts + 2
    account = np.repeat(np.arange(cfg.accounts, dtype=np.int64), slots)
    slot = np.arange(account.size, dtype=np.int64) - acc.first_contact[account]
    m = account.size
    role, spare = _roles(cfg, acc, rng, account, slot)
    zfirst, zsize = catalog.zone_table()
    home = zfirst[acc.country[account]] + rng.integers(0, 1 << 30, m) % zsize[acc.country[account]]
    # Some people work from another office.
    zone = np.where(rng.random(m) < 0.12, rng.integers(0, len(catalog.ZONES), m), home)
    acc_day = acc.created_day[account]
    joined = acc_day + np.floor(rng.random(m) * np.minimum(-acc_day, 400)).astype(np.int64)
    created_day = np.where(acc_day >= 0, acc_day, np.minimum(joined, -1))
    created_day = np.where(spare > 0, NEVER, created_day)
    # Contacts of an account join after it: same day means a later second.
    created_sec = np.where(created_day == acc_day,
                           np.minimum(acc.created_sec[account] + 60 * (slot + 1), 86_399),
                           rng.integers(0, 86_400, m))
    titles = np.array([len(t) for t in catalog.TITLES])[role]
    propensity = rng.lognormal(-0.18, 0.6, m).astype(np.float32)
    return Contacts(
        account=account, role=role, spare=spare,
        propensity=propensity,
        activity=(cfg.usage.active_base * catalog.ROLE_ACTIVITY[role] * propensity).astype(np.float32),
        zone=zone.astype(np.int64), created_day=created_day.astype(np.int64),
        created_sec=created_sec.astype(np.int64),
        first_name=rng.integers(0, len(catalog.FIRST_NAMES), m),
        last_name=rng.integers(0, len(catalog.LAST_NAMES), m),
        title=rng.integers(0, 1 << 30, m) % titles,
    )


@dataclass
class Team:
    """The CS team: one row per member."""

    role: list[str]
    tiers: list[str]
    capacity: list[int]
    skills: list[str]


def build_team(cfg: SimConfig, acc: Accounts) -> Team:
    """Size the CS team to the book: CSMs per tier, leads, one ops and one admin."""
    rng = generator(cfg.seed, Purpose.INIT, 1)
    counts = np.bincount(acc.tier, minlength=3)
    caps = cfg.population.csm_capacity
    skills_pool = ("onboarding", "adoption", "renewals", "technical", "executive")
    team = Team([], [], [], [])
    for t, name in enumerate(cfg.tiers.names):
        for _ in range(max(1, -(-int(counts[t]) // caps[t]))):
            team.role.append("csm")
            team.tiers.append(name)
            team.capacity.append(caps[t])
            picks = rng.choice(len(skills_pool), size=2, replace=False)
            team.skills.append(";".join(skills_pool[i] for i in sorted(picks)))
    leads = max(1, -(-len(team.role) // cfg.population.csms_per_lead))
    extra = [("lead", ";".join(cfg.tiers.names), 0, "coaching;renewals")] * leads
    extra += [("ops", ";".join(cfg.tiers.names), 0, "data;automation"),
              ("admin", "", 0, "administration")]
    for role, tiers, cap, skills in extra:
        team.role.append(role)
        team.tiers.append(tiers)
        team.capacity.append(cap)
        team.skills.append(skills)
    return team
