"""Arrow tables in the data contract's shape, built from the world's arrays."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from . import catalog, renewals, state, support
from .ids import (
    ACCOUNT_PREFIX,
    ACCOUNT_WIDTH,
    CONTACT_PREFIX,
    CONTACT_WIDTH,
    SUBSCRIPTION_PREFIX,
    FixedText,
    decimal_ids,
    hex_ids,
)
from .population import NEVER
from .usage import PROPS, EventBatch
from .world import World

I64 = npt.NDArray[np.int64]
TS = pa.timestamp("us", tz="UTC")
_EPOCH_DAY0 = np.datetime64("1970-01-01", "D")


def _take(values: pa.Array, idx: I64) -> pa.Array:
    """values[idx], with null where idx < 0."""
    ind = pa.array(np.maximum(idx, 0), mask=idx < 0)
    return pc.take(values, ind)


def _ts(seconds: I64) -> pa.Array:
    return pa.array(seconds * 1_000_000, type=TS, mask=seconds < 0)


def _text(values: tuple[str, ...]) -> pa.Array:
    return pa.array(list(values), pa.string())


class Vocab:
    """Id and name arrays of one world, built once and gathered from per batch."""

    def __init__(self, world: World) -> None:
        n, m = world.config.accounts, world.contacts.account.size
        self.accounts = FixedText.decimal(ACCOUNT_PREFIX, np.arange(n, dtype=np.int64), ACCOUNT_WIDTH)
        self.contacts = FixedText.decimal(CONTACT_PREFIX, np.arange(m, dtype=np.int64), CONTACT_WIDTH)
        self.events = _text(catalog.EVENT_NAMES)
        self.props = _text(PROPS)
        self.start_day = int((np.datetime64(world.config.start, "D") - _EPOCH_DAY0).astype(np.int64))


def _head_then_nulls(head: pa.Array, total: int) -> pa.ChunkedArray:
    return pa.chunked_array([head, pa.nulls(total - len(head), head.type)], head.type)


def events_table(v: Vocab, b: EventBatch) -> pa.Table:
    k = b.plain_start
    return pa.table({
        "event_id": hex_ids("", b.key),
        "account_id": v.accounts.take(b.account),
        "contact_id": v.contacts.take(b.contact),
        "event": pc.take(v.events, pa.array(b.code)),
        "ts": _ts(b.ts_s),
        "value": _head_then_nulls(pa.array(b.value[:k], from_pandas=True), len(b)),
        "properties": _head_then_nulls(_take(v.props, b.prop[:k]), len(b)),
    })


def tickets_table(v: Vocab, b: support.TicketBatch) -> pa.Table:
    return pa.table({
        "ticket_id": hex_ids("t", b.key),
        "account_id": v.accounts.take(b.account),
        "opened_at": _ts(b.opened_s),
        "closed_at": _ts(b.closed_s),
        "priority": pc.take(_text(support.PRIORITIES), pa.array(b.priority)),
        "status": pc.take(_text(("open", "pending", "solved", "closed")), pa.array(b.status)),
        "csat": pa.array(b.csat, mask=b.csat == 0),
    })


def surveys_table(v: Vocab, parts: list[support.SurveyBatch]) -> pa.Table:
    cols = ("account", "contact", "key", "ts_s", "kind", "score", "comment")
    b = support.SurveyBatch(*(np.concatenate([getattr(p, c) for p in parts]) for c in cols))
    return pa.table({
        "response_id": hex_ids("r", b.key | (b.kind.astype(np.uint64) << np.uint64(62))),
        "account_id": v.accounts.take(b.account),
        "contact_id": v.contacts.take(b.contact),
        "ts": _ts(b.ts_s),
        "kind": pc.take(_text(support.KINDS), pa.array(b.kind)),
        "score": pa.array(b.score, mask=b.score < 0),
        "comment": _take(_text(support.COMMENTS), b.comment),
    })


def _dates(v: Vocab, days: I64) -> pa.Array:
    return pa.array((v.start_day + days).astype(np.int32), type=pa.date32())


def _maybe_dates(v: Vocab, days: I64) -> pa.Array:
    never = days == NEVER
    return pa.array((v.start_day + np.where(never, 0, days)).astype(np.int32), type=pa.date32(), mask=never)


def _created_at(v: Vocab, day: I64, sec: I64) -> pa.Array:
    return _ts((v.start_day + day) * 86_400 + sec)


def accounts_table(v: Vocab, w: World) -> pa.Table:
    a = w.accounts
    left, right = _take(_text(catalog.NAME_LEFT), a.name_left), _take(_text(catalog.NAME_RIGHT), a.name_right)
    return pa.table({
        "account_id": v.accounts.all(),
        "name": pc.binary_join_element_wise(left, right, " "),
        "created_at": _created_at(v, a.created_day, a.created_sec),
        "industry": _take(_text(tuple(i for i, _ in catalog.INDUSTRIES)), a.industry),
        "country": _take(_text(tuple(c for c, _, _ in catalog.COUNTRIES)), a.country),
        "employees": pa.array(a.employees),
        "parent_account_id": pa.nulls(a.tier.size, pa.string()),
        "plan_family": _take(_text(w.config.tiers.plans), a.tier),
        "billing": pa.array(np.where(a.monthly, "monthly", "annual")),
    })


def subscriptions_table(v: Vocab, w: World) -> pa.Table:
    tm = w.terms
    keep = np.flatnonzero(tm.start < w.config.days)
    acc = tm.account[keep]
    billing = np.where(w.accounts.monthly[acc], "_monthly", "_annual")
    plan = np.char.add(np.asarray(w.config.tiers.plans)[w.accounts.tier[acc]], billing)
    arr = np.round(tm.arr[keep], 2)
    return pa.table({
        "subscription_id": decimal_ids(SUBSCRIPTION_PREFIX, acc, ACCOUNT_WIDTH),
        "account_id": v.accounts.take(acc),
        "plan": pa.array(plan.tolist(), pa.string()),
        "start_date": _dates(v, tm.start[keep]),
        "end_date": _dates(v, tm.end[keep]),
        "mrr": pa.array(np.round(arr / 12.0, 2)),
        "arr": pa.array(arr),
        "quantity": pa.array(tm.seats[keep]),
        "currency": pa.array(np.full(keep.size, "USD").tolist(), pa.string()),
    })


def contacts_table(v: Vocab, w: World) -> pa.Table:
    c, st = w.contacts, w.state
    idx = np.flatnonzero(st.contact_created_day < w.config.days)
    first = _take(_text(catalog.FIRST_NAMES), c.first_name[idx])
    last = _take(_text(catalog.LAST_NAMES), c.last_name[idx])
    ascii_first = pc.utf8_lower(_take(_text(tuple(_ascii(n) for n in catalog.FIRST_NAMES)), c.first_name[idx]))
    ascii_last = pc.utf8_lower(_take(_text(tuple(_ascii(n) for n in catalog.LAST_NAMES)), c.last_name[idx]))
    a = c.account[idx]
    domain = pc.utf8_lower(pc.binary_join_element_wise(
        _take(_text(catalog.NAME_LEFT), w.accounts.name_left[a]),
        _take(_text(catalog.NAME_RIGHT), w.accounts.name_right[a]), ""))
    local = pc.binary_join_element_wise(ascii_first, ascii_last, ".")
    email = pc.binary_join_element_wise(local, decimal_ids("", idx, 1 + len(str(c.account.size))), "")
    email = pc.binary_join_element_wise(email, pc.binary_join_element_wise(
        domain, decimal_ids("", a, ACCOUNT_WIDTH), ""), "@")
    title_flat = tuple(t for ts in catalog.TITLES for t in ts)
    offsets = np.concatenate([[0], np.cumsum([len(t) for t in catalog.TITLES])[:-1]])
    return pa.table({
        "contact_id": v.contacts.take(idx),
        "account_id": v.accounts.take(a),
        "email": pc.binary_join_element_wise(email, pa.scalar(".example"), ""),
        "name": pc.binary_join_element_wise(first, last, " "),
        "role": _take(_text(catalog.ROLES), c.role[idx]),
        "title": _take(_text(title_flat), offsets[c.role[idx]] + c.title[idx]),
        "timezone": _take(_text(catalog.ZONES), c.zone[idx]),
        "created_at": _created_at(v, st.contact_created_day[idx], st.contact_created_sec[idx]),
    })


def _ascii(name: str) -> str:
    table = str.maketrans({"ü": "u", "é": "e", "ë": "e", "ö": "o", "ä": "a"})
    return name.translate(table)


def team_table(w: World) -> pa.Table:
    tm = w.team
    n = len(tm.role)
    names = [f"{catalog.FIRST_NAMES[i % len(catalog.FIRST_NAMES)]} "
             f"{catalog.LAST_NAMES[(i * 7) % len(catalog.LAST_NAMES)]}" for i in range(n)]
    return pa.table({
        "member_id": pa.array([f"tm_{i:05d}" for i in range(n)]),
        "name": pa.array(names),
        "email": pa.array([f"{_ascii(x).lower().replace(' ', '.')}.{i}@vendor.example" for i, x in enumerate(names)]),
        "role": pa.array(tm.role),
        "capacity": pa.array(tm.capacity, pa.int64()),
        "skills": pa.array(tm.skills),
        "tiers": pa.array(tm.tiers),
    })


def truth_state_table(v: Vocab, w: World, p_churn: npt.NDArray[np.float64], drop: npt.NDArray[np.bool_]) -> pa.Table:
    """The latent state of every live account at the end of the current day."""
    st, acc = w.state, w.accounts
    idx = np.flatnonzero(st.live)
    day = np.full(idx.size, v.start_day + w.t - 1, dtype=np.int32)
    cols: dict[str, pa.Array] = {
        "day": pa.array(day, type=pa.date32()),
        "account_id": v.accounts.take(idx),
        "activated": pa.array(st.milestones[idx] == state.ALL_MILESTONES),
        "milestones": pa.array(st.milestones[idx].astype(np.int8)),
        "adoption": pa.array(st.adoption[idx]),
        "engagement": pa.array(st.engagement[idx]),
        "satisfaction": pa.array(st.satisfaction[idx]),
        "utilisation": pa.array((state.active_seats(st)[idx] / st.seats[idx]).astype(np.float32)),
        "in_usage_drop": pa.array(drop[idx]),
        "rescue_active": pa.array(st.rescue_until[idx] >= w.t - 1),
        "p_churn": pa.array(p_churn[idx].astype(np.float32)),
        "days_to_renewal": pa.array((acc.term_end_day[idx] - (w.t - 1)).astype(np.int32)),
    }
    for k, name in enumerate(w.config.dynamics.shock_names):
        cols[name] = pa.array(st.shock_left[k, idx] > 0)
    return pa.table(cols)


def decisions_table(v: Vocab, parts: list[renewals.RenewalBatch], days: list[int]) -> pa.Table:
    cols = ("account", "outcome", "p_churn", "arr_before", "arr_after", "seats_before", "seats_after",
            "cause", "causes")
    b = renewals.RenewalBatch(*(np.concatenate([getattr(p, c) for p in parts]) for c in cols))
    day = np.repeat(np.asarray(days, dtype=np.int64), [p.account.size for p in parts])
    mask_names = [";".join(n for i, n in enumerate(state.CAUSES) if (m >> i) & 1) for m in range(1 << 11)]
    return pa.table({
        "day": _dates(v, day),
        "account_id": v.accounts.take(b.account),
        "outcome": pc.take(_text(renewals.OUTCOMES), pa.array(b.outcome)),
        "p_churn": pa.array(b.p_churn),
        "arr_before": pa.array(b.arr_before), "arr_after": pa.array(b.arr_after),
        "seats_before": pa.array(b.seats_before), "seats_after": pa.array(b.seats_after),
        "cause": _take(_text(state.CAUSES), b.cause),
        "causes": _take(pa.array(mask_names, pa.string()), np.where(b.cause >= 0, b.causes, -1)),
    })


def truth_accounts_table(v: Vocab, w: World) -> pa.Table:
    a, st = w.accounts, w.state
    return pa.table({
        "account_id": v.accounts.all(),
        "tier": _take(_text(w.config.tiers.names), a.tier),
        "fit": pa.array(a.fit), "saveable": pa.array(a.saveable),
        "rescue_efficacy": pa.array(a.rescue_efficacy),
        "arr_start": pa.array(a.arr), "created_day": _dates(v, a.created_day),
        "churned_on": _maybe_dates(v, st.churned_day),
        "activated_on": _maybe_dates(v, st.activated_day),
    })
