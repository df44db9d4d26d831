"""Interventions the engine can make, and how the world responds to them.

Responses draw from their own counter-based stream (RESPONSES), keyed by the
target and the message's rank for that target on that day, so doing something
never changes the base world's random numbers (common random numbers).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from . import catalog
from .ids import account_index, contact_index
from .rng import Purpose, entity_keys, hash_uniform, stream_key
from .state import Day, in_usage_drop

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
B = npt.NDArray[np.bool_]

INTENTS: tuple[str, ...] = ("onboarding", "adoption", "renewal", "rescue", "newsletter")
PROGRAMS: tuple[str, ...] = ("webinar", "onboarding_session")
TASKS: tuple[str, ...] = ("call", "rescue_call", "blocker_fixed", "onboarding_call")


@dataclass(frozen=True)
class Email:
    """An email to one contact, with its intent (see INTENTS)."""

    contact_id: str
    intent: str = "adoption"


@dataclass(frozen=True)
class InApp:
    """An in-app message shown to one contact the next time they use the product."""

    contact_id: str
    intent: str = "adoption"


@dataclass(frozen=True)
class Invite:
    """An invitation to a webinar or a live onboarding session (see PROGRAMS)."""

    contact_id: str
    program: str = "webinar"


@dataclass(frozen=True)
class CsmTask:
    """A CSM task completed on an account (see TASKS)."""

    account_id: str
    kind: str = "call"


Intervention = Email | InApp | Invite | CsmTask
_KIND = {Email: 0, InApp: 1, Invite: 2, CsmTask: 3}
KIND_NAMES: tuple[str, ...] = ("email", "in_app", "invite", "csm_task")


def _detail(item: Intervention) -> int:
    if isinstance(item, Email | InApp):
        names, value = INTENTS, item.intent
    elif isinstance(item, Invite):
        names, value = PROGRAMS, item.program
    else:
        names, value = TASKS, item.kind
    if value not in names:
        raise ValueError(f"unknown {type(item).__name__} value {value!r}; expected one of {names}")
    return names.index(value)


@dataclass(frozen=True)
class _Batch:
    """Today's interventions as arrays; contact is -1 for CSM tasks, c is it clipped to 0."""

    kind: I64
    detail: I64
    account: I64
    contact: I64
    c: I64


def _parse(d: Day, items: tuple[Intervention, ...]) -> _Batch:
    con = d.con
    kind = np.array([_KIND[type(i)] for i in items], dtype=np.int64)
    detail = np.array([_detail(i) for i in items], dtype=np.int64)
    contact = np.array([-1 if isinstance(i, CsmTask) else contact_index(i.contact_id, con.account.size)
                        for i in items], dtype=np.int64)
    account = np.array([account_index(i.account_id, d.cfg.accounts) if isinstance(i, CsmTask) else 0
                        for i in items], dtype=np.int64)
    c = np.maximum(contact, 0)
    account = np.where(contact >= 0, con.account[c], account)
    return _Batch(kind=kind, detail=detail, account=account, contact=contact, c=c)


def _rank(target: I64) -> I64:
    """0, 1, 2... for repeated targets, in the order given (stable)."""
    order = np.argsort(target, kind="stable")
    sorted_t = target[order]
    first = np.concatenate([[True], sorted_t[1:] != sorted_t[:-1]])
    start = np.maximum.accumulate(np.where(first, np.arange(target.size), 0))
    rank = np.empty_like(target)
    rank[order] = np.arange(target.size) - start
    return rank


def respond(d: Day, items: tuple[Intervention, ...]) -> pa.Table:
    """Apply today's interventions and return one response row per intervention."""
    if not items:
        return empty_responses()
    st, b = d.st, _parse(d, items)
    target = np.where(b.contact >= 0, b.contact, (1 << 31) + b.account)
    keys = entity_keys(target, np.minimum(_rank(target), 4095)) | (b.kind.astype(np.uint64) << np.uint64(56))
    skey = stream_key(d.cfg.seed, Purpose.RESPONSES, d.t)
    # One draw per use; the reply draw (3) came last, so adding it left the other draws unchanged.
    u = [hash_uniform(keys, skey ^ np.uint64(j)) for j in range(4)]
    reachable = st.live[b.account] & ((b.contact < 0) | (st.present[b.c] & ~st.unsubscribed[b.c]))
    delivered = reachable & ((b.kind == 3) | (st.contact_created_day[b.c] <= d.t))
    opened, clicked, attended, unsub = _messages(d, b, delivered & (b.kind != 3), u)
    replied = _replies(d, b, opened, u[3])
    _message_effects(d, b, clicked, attended)
    effect = _tasks(d, b, delivered)
    names = [KIND_NAMES[k] for k in b.kind]
    details = [(INTENTS, INTENTS, PROGRAMS, TASKS)[k][x] for k, x in zip(b.kind, b.detail, strict=True)]
    return pa.table({
        "kind": pa.array(names, pa.string()), "detail": pa.array(details, pa.string()),
        "account": pa.array(b.account), "contact": pa.array(b.contact),
        "delivered": pa.array(delivered), "opened": pa.array(opened), "clicked": pa.array(clicked),
        "attended": pa.array(attended), "unsubscribed": pa.array(unsub), "replied": pa.array(replied),
        "effect": pa.array(effect),
    })


