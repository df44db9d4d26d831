"""Turn playbook hits into what they ask for: CTA requests, routing requests and the other steps."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from typing import Any

import pyarrow as pa

from longtail.core.motion.ctas import TEMPLATES, CreateCta, Cta, CtaEffect, CtaRequest
from longtail.core.motion.definitions import AlertStep, CtaStep, JourneyStep, SetAttributeStep, attribute_type
from longtail.core.motion.load import Motion, motion_column
from longtail.core.motion.routing import DEFAULT_RULES, OwnerRule, RouteRequest
from longtail.runner.evaluate import Hit
from longtail.store.motion_attributes import AttributeWrite, StoredAttribute


def _inputs(hit: Hit) -> dict[str, Any]:
    fire = hit.fire
    return {"trigger": fire.trigger_id, "signal": fire.signal_id, "fired_on": fire.day.isoformat(),
            "values": dict(fire.inputs)}


def cta_requests(hits: Sequence[Hit], motion: Motion, day: date) -> list[CtaRequest]:
    """One request per CTA step of each hit, stamped with the playbook's definition hash."""
    requests: list[CtaRequest] = []
    for hit in hits:
        digest = motion.hash_of(f"playbook:{hit.playbook.id}")
        for step in hit.playbook.steps:
            if isinstance(step, CtaStep):
                requests.append(_request(step, hit, digest, day))
    return requests


def _request(step: CtaStep, hit: Hit, digest: str, day: date) -> CtaRequest:
    template = TEMPLATES[step.template] if step.template else None
    checklist = step.checklist or (template.checklist if template else ())
    follow_up = step.follow_up_days if step.follow_up_days is not None else (
        template.follow_up_days if template else None)
    script = step.script or (template.script if template else "")
    return CtaRequest(
        account_id=hit.account_id, cta_type=step.cta_type, reason=step.reason, playbook_id=hit.playbook.id,
        definition_hash=digest, priority=step.priority, due=day + timedelta(days=step.due_in_days),
        title=step.title, script=script, complete_on=step.complete_on, inputs=_inputs(hit),
        auto_close=step.auto_close, checklist=tuple(checklist), follow_up_days=follow_up,
    )


def step_effects(hits: Sequence[Hit], day: date) -> list[dict[str, Any]]:
    """Journey enrolments, alerts and attribute changes the hits ask for (with the reason)."""
    out: list[dict[str, Any]] = []
    for hit in hits:
        why = f"playbook {hit.playbook.id} on trigger {hit.fire.signal_id}"
        for step in hit.playbook.steps:
            base = {"day": day.isoformat(), "playbook": hit.playbook.id, "account_id": hit.account_id, "reason": why}
            if isinstance(step, JourneyStep):
                out.append({**base, "type": "journey", "journey": step.journey})
            elif isinstance(step, AlertStep):
                out.append({**base, "type": "alert", "channel": step.channel, "message": step.message})
            elif isinstance(step, SetAttributeStep):
                out.append({**base, "type": "set_attribute", "name": step.name, "value": step.value})
    return out


def attribute_writes(steps: Sequence[dict[str, Any]], motion: Motion, day: date,
                     current: Mapping[tuple[str, str], StoredAttribute]) -> list[AttributeWrite]:
    """The values the day's set_attribute steps write, valid from the next day; each step gets its `column`,
    `visible_from` and `outcome` (set, unchanged, already set by an earlier run of the day, or overruled).

    `current` holds the values in force on the next day before this run. When several steps set one attribute of
    one account on the same day, the playbook defined first wins (then the first of its steps): the result cannot
    depend on the order in which triggers fired.
    """
    order = {b.id: i for i, b in enumerate(motion.playbooks)}
    ranked = sorted((order.get(str(s["playbook"]), len(order)), i) for i, s in enumerate(steps)
                    if s.get("type") == "set_attribute")
    visible = day + timedelta(days=1)
    chosen: dict[tuple[str, str], dict[str, Any]] = {}
    writes: list[AttributeWrite] = []
    for _, i in ranked:
        step = steps[i]
        account, name, value = str(step["account_id"]), str(step["name"]), step["value"]
        step.update(column=motion_column(name), visible_from=visible.isoformat())
        first = chosen.setdefault((account, name), step)
        stored = current.get((account, name))
        if first is not step:
            same = _same(first["value"], value)
            step["outcome"] = (f"{'same value also' if same else 'overruled: the value'} set by playbook "
                               f"{first['playbook']}, defined first")
        elif stored is not None and stored.run_day == day:
            step["outcome"] = (f"already set by an earlier run of {day.isoformat()} (to {stored.value!r}); a day "
                               "is written once")
        elif stored is not None and stored.value_type == attribute_type(value) and _same(stored.value, value):
            step["outcome"] = f"unchanged: {value!r} since {stored.valid_from.isoformat()}"
        else:
            step["outcome"] = "set"
            writes.append(AttributeWrite(account, name, value, visible, str(step["playbook"]),
                                         motion.hash_of(f"playbook:{step['playbook']}"), day, str(step["reason"])))
    return writes


def _same(a: Any, b: Any) -> bool:
    """Equal values of the same type (True is not 1.0 here)."""
    return type(a) is type(b) and bool(a == b)


def _rules(motion: Motion, request: CtaRequest) -> tuple[OwnerRule, ...]:
    book = next((b for b in motion.playbooks if b.id == request.playbook_id), None)
    step = None if book is None else next(
        (s for s in book.steps if isinstance(s, CtaStep) and s.reason == request.reason), None)
    if step is None:  # a CTA a journey asked for: the default chain (named CSM, then the least loaded)
        return DEFAULT_RULES
    return tuple(OwnerRule(r.rule, r.skill if r.rule == "skill" else None) for r in step.owner)


def owner_requests(effects: Sequence[CtaEffect], today: pa.Table, ctas: Sequence[Cta],
                   motion: Motion) -> list[RouteRequest]:
    """Routing requests for the CTAs this plan creates (refreshes keep their owner)."""
    creates = [e for e in effects if isinstance(e, CreateCta)]
    if not creates:
        return []
    wanted = {e.request.account_id for e in creates}
    rows = {r["account_id"]: r for r in today.select(
        [c for c in ("account_id", "tier", "arr", "named_csm") if c in today.column_names]).to_pylist()
        if r["account_id"] in wanted}
    last_touch: dict[str, tuple[date, str]] = {}
    for cta in ctas:
        if cta.owner_id and cta.account_id in wanted:
            seen = last_touch.get(cta.account_id)
            if seen is None or cta.updated_on >= seen[0]:
                last_touch[cta.account_id] = (cta.updated_on, cta.owner_id)
    out = []
    for effect in creates:
        row = rows.get(effect.request.account_id, {})
        touch = last_touch.get(effect.request.account_id)
        out.append(RouteRequest(
            key=effect.cta_id, account_id=effect.request.account_id, tier=row.get("tier"),
            arr=float(row.get("arr") or 0.0), named_csm=row.get("named_csm"),
            last_touch=touch[1] if touch else None, rules=_rules(motion, effect.request)))
    return out
