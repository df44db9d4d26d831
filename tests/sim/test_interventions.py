"""Closed loop: interventions have their documented effects versus the exact counterfactual."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pytest

from longtail.sim import CsmTask, Email, Invite, SimConfig, World
from longtail.sim.ids import account_id, contact_id
from longtail.sim.state import in_usage_drop

CFG = SimConfig(accounts=4000, days=365, start=dt.date(2025, 1, 1), seed=31)


def _run_pair(cfg: SimConfig, policy: object) -> tuple[World, World, list[set[int]]]:
    """(counterfactual, treated, accounts touched per day); policy(world, t) -> interventions."""
    base, treated = World(cfg), World(cfg)
    touched: list[set[int]] = []
    while not base.done:
        items = policy(treated, treated.t)  # type: ignore[operator]
        touched.append({_account_of(treated, i) for i in items})
        base.step(base.today)
        treated.step(treated.today, items)
    return base, treated, touched


def _account_of(world: World, item: object) -> int:
    if isinstance(item, CsmTask):
        return int(item.account_id[4:])
    return int(world.contacts.account[int(item.contact_id[4:])])  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def rescue_runs() -> tuple[World, World, dict[int, int]]:
    rescued: dict[int, int] = {}

    def policy(world: World, t: int) -> list[CsmTask]:
        drop = np.flatnonzero(in_usage_drop(world.config, world.state))
        new = [int(a) for a in drop if int(a) not in rescued]
        rescued.update({a: t for a in new})
        return [CsmTask(account_id(a), "rescue_call") for a in new]

    base, treated, _ = _run_pair(CFG, policy)
    return base, treated, rescued


def test_rescue_calls_lower_churn_by_the_documented_amount(rescue_runs: tuple[World, World, dict[int, int]]) -> None:
    """Documented: churn probability x (1 - e_i) for 180 days, e_i = 0.4 * U(0.5, 1.5) if saveable.

    With common random numbers an account that churns in the counterfactual
    during its relief window is saved with probability exactly e_i (its uniform
    lies in [p(1 - e), p)), so the expected number saved is the sum of e_i over
    those churners and the binomial-like variance is sum e_i (1 - e_i).
    """
    base, treated, rescued = rescue_runs
    acc = base.accounts
    cf_churn, tr_churn = base.state.churned_day, treated.state.churned_day
    window = [a for a, day in rescued.items()
              if day <= cf_churn[a] < day + CFG.effects.rescue_days and cf_churn[a] < CFG.days]
    idx = np.array(window)
    assert idx.size >= 80, "too few counterfactual churners to measure the effect"
    saved = int((tr_churn[idx] >= CFG.days).sum())
    e = acc.rescue_efficacy[idx].astype(float)
    expected, sd = e.sum(), math.sqrt((e * (1 - e)).sum())
    # The call also lifts satisfaction a little (documented), which can only save a few more.
    assert expected - 3 * sd <= saved <= expected + 3 * sd + 0.05 * idx.size, (saved, expected, sd)
    # Rescue calls to accounts that were never at risk of losing nothing change them from churn to renew.
    assert (tr_churn[list(rescued)] < CFG.days).sum() < (cf_churn[list(rescued)] < CFG.days).sum()


def test_unsaveable_accounts_are_not_saved(rescue_runs: tuple[World, World, dict[int, int]]) -> None:
    base, treated, rescued = rescue_runs
    idx = np.array([a for a in rescued if not base.accounts.saveable[a]])
    cf = (base.state.churned_day[idx] < CFG.days).sum()
    tr = (treated.state.churned_day[idx] < CFG.days).sum()
    # Only the small satisfaction lift of a call acts on them.
    assert cf - tr <= max(2, 0.1 * cf)


def test_untouched_accounts_are_exact_counterfactuals() -> None:
    cfg = CFG.with_(accounts=600, days=120)
    targets = {5, 17, 99, 250, 400}

    def policy(world: World, t: int) -> list[object]:
        if t % 10:
            return []
        items: list[object] = [CsmTask(account_id(a), "rescue_call") for a in targets]
        first = world.accounts.first_contact
        items += [Email(contact_id(int(first[a]) + 1), "adoption") for a in targets]
        return items

    base, treated = World(cfg), World(cfg)
    mask = np.zeros(cfg.accounts, dtype=bool)
    mask[list(targets)] = True
    while not base.done:
        items = policy(treated, treated.t)
        a, b = base.step(base.today), treated.step(treated.today, items)  # type: ignore[arg-type]
        keep_a, keep_b = ~mask[a.events.account], ~mask[b.events.account]
        for field in ("account", "contact", "code", "ts_s", "key"):
            assert np.array_equal(getattr(a.events, field)[keep_a], getattr(b.events, field)[keep_b])
        assert np.array_equal(a.tickets.key[~mask[a.tickets.account]], b.tickets.key[~mask[b.tickets.account]])
    for name in ("engagement", "satisfaction", "adoption", "seats", "arr", "churned_day"):
        x, y = getattr(base.state, name), getattr(treated.state, name)
        assert np.array_equal(x[~mask], y[~mask]), name
    assert not np.array_equal(base.state.satisfaction[mask], treated.state.satisfaction[mask])


def test_fatigue_is_real() -> None:
    """Three emails a day to every contact lowers engagement and raises unsubscribes."""
    cfg = CFG.with_(accounts=1500, days=90)
    heavy = np.arange(0, cfg.accounts, 2)  # even accounts: heavy; odd: one email a week
    light = np.arange(1, cfg.accounts, 2)

    def policy(world: World, t: int) -> list[Email]:
        st, first, n = world.state, world.accounts.first_contact, world.accounts.n_contacts
        out = []
        for a in heavy:
            out += [Email(contact_id(int(c)), "adoption") for c in range(first[a], first[a] + n[a])
                    for _ in range(3) if st.present[c]]
        if t % 7 == 0:
            for a in light:
                out += [Email(contact_id(int(c)), "adoption") for c in range(first[a], first[a] + n[a])
                        if st.present[c]]
        return out

    base, treated = World(cfg), World(cfg)
    gap = np.zeros(cfg.accounts)
    events = np.zeros((2, cfg.accounts))
    unsub = {"heavy": 0, "light": 0}
    sent = {"heavy": 0, "light": 0}
    is_heavy = np.zeros(cfg.accounts, dtype=bool)
    is_heavy[heavy] = True
    while not base.done:
        items = policy(treated, treated.t)
        ref = base.step(base.today)
        out = treated.step(treated.today, items)
        gap += np.where(base.state.live & treated.state.live, base.state.engagement - treated.state.engagement, 0)
        events[0] += np.bincount(ref.events.account, minlength=cfg.accounts)
        events[1] += np.bincount(out.events.account, minlength=cfg.accounts)
        r = out.responses
        if r.num_rows:
            delivered = np.asarray(r["delivered"])
            h = is_heavy[np.asarray(r["account"])][delivered]
            u = np.asarray(r["unsubscribed"])[delivered]
            unsub["heavy"] += int(u[h].sum())
            unsub["light"] += int(u[~h].sum())
            sent["heavy"] += int(h.sum())
            sent["light"] += int((~h).sum())
    gap /= cfg.days
    # Heavy messaging costs engagement; a weekly adoption email does not (its clicks help adoption).
    assert gap[heavy].mean() > 0.05 and gap[light].mean() < 0.01, (gap[heavy].mean(), gap[light].mean())
    assert events[1][heavy].sum() < 0.9 * events[0][heavy].sum()
    assert events[1][light].sum() > 0.98 * events[0][light].sum()
    # Per delivered message, over-messaged people unsubscribe far more often.
    assert unsub["heavy"] / sent["heavy"] > 3 * unsub["light"] / sent["light"], (unsub, sent)
    # Unsubscribed contacts stay unsubscribed: fewer people reachable after heavy messaging.
    assert treated.state.unsubscribed[np.isin(treated.contacts.account, heavy)].mean() > 0.3


def test_onboarding_sessions_raise_activation() -> None:
    """Inviting new accounts' admins to onboarding sessions raises 90-day activation."""
    cfg = CFG.with_(accounts=3000, days=240)
    invited: set[int] = set()

    def policy(world: World, t: int) -> list[Invite]:
        acc = world.accounts
        new = np.flatnonzero((acc.created_day < t) & (acc.created_day >= t - 21)
                             & ((t - acc.created_day) % 7 == 1) & world.state.live)
        invited.update(int(a) for a in new)
        return [Invite(contact_id(int(acc.first_contact[a])), "onboarding_session") for a in new]

    base, treated, _ = _run_pair(cfg, policy)
    idx = np.array(sorted(invited))
    idx = idx[base.accounts.created_day[idx] < cfg.days - 90]

    def rate(w: World) -> float:
        d = w.state.activated_day[idx] - w.accounts.created_day[idx]
        return float((d <= 90).mean())

    assert rate(treated) > rate(base) + 0.05, (rate(base), rate(treated))
