"""CTAs (calls to action): the tasks CSMs work, planned from rule firings and moved by humans.

Pure: no I/O, no clock. `plan_ctas` turns today's requests and the open CTAs into effects (create, refresh,
close, wake) that an adapter applies; re-planning the same day against the applied state yields nothing.
The dedupe key (account_id, cta_type, reason) guarantees at most one active CTA per key. Human moves
(snooze, start, complete, cancel, approve, escalate) are validated functions returning a new `Cta`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import date, timedelta
from typing import Any, Literal, get_args

from longtail.errors import LongtailError, UsageError

CtaType = Literal["risk", "renewal", "expansion", "onboarding", "advocacy", "lifecycle"]
CtaStatus = Literal["held", "open", "in_progress", "snoozed", "done", "cancelled"]
Priority = Literal["low", "medium", "high", "urgent"]
CompleteOn = Literal["outreach", "response", "outcome"]
DedupeKey = tuple[str, str, str]

CTA_TYPES: tuple[str, ...] = get_args(CtaType)
STATUSES: tuple[str, ...] = get_args(CtaStatus)
PRIORITIES: tuple[str, ...] = get_args(Priority)
COMPLETE_ON: tuple[str, ...] = get_args(CompleteOn)
ACTIVE: frozenset[str] = frozenset({"held", "open", "in_progress", "snoozed"})
CLOSED: frozenset[str] = frozenset({"done", "cancelled"})
_RANK = {p: i for i, p in enumerate(PRIORITIES)}


class CtaTransitionError(LongtailError):
    """A human move that the CTA's state does not allow (e.g. snoozing a CTA that is done)."""

    exit_code = 2


class InvalidCtaRequest(LongtailError):
    """A CTA request with a value outside its vocabulary (unknown type, priority...)."""

    exit_code = 2


def _check(value: str, allowed: tuple[str, ...], what: str) -> None:
    if value not in allowed:
        raise InvalidCtaRequest(f"{what} must be one of {', '.join(allowed)}, not {value!r}")


@dataclass(frozen=True)
class CtaRequest:
    """What a rule asks for: one task for one account, with the inputs that made the rule fire."""

    account_id: str
    cta_type: CtaType
    reason: str
    playbook_id: str
    definition_hash: str
    priority: Priority
    due: date
    title: str
    script: str = ""
    complete_on: CompleteOn = "outreach"
    inputs: Mapping[str, Any] = field(default_factory=dict)
    auto_close: bool = False
    checklist: tuple[str, ...] = ()
    follow_up_days: int | None = None

    def __post_init__(self) -> None:
        _check(self.cta_type, CTA_TYPES, "cta_type")
        _check(self.priority, PRIORITIES, "priority")
        _check(self.complete_on, COMPLETE_ON, "complete_on")
        if not self.account_id or not self.reason.strip():
            raise InvalidCtaRequest("a CTA request needs an account_id and a reason (the reason is part of its key)")
        if self.follow_up_days is not None and self.follow_up_days < 1:
            raise InvalidCtaRequest(f"follow_up_days must be at least 1, not {self.follow_up_days}")
        # A private copy: the caller's dict must not change a frozen request behind its back.
        object.__setattr__(self, "inputs", dict(self.inputs))
        object.__setattr__(self, "checklist", tuple(self.checklist))

    @property
    def key(self) -> DedupeKey:
        return (self.account_id, self.cta_type, self.reason)


REQUEST_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(CtaRequest))


@dataclass(frozen=True, kw_only=True)
class Cta:
    """A CTA as stored: the request it came from plus its lifecycle (status, owner, snooze, closing)."""

    cta_id: str
    account_id: str
    cta_type: CtaType
    reason: str
    playbook_id: str
    definition_hash: str
    priority: Priority
    due: date
    title: str
    script: str = ""
    complete_on: CompleteOn = "outreach"
    inputs: Mapping[str, Any] = field(default_factory=dict)
    auto_close: bool = False
    checklist: tuple[str, ...] = ()
    follow_up_days: int | None = None
    status: CtaStatus = "open"
    owner_id: str | None = None
    owner_reason: str | None = None
    created_on: date
    updated_on: date
    last_fired_on: date
    fire_count: int = 1
    snoozed_until: date | None = None
    snooze_reason: str | None = None
    escalated_to: str | None = None
    closed_on: date | None = None
    close_reason: str | None = None
    follow_up_of: str | None = None

    @property
    def key(self) -> DedupeKey:
        return (self.account_id, self.cta_type, self.reason)

    @property
    def request(self) -> CtaRequest:
        return CtaRequest(**{name: getattr(self, name) for name in REQUEST_FIELDS})

    @property
    def active(self) -> bool:
        return self.status in ACTIVE


