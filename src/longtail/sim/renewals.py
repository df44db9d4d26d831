"""Renewal decisions: renew, expand, contract or churn; monthly cancellations.

Annual and monthly accounts both sign 12-month terms. At each term end the
account churns with the latent churn probability; monthly-billed accounts also
face a monthly hazard 1 - (1 - p)^(1/12) at every month boundary (so their
yearly risk is the same) and a mid-term cancel ends the term early.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from .config import SimConfig
from .population import Accounts, month_day
from .rng import Purpose, entity_keys, hash_uniform, stream_key
from .state import (
    BAD_SUPPORT_CAUSE,
    BASELINE_CAUSE,
    LOW_SATISFACTION,
    Day,
    State,
    active_seats,
    churn_probability,
    churn_terms,
)

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]

OUTCOMES: tuple[str, ...] = ("renew", "expand", "contract", "churn", "cancel")
RENEW, EXPAND, CONTRACT, CHURN, CANCEL = range(5)


@dataclass
class RenewalBatch:
    """Decisions taken today, one row per account that had one."""

    account: I64
    outcome: I64
    p_churn: F64
    arr_before: F64
    arr_after: F64
    seats_before: I64
    seats_after: I64
    cause: I64  # primary churn cause (state.CAUSES), -1 unless churned
    causes: I64  # bit mask of contributing causes


def _causes(cfg: SimConfig, acc: Accounts, st: State, idx: I64, t: int) -> tuple[I64, I64]:
    """Primary cause = largest positive logit contribution; all above 0.25 contribute."""
    terms = churn_terms(cfg, acc, st, idx)
    primary = np.where(terms.max(axis=0) > 0, terms.argmax(axis=0), BASELINE_CAUSE)
    recent_bad = st.bad_support_day[idx] >= t - 90
    primary = np.where((primary == LOW_SATISFACTION) & recent_bad, BAD_SUPPORT_CAUSE, primary)
    bits = (terms > 0.25).astype(np.int64) << np.arange(terms.shape[0])[:, None]
    mask = bits.sum(axis=0) | (recent_bad.astype(np.int64) << BAD_SUPPORT_CAUSE)
    return primary.astype(np.int64), mask | (np.int64(1) << primary)


def decide(d: Day) -> RenewalBatch:
    """Take today's renewal and cancellation decisions and update the contracts."""
    cfg, acc, st, t = d.cfg, d.acc, d.st, d.t
    term = st.live & (acc.term_end_day == t)
    bill = st.live & acc.monthly & (acc.next_bill_day == t) & ~term
    idx = np.flatnonzero(term | bill)
    p_year = churn_probability(cfg, acc, st, t, idx)
    p = np.where(acc.monthly[idx], 1.0 - (1.0 - p_year) ** (1.0 / 12.0), p_year)
    key = stream_key(cfg.seed, Purpose.RENEWAL, t)
    u = [hash_uniform(entity_keys(idx, j), key) for j in range(3)]
    churn = u[0] < p
    at_term = term[idx]
    outcome = np.where(churn, np.where(at_term, CHURN, CANCEL), RENEW)
    r = cfg.renewal
    util = active_seats(st, idx) / st.seats[idx]
    budget = st.shock_left[2, idx] > 0
    p_exp = 1.0 / (1.0 + np.exp(-(r.expand_logit + r.expand_utilisation * (util - 0.9))))
    p_con = 1.0 / (1.0 + np.exp(-(r.contract_logit + r.contract_utilisation * (0.6 - util) + 1.5 * budget)))
    renewing = at_term & ~churn
    outcome = np.where(renewing & (u[1] < p_exp), EXPAND, outcome)
    outcome = np.where(renewing & (u[1] >= p_exp) & (u[1] < p_exp + p_con), CONTRACT, outcome)
    seats_before, arr_before = st.seats[idx].copy(), st.arr[idx].copy()
    seats = _new_seats(cfg, st, idx, outcome, u[2])
    # Nobody contracts below the seats in use (the licence events must stay within seats):
    # a contraction that cannot shrink anything is a flat renewal.
    outcome = np.where((outcome == CONTRACT) & (seats >= seats_before), RENEW, outcome)
    price = arr_before / seats_before * (1.0 + np.where(renewing, r.price_uplift, 0.0))
    arr = np.where(renewing, np.round(seats * price, 2), np.where(churn, 0.0, arr_before))
    _apply(d, idx, outcome, seats, arr, at_term=at_term)
    cause, mask = _causes(cfg, acc, st, idx, t)
    return RenewalBatch(account=idx, outcome=outcome.astype(np.int64), p_churn=p,
                        arr_before=arr_before, arr_after=arr, seats_before=seats_before,
                        seats_after=np.where(churn, 0, seats).astype(np.int64),
                        cause=np.where(churn, cause, -1), causes=np.where(churn, mask, 0))


def _new_seats(cfg: SimConfig, st: State, idx: I64, outcome: I64, u: F64) -> I64:
    r = cfg.renewal
    seats = st.seats[idx].astype(np.float64)
    grow = np.maximum(seats * (1.0 + r.expand_size[0] + u * (r.expand_size[1] - r.expand_size[0])),
                      np.minimum(st.demand[idx], 2.0 * seats))
    shrink = seats * (1.0 - r.contract_size[0] - u * (r.contract_size[1] - r.contract_size[0]))
    shrink = np.maximum(shrink, np.ceil(1.05 * active_seats(st, idx)))  # headroom over reported usage
    out = np.where(outcome == EXPAND, np.ceil(grow), np.where(outcome == CONTRACT, np.floor(shrink), seats))
    return np.maximum(out, 1).astype(np.int64)


def _apply(d: Day, idx: I64, outcome: I64, seats: I64, arr: F64, *, at_term: npt.NDArray[np.bool_]) -> None:
    cfg, acc, st, t = d.cfg, d.acc, d.st, d.t
    gone = idx[(outcome == CHURN) | (outcome == CANCEL)]
    st.live[gone] = False
    st.churned_day[gone] = t
    # Only a term end starts a new term. A monthly account that stays on a billing day mid-term keeps its term:
    # starting one there wrote a second, overlapping subscription row and counted its ARR twice.
    ren = idx[at_term & ((outcome == RENEW) | (outcome == EXPAND) | (outcome == CONTRACT))]
    keep = (outcome != CHURN) & (outcome != CANCEL)
    st.seats[idx[keep]] = seats[keep]
    st.arr[idx[keep]] = arr[keep]
    acc.term_start_month[ren] += 12
    acc.term_start_day[ren] = t
    acc.term_end_day[ren] = month_day(acc.term_start_month[ren] + 12, acc.dom[ren], cfg.start)
    alive = idx[keep]
    mon = alive[acc.monthly[alive]]
    # Next month boundary strictly after today.
    months = acc.term_start_month[mon] + 1
    nxt = month_day(months, acc.dom[mon], cfg.start)
    for _ in range(13):
        late = nxt <= t
        if not late.any():
            break
        months = months + late
        nxt = month_day(months, acc.dom[mon], cfg.start)
    acc.next_bill_day[mon] = nxt
