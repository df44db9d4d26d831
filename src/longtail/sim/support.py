"""Support tickets and survey responses, driven by satisfaction and engagement."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from . import catalog
from .rng import U64, Purpose, entity_keys, generator, hash_uniform, stream_key
from .state import Day

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]

PRIORITIES: tuple[str, ...] = ("low", "normal", "high", "urgent")
_PRIORITY_CDF = np.cumsum([0.30, 0.48, 0.17, 0.05])
# Median hours to resolve, by priority.
_MEDIAN_HOURS = np.array([60.0, 28.0, 10.0, 4.0])
KINDS: tuple[str, ...] = ("nps", "csat", "ces", "churn_reason")
NPS, CSAT, CES, CHURN_REASON = range(4)
COMMENTS: tuple[str, ...] = (
    "Too expensive for what we use", "We moved to another tool", "Hard to get the team on board",
    "Support took too long", "Our budget was cut", "Our main user left", "Reorganised, no owner",
    "Love the automations", "Reports save us hours", "Missing integrations we need",
    "Great onboarding", "Works, but slow at times", "Not using it enough",
)
# Churn causes (state.CAUSES order) -> the comment people tend to give.
_DETRACTOR = np.array([3, 9, 11, 12], dtype=np.int64)
_PROMOTER = np.array([7, 8, 10], dtype=np.int64)
CAUSE_COMMENT = np.array([12, 11, 2, 12, 5, 6, 4, 1, 0, 3, 0], dtype=np.int64)


@dataclass
class TicketBatch:
    account: I64
    key: U64
    opened_s: I64
    closed_s: I64  # -1 = still open at the end
    priority: I64
    status: I64  # 0 open, 1 pending, 2 solved, 3 closed
    csat: I64  # 0 = empty
    requester: I64


@dataclass
class SurveyBatch:
    account: I64
    contact: I64
    key: U64
    ts_s: I64
    kind: I64
    score: I64  # -1 = empty
    comment: I64  # -1 = empty


def _poisson_small(u: F64, lam: F64, kmax: int = 6) -> I64:
    """Inverse-CDF Poisson for small rates, one uniform per draw (keeps CRN)."""
    pmf = np.exp(-lam)
    cdf = pmf.copy()
    k = np.zeros(u.size, dtype=np.int64)
    for i in range(1, kmax + 1):
        k += u >= cdf
        pmf = pmf * lam / i
        cdf = cdf + pmf
    return k


def tickets(d: Day) -> TicketBatch:
    """Open today's tickets; resolution time and CSAT are drawn at opening."""
    cfg, acc, st, t, day_s, end_s = d.cfg, d.acc, d.st, d.t, d.day_s, d.end_s
    dyn = cfg.dynamics
    u = generator(cfg.seed, Purpose.TICKETS, t).random(cfg.accounts)
    lam = (dyn.ticket_base * st.seats.astype(np.float64) ** dyn.ticket_seat_exp
           * (0.5 + 1.5 * (1.0 - st.satisfaction)) * (0.6 + 0.8 * st.engagement))
    lam = np.where(st.live & (acc.created_day < t), lam, 0.0)
    counts = _poisson_small(u, lam)
    a = np.repeat(np.arange(cfg.accounts, dtype=np.int64), counts)
    k = np.arange(a.size, dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
    keys = (np.uint64(t) << np.uint64(44)) | entity_keys(a, k)
    skey = stream_key(cfg.seed, Purpose.TICKET_ATTRS, t)
    draws = [hash_uniform(keys, skey ^ np.uint64(j)) for j in range(6)]
    priority = np.searchsorted(_PRIORITY_CDF, draws[0] * _PRIORITY_CDF[-1], side="right")
    hours = _MEDIAN_HOURS[priority] * (-np.log(np.maximum(draws[1], 1e-12)) / np.log(2.0)) ** 1.25
    opened = day_s + (7 * 3600 + draws[2] * 12 * 3600).astype(np.int64)
    closed = opened + (hours * 3600).astype(np.int64)
    done = closed < end_s
    status = np.where(done, np.where(closed < end_s - 3 * 86_400, 3, 2),
                      np.where(draws[3] < 0.6, 0, 1))
    speed = np.exp(-hours / (3.0 * _MEDIAN_HOURS[priority]))
    mood = 0.35 * st.satisfaction[a] + 0.65 * speed
    score = np.clip(np.round(1.0 + 4.0 * mood + 0.8 * np.log(draws[4] / (1.0 - draws[4] + 1e-12)) / 2.0), 1, 5)
    answered = done & (draws[3] < 0.35)
    bad = (hours > 3.0 * _MEDIAN_HOURS[priority]) | (answered & (score <= 2))
    st.satisfaction[a[bad]] = np.maximum(st.satisfaction[a[bad]] - dyn.bad_support_hit, 0.01)
    st.bad_support_day[a[bad]] = t
    requester = acc.first_contact[a] + (draws[5] * acc.n_contacts[a]).astype(np.int64)
    return TicketBatch(account=a, key=keys, opened_s=opened, closed_s=np.where(done, closed, -1),
                       priority=priority.astype(np.int64), status=status.astype(np.int64),
                       csat=np.where(answered, score, 0).astype(np.int64), requester=requester)


def _noise(u: F64) -> F64:
    """Logistic noise with unit-ish spread from a uniform."""
    return np.log(np.maximum(u, 1e-12) / np.maximum(1.0 - u, 1e-12)) / 1.8


def nps(d: Day) -> SurveyBatch:
    """Twice-yearly relationship NPS to every present contact of the account."""
    cfg, acc, con, st, t, day_s = d.cfg, d.acc, d.con, d.st, d.t, d.day_s
    due = np.flatnonzero(st.live & (acc.created_day < t) & ((t + acc.nps_offset) % 182 == 0))
    slots = acc.n_contacts[due] + 2
    c = np.repeat(acc.first_contact[due], slots)
    c += np.arange(c.size) - np.repeat(np.cumsum(slots) - slots, slots)
    c = c[st.present[c] & (st.contact_created_day[c] < t)]
    a = con.account[c]
    skey = stream_key(cfg.seed, Purpose.SURVEYS, t)
    keys = entity_keys(c, 1)
    respond = hash_uniform(keys, skey) < 0.08 + 0.3 * st.engagement[a]
    c, a, keys = c[respond], a[respond], keys[respond]
    bias = np.where(con.role[c] == catalog.CHAMPION, 0.6, np.where(con.role[c] == catalog.EXEC, -0.4, 0.0))
    raw = 1.0 + 10.0 * st.satisfaction[a] + bias + 1.5 * _noise(hash_uniform(keys, skey ^ np.uint64(1)))
    score = np.clip(np.round(raw), 0, 10).astype(np.int64)
    u = hash_uniform(keys, skey ^ np.uint64(2))
    pick = (u * 1000).astype(np.int64)
    comment = np.where(u < 0.25, np.where(score <= 6, _DETRACTOR[pick % 4], _PROMOTER[pick % 3]), -1)
    ts = day_s + (8 * 3600 + hash_uniform(keys, skey ^ np.uint64(3)) * 10 * 3600).astype(np.int64)
    return SurveyBatch(account=a, contact=c, key=(np.uint64(t) << np.uint64(44)) | keys, ts_s=ts,
                       kind=np.full(c.size, NPS, dtype=np.int64), score=score, comment=comment)


def ces(d: Day, activated: I64) -> SurveyBatch:
    """Customer-effort survey to the admin on the day the account activates."""
    cfg, acc, st, t, day_s = d.cfg, d.acc, d.st, d.t, d.day_s
    skey = stream_key(cfg.seed, Purpose.SURVEYS, t) ^ np.uint64(11)
    c = acc.first_contact[activated]
    keys = entity_keys(c, 2)
    keep = hash_uniform(keys, skey) < 0.4
    a, c, keys = activated[keep], c[keep], keys[keep]
    raw = 2.0 + 5.0 * (0.5 * acc.fit[a] + 0.5 * st.satisfaction[a]) + _noise(hash_uniform(keys, skey ^ np.uint64(1)))
    return SurveyBatch(account=a, contact=c, key=(np.uint64(t) << np.uint64(44)) | keys,
                       ts_s=day_s + 15 * 3600 + (a % 3600), kind=np.full(a.size, CES, dtype=np.int64),
                       score=np.clip(np.round(raw), 1, 7).astype(np.int64), comment=np.full(a.size, -1, dtype=np.int64))


def csat_from_tickets(tk: TicketBatch, end_s: int) -> SurveyBatch:
    """The CSAT answers of solved tickets, as survey responses an hour after closing."""
    m = (tk.csat > 0) & (tk.closed_s + 3600 < end_s)
    return SurveyBatch(account=tk.account[m], contact=tk.requester[m], key=tk.key[m] | np.uint64(3 << 10),
                       ts_s=tk.closed_s[m] + 3600, kind=np.full(int(m.sum()), CSAT, dtype=np.int64),
                       score=tk.csat[m], comment=np.full(int(m.sum()), -1, dtype=np.int64))


def churn_reasons(d: Day, churned: I64, cause: I64) -> SurveyBatch:
    """Half of churned accounts say why; a quarter of those give a generic answer."""
    cfg, acc, st, t, day_s = d.cfg, d.acc, d.st, d.t, d.day_s
    skey = stream_key(cfg.seed, Purpose.SURVEYS, t) ^ np.uint64(21)
    keys = entity_keys(churned, 4)
    u = hash_uniform(keys, skey)
    keep = u < 0.5
    a = churned[keep]
    contact = acc.first_contact[a] + np.where(st.present[acc.first_contact[a] + 1], 1, 0)
    comment = np.where(u[keep] < 0.125, 0, CAUSE_COMMENT[cause[keep]])
    return SurveyBatch(account=a, contact=contact, key=(np.uint64(t) << np.uint64(44)) | keys[keep],
                       ts_s=day_s + 16 * 3600 + (a % 3600), kind=np.full(a.size, CHURN_REASON, dtype=np.int64),
                       score=np.full(a.size, -1, dtype=np.int64), comment=comment.astype(np.int64))