def new_cta(cta_id: str, request: CtaRequest, status: CtaStatus, on: date, *, follow_up_of: str | None = None,
            owner_id: str | None = None, owner_reason: str | None = None) -> Cta:
    """The `Cta` a create effect stands for (used by stores and tests to materialise effects)."""
    values = {name: getattr(request, name) for name in REQUEST_FIELDS}
    return Cta(cta_id=cta_id, **values, status=status, owner_id=owner_id, owner_reason=owner_reason,
               created_on=on, updated_on=on, last_fired_on=on, fire_count=1, follow_up_of=follow_up_of)


# ---------------------------------------------------------------------------------------------- effects


@dataclass(frozen=True)
class CreateCta:
    cta_id: str
    request: CtaRequest
    status: CtaStatus
    reason: str


@dataclass(frozen=True)
class RefreshCta:
    cta_id: str
    inputs: Mapping[str, Any]
    priority: Priority
    fire_count: int
    reason: str


@dataclass(frozen=True)
class CloseCta:
    cta_id: str
    status: CtaStatus
    reason: str


@dataclass(frozen=True)
class WakeCta:
    cta_id: str
    reason: str


@dataclass(frozen=True)
class CreateFollowUp:
    cta_id: str
    request: CtaRequest
    follow_up_of: str
    reason: str


CtaEffect = CreateCta | RefreshCta | CloseCta | WakeCta | CreateFollowUp


def default_id(request: CtaRequest, as_of: date) -> str:
    """A deterministic id: the same key on the same day always gets the same id (re-runs cannot duplicate)."""
    text = "\x1f".join([*request.key, as_of.isoformat()])
    return "cta_" + hashlib.sha256(text.encode()).hexdigest()[:16]


def higher(a: Priority, b: Priority) -> Priority:
    return a if _RANK[a] >= _RANK[b] else b


def _merge_batch(requests: Iterable[CtaRequest]) -> dict[DedupeKey, CtaRequest]:
    """One request per key: the highest priority wins, then the earliest due date, then the first given."""
    chosen: dict[DedupeKey, CtaRequest] = {}
    for req in requests:
        old = chosen.get(req.key)
        if old is None or (_RANK[req.priority], -req.due.toordinal()) > (_RANK[old.priority], -old.due.toordinal()):
            chosen[req.key] = req
    return chosen


def _by_key(open_ctas: Iterable[Cta]) -> dict[DedupeKey, Cta]:
    """The active CTA of each key; if a store ever held two, the oldest one is the one kept up to date."""
    found: dict[DedupeKey, Cta] = {}
    for cta in sorted((c for c in open_ctas if c.active), key=lambda c: (c.created_on, c.cta_id)):
        found.setdefault(cta.key, cta)
    return found


def _label(key: DedupeKey) -> str:
    return f"{key[1]} CTA for {key[0]} ({key[2]})"


def _refresh(cta: Cta, req: CtaRequest, as_of: date) -> RefreshCta:
    priority = higher(cta.priority, req.priority)
    raised = f"; priority raised from {cta.priority} to {priority}" if priority != cta.priority else ""
    return RefreshCta(cta.cta_id, dict(req.inputs), priority, cta.fire_count + 1,
                      f"{_label(cta.key)} fired again on {as_of} (fire {cta.fire_count + 1}); "
                      f"updated instead of creating another{raised}")


