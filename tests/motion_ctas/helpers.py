"""Small builders for CTA tests and an in-memory applier that mirrors what the store does with effects."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from typing import Any

from longtail.core.motion.ctas import (
    CloseCta,
    CreateCta,
    CreateFollowUp,
    Cta,
    CtaEffect,
    CtaRequest,
    Priority,
    RefreshCta,
    WakeCta,
    new_cta,
)

D0 = date(2026, 3, 2)


def req(account: str = "a1", reason: str = "usage dropped", *, priority: Priority = "medium",
        auto_close: bool = False, follow_up_days: int | None = None, inputs: dict[str, Any] | None = None,
        due: date | None = None) -> CtaRequest:
    return CtaRequest(
        account_id=account, cta_type="risk", reason=reason, playbook_id="pb_risk", definition_hash="h1",
        priority=priority, due=due or D0 + timedelta(days=3), title="Check in", script="Say hello",
        complete_on="outreach", inputs=inputs or {"events_28d": 3}, auto_close=auto_close,
        checklist=("Call",), follow_up_days=follow_up_days,
    )


def cta(request: CtaRequest | None = None, *, cta_id: str = "c1", on: date = D0, **changes: Any) -> Cta:
    return replace(new_cta(cta_id, request or req(), "open", on), **changes)


def apply(state: dict[str, Cta], effects: tuple[CtaEffect, ...], as_of: date) -> dict[str, Cta]:
    """The effects applied to a dict of CTAs by id (the store does the same in SQL)."""
    out = dict(state)
    for e in effects:
        if isinstance(e, CreateCta) and e.cta_id not in out:
            out[e.cta_id] = new_cta(e.cta_id, e.request, e.status, as_of)
        elif isinstance(e, CreateFollowUp) and e.cta_id not in out:
            out[e.cta_id] = new_cta(e.cta_id, e.request, "open", as_of, follow_up_of=e.follow_up_of)
        elif isinstance(e, RefreshCta):
            out[e.cta_id] = replace(out[e.cta_id], inputs=e.inputs, priority=e.priority, fire_count=e.fire_count,
                                    last_fired_on=as_of, updated_on=as_of)
        elif isinstance(e, CloseCta):
            out[e.cta_id] = replace(out[e.cta_id], status=e.status, closed_on=as_of, close_reason=e.reason,
                                    snoozed_until=None, snooze_reason=None, updated_on=as_of)
        elif isinstance(e, WakeCta):
            out[e.cta_id] = replace(out[e.cta_id], status="open", snoozed_until=None, snooze_reason=None,
                                    updated_on=as_of)
    return out


def active(state: dict[str, Cta]) -> list[Cta]:
    return [c for c in state.values() if c.active]
