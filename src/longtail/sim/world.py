"""The closed-loop world: advance one day at a time, optionally intervening.

    world = World(SimConfig(accounts=2000, days=365, seed=1))
    while not world.done:
        out = world.step(world.today, [Email("con_0000000042", "onboarding")])

With the same config, a run without interventions is the exact counterfactual
of a run with them: every base draw is keyed by (seed, day, purpose, entity).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from . import catalog, renewals, support, usage
from .config import SimConfig
from .ids import contact_id
from .interventions import Intervention, respond
from .population import NEVER, build_accounts, build_contacts, build_team
from .state import (
    ALL_MILESTONES,
    Day,
    State,
    active_seats,
    apply_shocks,
    end_shocks,
    evolve,
    init_state,
    reach_milestones,
)

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
_EPOCH = dt.date(1970, 1, 1)


@dataclass
class DayOutput:
    """What happened on one simulated day."""

    day: dt.date
    index: int
    events: usage.EventBatch
    tickets: support.TicketBatch
    surveys: list[support.SurveyBatch]
    renewals: renewals.RenewalBatch
    responses: pa.Table
    activated: I64  # accounts that reached every onboarding milestone today


class Terms:
    """Subscription terms, one row per contract term (grows as accounts renew).

    Storage doubles when full, so renewals cost amortised O(rows renewed), not a
    copy of every term each day.
    """

    def __init__(self, account: I64, start: I64, end: I64, seats: I64, arr: F64) -> None:
        self.size = account.size
        self._account, self._start, self._end = account.copy(), start.copy(), end.copy()
        self._seats, self._arr = seats.copy(), arr.copy()
        self.current = np.arange(account.size, dtype=np.int64)

    def _reserve(self, extra: int) -> None:
        if self.size + extra <= self._account.size:
            return
        cap = max(2 * self._account.size, self.size + extra)
        for name in ("_account", "_start", "_end", "_seats", "_arr"):
            old = getattr(self, name)
            new = np.zeros(cap, dtype=old.dtype)
            new[: self.size] = old[: self.size]
            setattr(self, name, new)

    def renew(self, account: I64, start: int, end: I64, seats: I64, arr: F64) -> None:
        self._reserve(account.size)
        rows = self.size + np.arange(account.size, dtype=np.int64)
        self._account[rows], self._start[rows], self._end[rows] = account, start, end
        self._seats[rows], self._arr[rows] = seats, arr
        self.current[account] = rows
        self.size += account.size

    def cancel(self, account: I64, day: int) -> None:
        self._end[self.current[account]] = day

    @property
    def account(self) -> I64:
        return self._account[: self.size]

    @property
    def start(self) -> I64:
        return self._start[: self.size]

    @property
    def end(self) -> I64:
        return self._end[: self.size]

    @property
    def seats(self) -> I64:
        return self._seats[: self.size]

    @property
    def arr(self) -> F64:
        return self._arr[: self.size]


class World:
    """A seeded B2B SaaS customer base that evolves one day per `step`."""

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.accounts = build_accounts(config)
        self.contacts = build_contacts(config, self.accounts)
        self.team = build_team(config, self.accounts)
        self.state: State = init_state(config, self.accounts, self.contacts)
        acc = self.accounts
        self.terms = Terms(np.arange(config.accounts, dtype=np.int64), acc.term_start_day,
                           acc.term_end_day, acc.seats, acc.arr)
        self.decisions: list[renewals.RenewalBatch] = []
        self.t = 0
        self._end_s = self._day_seconds(config.days)

    @property
    def today(self) -> dt.date:
        """The next day `step` will simulate."""
        return self.config.start + dt.timedelta(days=self.t)

    @property
    def done(self) -> bool:
        return self.t >= self.config.days

    def _day_seconds(self, t: int) -> int:
        return ((self.config.start - _EPOCH).days + t) * 86_400

    def step(self, day: dt.date | None = None, interventions: Sequence[Intervention] = ()) -> DayOutput:
        """Simulate `day` (must be `today`), applying `interventions` first."""
        if day is not None and day != self.today:
            raise ValueError(f"the world is at {self.today}, cannot step {day}")
        if self.done:
            raise ValueError(f"the simulation ended on {self.config.end}")
        cfg, acc, con, st, t = self.config, self.accounts, self.contacts, self.state, self.t
        d = Day(cfg=cfg, acc=acc, con=con, st=st, t=t, day_s=self._day_seconds(t), end_s=self._end_s)
        st.live |= acc.created_day == t
        st.present |= (con.created_day == t) & (con.spare == 0)
        responses = respond(d, tuple(interventions))
        apply_shocks(cfg, acc, con, st, t)
        hit_acc, hit_ms = reach_milestones(cfg, acc, st, t)
        activated = np.flatnonzero((st.milestones == ALL_MILESTONES) & (st.activated_day == NEVER))
        st.activated_day[activated] = t
        evolve(cfg, acc, con, st, t)
        weekday = (self.today.weekday())
        parts = [usage.onboarding_events(d, hit_acc, hit_ms, activated)]
        if weekday == 0:
            parts.append(usage.licence_events(d, active_seats(st)))
        parts.append(usage.user_events(d, weekday))
        tickets = support.tickets(d)
        surveys = [support.nps(d), support.ces(d, activated), support.csat_from_tickets(tickets, self._end_s)]
        decided = renewals.decide(d)
        self._record(decided, t)
        churned = decided.cause >= 0
        surveys.append(support.churn_reasons(d, decided.account[churned], decided.cause[churned]))
        st.fatigue *= np.float32(cfg.effects.fatigue_decay)
        end_shocks(acc, st, t)
        self.t += 1
        return DayOutput(day=self.config.start + dt.timedelta(days=t), index=t,
                         events=usage.EventBatch.concat(parts), tickets=tickets, surveys=surveys,
                         renewals=decided, responses=responses, activated=activated)

    def _record(self, d: renewals.RenewalBatch, t: int) -> None:
        self.decisions.append(d)
        kept = (d.outcome != renewals.CHURN) & (d.outcome != renewals.CANCEL)
        renewed = kept & (self.accounts.term_start_day[d.account] == t)
        a = d.account[renewed]
        self.terms.renew(a, t, self.accounts.term_end_day[a], d.seats_after[renewed], d.arr_after[renewed])
        self.terms.cancel(d.account[d.outcome == renewals.CANCEL], t)

    def run(self, interventions: Sequence[Sequence[Intervention]] | None = None) -> list[DayOutput]:
        """Run to the end; `interventions[i]` is applied on day i (if given)."""
        out = []
        while not self.done:
            todo = interventions[self.t] if interventions is not None and self.t < len(interventions) else ()
            out.append(self.step(self.today, todo))
        return out

    def contact_ids_of(self, account: int) -> list[str]:
        """Ids of the contacts currently at an account (for choosing whom to message)."""
        acc, st = self.accounts, self.state
        first = int(acc.first_contact[account])
        slots = range(first, first + int(acc.n_contacts[account]) + 2)
        return [contact_id(c) for c in slots if st.present[c]]

    def role_of(self, contact: int) -> str:
        return catalog.ROLES[int(self.contacts.role[contact])]