def plan_ctas(requests: Sequence[CtaRequest], open_ctas: Sequence[Cta], as_of: date, *,
              cleared: Collection[DedupeKey] = (),
              id_for: Callable[[CtaRequest, date], str] = default_id) -> tuple[CtaEffect, ...]:
    """Effects that bring the active CTAs in line with today's requests (deterministic, idempotent per day).

    A request whose key has an active CTA refreshes it (once per day); otherwise it creates one. Keys in
    `cleared` close their active CTA when it is auto_close. Snoozes that ended on or before `as_of` wake.
    """
    wanted = _merge_batch(requests)
    active = _by_key(open_ctas)
    effects: list[CtaEffect] = []
    closing: set[str] = set()
    for key in sorted(wanted):
        req, cta = wanted[key], active.get(key)
        if cta is None:
            effects.append(CreateCta(id_for(req, as_of), req, "open",
                                     f"{_label(key)} fired on {as_of} and no active CTA has this key"))
        elif cta.last_fired_on < as_of:
            effects.append(_refresh(cta, req, as_of))
    for key in sorted(set(cleared) - set(wanted)):
        cta = active.get(key)
        if cta is not None and cta.auto_close:
            status: CtaStatus = "done" if cta.complete_on == "outcome" else "cancelled"
            why = "the outcome it waited for happened" if status == "done" else "it is no longer needed"
            effects.append(CloseCta(cta.cta_id, status,
                                    f"the condition behind {_label(key)} cleared on {as_of}; auto-closed as "
                                    f"{status} because {why}"))
            closing.add(cta.cta_id)
    for cta in sorted(active.values(), key=lambda c: c.cta_id):
        ended = cta.snoozed_until is not None and cta.snoozed_until <= as_of
        if cta.status == "snoozed" and ended and cta.cta_id not in closing:
            effects.append(WakeCta(cta.cta_id, f"the snooze of {_label(cta.key)} ended on {cta.snoozed_until}; "
                                                f"open again"))
    return tuple(effects)


# ---------------------------------------------------------------------------------------------- volume alarm


@dataclass(frozen=True)
class HoldDecision:
    held: bool
    creates: int
    limit: int | None
    reason: str


def hold_if_flooding(effects: Sequence[CtaEffect], limit: int | None) -> tuple[tuple[CtaEffect, ...], HoldDecision]:
    """Hold every new CTA of a run for approval when the run would create more than `limit` of them.

    A sudden flood usually means a broken rule or bad data, not 800 customers in trouble on one day.
    """
    creates = sum(isinstance(e, CreateCta) for e in effects)
    if limit is None or creates <= limit:
        within = "no limit is set" if limit is None else f"within the limit of {limit}"
        return tuple(effects), HoldDecision(False, creates, limit, f"this run creates {creates} CTAs, {within}")
    reason = f"this run would create {creates} CTAs, more than the limit of {limit}; held for approval"
    held = tuple(replace(e, status="held", reason=f"{e.reason}; {reason}") if isinstance(e, CreateCta) else e
                 for e in effects)
    return held, HoldDecision(True, creates, limit, reason)


# ---------------------------------------------------------------------------------------------- human moves


def _guard(cta: Cta, on: date, action: str, allowed: Collection[str]) -> None:
    if cta.status not in allowed:
        hint = " (approve it first)" if cta.status == "held" else ""
        raise CtaTransitionError(f"cannot {action} CTA {cta.cta_id}: it is {cta.status}{hint}; "
                                 f"{action} works on {', '.join(s for s in STATUSES if s in allowed)} CTAs")
    if on < cta.created_on:
        raise CtaTransitionError(f"cannot {action} CTA {cta.cta_id} on {on}: it was created on {cta.created_on}")


def _need(text: str | None, what: str, action: str) -> str:
    if text is None or not text.strip():
        raise CtaTransitionError(f"{action} needs {what}")
    return text.strip()


def snooze(cta: Cta, until: date, reason: str, on: date) -> Cta:
    """Put a CTA aside until a later day (it wakes on `until`); the reason is required."""
    _guard(cta, on, "snooze", {"open", "in_progress", "snoozed"})
    why = _need(reason, "a reason", "snooze")
    if until <= on:
        raise CtaTransitionError(f"snooze until {until} must be after {on}")
    return replace(cta, status="snoozed", snoozed_until=until, snooze_reason=why, updated_on=on)


def start(cta: Cta, on: date) -> Cta:
    """A human starts working the CTA (a snoozed one may be started early)."""
    _guard(cta, on, "start", {"open", "snoozed"})
    return replace(cta, status="in_progress", snoozed_until=None, snooze_reason=None, updated_on=on)


