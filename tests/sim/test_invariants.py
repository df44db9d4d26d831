"""Property-based invariants over small random worlds (Hypothesis)."""

from __future__ import annotations

import datetime as dt

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from longtail.sim import SimConfig, World
from longtail.sim.catalog import EVENT_CODE, LICENSE_USAGE

configs = st.builds(
    SimConfig,
    accounts=st.integers(5, 120),
    days=st.integers(1, 60),
    start=st.dates(dt.date(2020, 1, 1), dt.date(2030, 12, 31)),
    seed=st.integers(0, 2**31),
)


@settings(max_examples=15)
@given(configs)
def test_nothing_before_creation_or_after_the_end(cfg: SimConfig) -> None:
    world = World(cfg)
    epoch = (cfg.start - dt.date(1970, 1, 1)).days * 86_400
    acc_created = epoch + world.accounts.created_day * 86_400 + world.accounts.created_sec
    end = epoch + cfg.days * 86_400
    while not world.done:
        out = world.step(world.today)
        ev = out.events
        assert (ev.ts_s >= acc_created[ev.account]).all()
        assert (ev.ts_s < end).all()
        has_contact = ev.contact >= 0
        st_ = world.state
        c_created = epoch + st_.contact_created_day * 86_400 + st_.contact_created_sec
        assert (ev.ts_s[has_contact] >= c_created[ev.contact[has_contact]]).all()
        assert (world.contacts.account[ev.contact[has_contact]] == ev.account[has_contact]).all()
        tk = out.tickets
        assert (tk.opened_s >= acc_created[tk.account]).all() and (tk.opened_s < end).all()
        closed = tk.closed_s >= 0
        assert (tk.closed_s[closed] > tk.opened_s[closed]).all() and (tk.closed_s < end).all()


@settings(max_examples=15)
@given(configs)
def test_seats_in_use_never_exceed_seats_bought(cfg: SimConfig) -> None:
    world = World(cfg)
    while not world.done:
        ev = world.step(world.today).events
        lic = ev.code == EVENT_CODE[LICENSE_USAGE]
        assert (ev.value[lic] <= world.state.seats[ev.account[lic]]).all()
        assert (ev.value[lic] >= 0).all()
        assert (world.state.seats >= 1).all() and (world.state.arr > 0).all()
        assert len(np.unique(ev.key)) == len(ev)


@settings(max_examples=10, deadline=None)
@given(st.builds(SimConfig, accounts=st.integers(20, 150), days=st.integers(40, 120),
                 start=st.dates(dt.date(2020, 1, 1), dt.date(2030, 12, 31)), seed=st.integers(0, 2**31)))
def test_an_accounts_terms_never_overlap_and_their_arr_is_the_live_arr(cfg: SimConfig) -> None:
    """One subscription row covers an account on any day, and it carries the account's ARR: monthly billing
    days mid-term once started a second, overlapping term (the loaded ARR counted those accounts twice)."""
    world = World(cfg)
    while not world.done:
        world.step(world.today)
    tm, live = world.terms, world.state.live
    for account in np.unique(tm.account):
        rows = np.flatnonzero(tm.account == account)
        order = rows[np.argsort(tm.start[rows], kind="stable")]
        assert (tm.start[order][1:] >= tm.end[order][:-1]).all(), (account, tm.start[order], tm.end[order])
    day = world.t - 1
    covering = (tm.start <= day) & (tm.end > day)
    per_account = np.zeros(live.size)
    np.add.at(per_account, tm.account[covering], tm.arr[covering])
    np.testing.assert_allclose(per_account[live], world.state.arr[live], rtol=0, atol=0.01)
    assert not per_account[~live].any()