def _messages(d: Day, b: _Batch, msg: B, u: list[F64]) -> tuple[B, B, B, B]:
    """Opens, clicks, attendance and unsubscribes; every message adds fatigue first."""
    fx, st, kind, c = d.cfg.effects, d.st, b.kind, b.c
    np.add.at(st.fatigue, c[msg], np.where(kind[msg] == 1, 0.5, 1.0).astype(np.float32))
    excess = np.maximum(st.fatigue[c] - fx.fatigue_free, 0.0)
    eng = st.engagement[b.account]
    base = np.array([fx.open_base[r] for r in catalog.ROLES])[d.con.role[c]]
    tilt = 1.0 - fx.open_engagement + 2.0 * fx.open_engagement * eng
    p_open = np.where(kind == 1, fx.inapp_view * (0.3 + eng), base * tilt) * np.exp(-0.3 * excess)
    opened = msg & (kind != 2) & (u[0] < np.minimum(p_open, 0.95))
    p_click = np.where(kind == 1, fx.inapp_click_given_view, fx.click_given_open)
    clicked = opened & (u[1] < p_click)
    att_base = np.array([fx.attend[p] for p in PROGRAMS])[np.where(kind == 2, b.detail, 0)]
    p_att = att_base * (1.0 - fx.attend_engagement + 2.0 * fx.attend_engagement * eng) * np.exp(-0.3 * excess)
    attended = msg & (kind == 2) & (u[0] < p_att)
    # In-app messages cannot be unsubscribed from; emails and invitations can.
    unsub = msg & (kind != 1) & (u[2] < fx.unsubscribe_base + fx.unsubscribe_fatigue * excess)
    st.unsubscribed[c[unsub]] = True
    return opened, clicked, attended, unsub


def _replies(d: Day, b: _Batch, opened: B, u: F64) -> B:
    """Replies to opened emails, with the probability of the email's intent (`reply_given_open`).

    In-app messages and invitations get no reply. A reply changes nothing in the world: it is a signal.
    """
    fx = d.cfg.effects
    missing = sorted(set(INTENTS) - set(fx.reply_given_open))
    if missing:
        raise ValueError(f"EffectsConfig.reply_given_open has no probability for intent(s) {', '.join(missing)}")
    p_reply = np.array([fx.reply_given_open[i] for i in INTENTS])[np.where(b.kind == 0, b.detail, 0)]
    replied: B = opened & (b.kind == 0) & (u < p_reply)
    return replied


def _message_effects(d: Day, b: _Batch, clicked: B, attended: B) -> None:
    """Clicks act by intent (INTENTS order), attendance by program (PROGRAMS order)."""
    fx, st, account, detail = d.cfg.effects, d.st, b.account, b.detail
    onboarding = (clicked & (detail == 0)) | (attended & (detail == 1))
    st.onboarding_until[account[onboarding]] = d.t + fx.onboarding_boost_days
    adopt = account[(clicked & (detail == 1)) | (attended & (detail == 0))]
    st.adoption[adopt] = np.minimum(st.adoption[adopt] + fx.adoption_boost, 1.0)
    warm = account[clicked & ((detail == 2) | (detail == 3))]
    st.satisfaction[warm] = np.minimum(st.satisfaction[warm] + 0.02, 1.0)


def _tasks(d: Day, b: _Batch, delivered: B) -> list[str]:
    """CSM tasks: calls lift satisfaction; a rescue call on a usage drop relieves churn."""
    fx, st, account, detail = d.cfg.effects, d.st, b.account, b.detail
    task = delivered & (b.kind == 3)
    drop = in_usage_drop(d.cfg, st)[account]
    effect = np.full(b.kind.size, "", dtype=object)
    for name, gain in (("call", fx.call_satisfaction), ("rescue_call", fx.call_satisfaction),
                       ("blocker_fixed", fx.blocker_satisfaction), ("onboarding_call", fx.call_satisfaction)):
        m = task & (detail == TASKS.index(name))
        st.satisfaction[account[m]] = np.minimum(st.satisfaction[account[m]] + gain, 1.0)
        effect[m] = "satisfaction"
    fixed = task & (detail == TASKS.index("blocker_fixed"))
    st.bad_support_day[account[fixed]] = -(1 << 40)
    onb = task & (detail == TASKS.index("onboarding_call"))
    st.onboarding_until[account[onb]] = d.t + fx.onboarding_boost_days
    rescue = task & (detail == TASKS.index("rescue_call")) & drop
    st.rescue_until[account[rescue]] = d.t + fx.rescue_days
    effect[rescue] = "rescue"
    effect[onb] = "onboarding"
    return [str(e) for e in effect]


def empty_responses() -> pa.Table:
    """The response table of a day without interventions."""
    return pa.table({
        "kind": pa.array([], pa.string()), "detail": pa.array([], pa.string()),
        "account": pa.array([], pa.int64()), "contact": pa.array([], pa.int64()),
        "delivered": pa.array([], pa.bool_()), "opened": pa.array([], pa.bool_()),
        "clicked": pa.array([], pa.bool_()), "attended": pa.array([], pa.bool_()),
        "unsubscribed": pa.array([], pa.bool_()), "replied": pa.array([], pa.bool_()),
        "effect": pa.array([], pa.string()),
    })