def complete(cta: Cta, on: date, note: str | None = None) -> tuple[Cta, CtaRequest | None]:
    """Close the CTA as done; returns it and, when it asks for one, the follow-up request due later."""
    _guard(cta, on, "complete", {"open", "in_progress", "snoozed"})
    closed = replace(cta, status="done", closed_on=on, close_reason=(note or "").strip() or "completed",
                     snoozed_until=None, snooze_reason=None, updated_on=on)
    if cta.follow_up_days is None:
        return closed, None
    follow = replace(cta.request, reason=f"follow-up: {cta.reason}", title=f"Follow up: {cta.title}",
                     due=on + timedelta(days=cta.follow_up_days), checklist=(), follow_up_days=None,
                     auto_close=False)
    return closed, follow


def plan_follow_up(done: Cta, request: CtaRequest, on: date,
                   id_for: Callable[[CtaRequest, date], str] = default_id) -> CreateFollowUp:
    """The effect creating the follow-up that `complete` asked for."""
    return CreateFollowUp(id_for(request, on), request, done.cta_id,
                          f"{_label(done.key)} was completed on {on}; follow up by {request.due}")


def cancel(cta: Cta, on: date, reason: str) -> Cta:
    """Close the CTA without doing it; the reason is required (it is what reviews read)."""
    _guard(cta, on, "cancel", ACTIVE)
    why = _need(reason, "a reason", "cancel")
    return replace(cta, status="cancelled", closed_on=on, close_reason=why, snoozed_until=None,
                   snooze_reason=None, updated_on=on)


def approve(cta: Cta, on: date) -> Cta:
    """Release a CTA held by the volume alarm so people can work it."""
    _guard(cta, on, "approve", {"held"})
    return replace(cta, status="open", updated_on=on)


def escalate(cta: Cta, to_member: str, on: date, reason: str) -> Cta:
    """Hand the CTA up to another member (a lead); a snoozed CTA opens again, escalation cannot wait."""
    _guard(cta, on, "escalate", {"open", "in_progress", "snoozed"})
    member = _need(to_member, "a member to escalate to", "escalate")
    _need(reason, "a reason", "escalate")
    if member == cta.owner_id:
        raise CtaTransitionError(f"cannot escalate CTA {cta.cta_id} to its own owner {member}")
    status: CtaStatus = "open" if cta.status == "snoozed" else cta.status
    snoozed = cta.snoozed_until if status == "snoozed" else None
    return replace(cta, escalated_to=member, status=status, snoozed_until=snoozed,
                   snooze_reason=cta.snooze_reason if snoozed else None, updated_on=on)


# ---------------------------------------------------------------------------------------------- templates


@dataclass(frozen=True)
class CtaTemplate:
    """Reusable CTA content: everything but the account, the key reason and the day."""

    name: str
    cta_type: CtaType
    priority: Priority
    title: str
    script: str
    checklist: tuple[str, ...]
    follow_up_days: int | None
    due_in_days: int
    complete_on: CompleteOn = "outreach"
    auto_close: bool = False


INTERVENTION_PACKAGE = CtaTemplate(
    name="intervention_package",
    cta_type="risk",
    priority="high",
    title="Intervention package",
    script="Find what blocks the account, deliver the resource that removes it, and check back in a week.",
    checklist=("Identify the blocker", "Deliver the resource", "Follow up in 7 days"),
    follow_up_days=7,
    due_in_days=3,
)

TEMPLATES: dict[str, CtaTemplate] = {INTERVENTION_PACKAGE.name: INTERVENTION_PACKAGE}


def from_template(name: str, *, account_id: str, reason: str, playbook_id: str, definition_hash: str,
                  as_of: date, inputs: Mapping[str, Any] | None = None, priority: Priority | None = None,
                  cta_type: CtaType | None = None, auto_close: bool | None = None) -> CtaRequest:
    """A request built from a named template, due `due_in_days` after `as_of`; some fields can be overridden."""
    template = TEMPLATES.get(name)
    if template is None:
        raise UsageError(f"unknown CTA template {name!r}; known: {', '.join(sorted(TEMPLATES))}")
    return CtaRequest(
        account_id=account_id, cta_type=cta_type or template.cta_type, reason=reason, playbook_id=playbook_id,
        definition_hash=definition_hash, priority=priority or template.priority,
        due=as_of + timedelta(days=template.due_in_days), title=template.title, script=template.script,
        complete_on=template.complete_on, inputs=dict(inputs or {}),
        auto_close=template.auto_close if auto_close is None else auto_close,
        checklist=template.checklist, follow_up_days=template.follow_up_days,
    )
