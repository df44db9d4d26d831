"""The journey engine: enroll contacts and advance each enrollment, as a pure decision with a plan of effects.

Every tick (`advance`) first checks the exits (unsubscribed, churned, goal reached, segment left), even for a
contact in a wait step, so nobody gets the next message after they met an exit. Then it runs steps until one
waits or the journey ends. Holdout enrollments go through the same steps and waits, but their messages, CTAs,
webhooks and Slack posts are not produced: their goal is measured against the treated group over the same time.
Message keys derive from (enrollment, step, visit), so planning a tick twice yields the same keys and the
outbox enqueues once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Literal

from longtail.core.expressions import Condition, evaluate
from longtail.core.journeys.model import (
    BranchStep,
    CtaStep,
    EmailStep,
    ExitStep,
    InAppStep,
    Journey,
    SlackStep,
    SplitStep,
    WaitStep,
    WaitUntilStep,
    WebhookStep,
)

Status = Literal["active", "completed", "exited"]
MAX_STEPS_PER_TICK = 200
"""A journey may jump backwards (a loop); a tick that runs this many steps without waiting exits the contact."""


def _hash(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def _holds(condition: Condition, row: Mapping[str, Any]) -> bool:
    """`decide(condition, row).result` without composing the reason: a tick keeps only the outcome, and building
    the sentence (SQL text for each comparison) cost about a quarter of a tick over many enrollments."""
    value = evaluate(condition, row)
    return condition.unknown == "true" if value is None else value


def bucket(salt: str, *parts: str) -> float:
    """A stable number in [0, 100) from a salted hash (the same inputs give the same number on any machine)."""
    return int(_hash(salt, *parts)[:12], 16) / float(16**12) * 100.0


def in_holdout(journey: Journey, account_id: str, salt: str) -> bool:
    """Whole accounts are held out (every contact of an account is in or out), reproducibly."""
    return journey.holdout_pct > 0 and bucket(salt, "holdout", journey.id, account_id) < journey.holdout_pct


@dataclass(frozen=True)
class Enrollment:
    enrollment_id: str
    journey_id: str
    account_id: str
    contact_id: str
    entered_at: datetime
    holdout: bool
    step: int = 0
    status: Status = "active"
    wait_until: datetime | None = None
    exit_reason: str | None = None
    updated_at: datetime | None = None
    visits: Mapping[str, int] = field(default_factory=dict)
    sent: Mapping[str, str] = field(default_factory=dict)
    """Message step id -> key of the last message it produced (engagement is looked up by key)."""
    variant: str | None = None


@dataclass(frozen=True)
class Facts:
    """What the engine knows about the contact and account at `now`."""

    now: datetime
    account: Mapping[str, Any] | None
    """The account's row for the day (features, health, tier, seg_<id> flags); None when not a customer."""
    engagement: Mapping[str, frozenset[str]] = field(default_factory=dict)
    """Message key -> engagement kinds seen (opened, clicked, replied, ...)."""
    unsubscribed: bool = False


@dataclass(frozen=True)
class SendMessage:
    key: str
    channel: Literal["email", "in_app"]
    enrollment_id: str
    journey_id: str
    step_id: str
    account_id: str
    contact_id: str
    priority: str
    due: datetime
    template: str | None = None
    title: str | None = None
    body: str | None = None
    cta_label: str | None = None
    cta_url: str | None = None
    expires_days: float | None = None
    """In-app only: how long after it is due the product may still show it."""


@dataclass(frozen=True)
class RequestCta:
    enrollment_id: str
    journey_id: str
    step_id: str
    account_id: str
    cta_type: str
    reason: str
    title: str
    priority: str
    due_in_days: int


@dataclass(frozen=True)
class CallWebhook:
    key: str
    url: str
    event: str
    payload: Mapping[str, Any]


@dataclass(frozen=True)
class PostSlack:
    key: str
    text: str
    url_env: str
    journey_id: str
    account_id: str


Effect = SendMessage | RequestCta | CallWebhook | PostSlack
SLACK_FIELDS = ("account_id", "contact_id", "journey", "step")
"""The `{name}` fields a Slack step's text may use."""


def slack_text(text: str, fields: Mapping[str, str]) -> str:
    """`text` with `{account_id}`-style fields filled in; any other brace is left as written."""
    # Plain replacement rather than str.format: a stray brace in the author's text must not raise.
    for name in SLACK_FIELDS:
        text = text.replace("{" + name + "}", fields.get(name, ""))
    return text


@dataclass(frozen=True)
class Tick:
    enrollment: Enrollment
    effects: tuple[Effect, ...]
    trail: tuple[str, ...]
    """What happened, step by step, as sentences (kept with the enrollment's history)."""


def step_message_key(enrollment_id: str, step_id: str, visit: int) -> str:
    """The outbox key of what visit number `visit` of a step produced (a message, webhook or Slack post)."""
    return "msg_" + _hash(enrollment_id, step_id, str(visit))[:24]


def enrollment_id(journey_id: str, contact_id: str, entered_at: datetime) -> str:
    return "enr_" + _hash(journey_id, contact_id, entered_at.isoformat())[:20]


def may_enter(journey: Journey, previous: Sequence[Enrollment], now: datetime) -> tuple[bool, str]:
    """The re-entry policy against the contact's earlier enrollments in this journey."""
    if any(e.status == "active" for e in previous):
        return False, "already in the journey"
    if not previous:
        return True, "first entry"
    policy = journey.re_entry
    if policy.policy == "once":
        return False, "re-entry policy is once and the contact was enrolled before"
    if policy.policy == "every_time":
        return True, "re-entry policy is every_time"
    last = max(e.entered_at for e in previous)
    days = policy.days or 0
    if now - last >= timedelta(days=days):
        return True, f"last entry {last.date()} is {days}+ days ago"
    return False, f"last entry {last.date()} is less than {days} days ago"


def enroll(journey: Journey, account_id: str, contact_id: str, now: datetime, salt: str) -> Enrollment:
    return Enrollment(enrollment_id(journey.id, contact_id, now), journey.id, account_id, contact_id, now,
                      holdout=in_holdout(journey, account_id, salt), updated_at=now)


def advance(enrollment: Enrollment, journey: Journey, facts: Facts, conditions: Mapping[str, Condition],
            salt: str) -> Tick:
    """Move one enrollment forward as far as it can go at `facts.now`.

    `conditions` holds the compiled conditions by key: `goal`, and `<step id>` for branch and wait_until steps.
    """
    if enrollment.status != "active":
        return Tick(enrollment, (), ())
    runner = _Runner(enrollment, journey, facts, conditions, salt)
    runner.run()
    return Tick(runner.e, tuple(runner.effects), tuple(runner.trail))


class _Runner:
    def __init__(self, e: Enrollment, journey: Journey, facts: Facts, conditions: Mapping[str, Condition],
                 salt: str) -> None:
        self.e = replace(e, updated_at=facts.now)
        self.j = journey
        self.f = facts
        self.c = conditions
        self.salt = salt
        self.effects: list[Effect] = []
        self.trail: list[str] = []

    def stop(self, status: Status, reason: str) -> None:
        self.e = replace(self.e, status=status, exit_reason=reason, wait_until=None)
        self.trail.append(reason)

    def exit_reason(self) -> str | None:
        ex, f = self.j.exit, self.f
        if ex.unsubscribed and f.unsubscribed:
            return "exited: the contact unsubscribed"
        if ex.churned and f.account is None:
            return "exited: the account is no longer a customer"
        if ex.goal and self.j.goal is not None and f.account is not None and _holds(self.c["goal"], f.account):
            return "exited: goal reached"
        if ex.segment_left is not None and f.account is not None and not f.account.get(f"seg_{ex.segment_left}"):
            return f"exited: left segment {ex.segment_left}"
        return None

    def run(self) -> None:
        reason = self.exit_reason()
        if reason is not None:
            self.stop("exited", reason)
            return
        for _ in range(MAX_STEPS_PER_TICK):
            if self.e.step >= len(self.j.steps):
                self.stop("completed", "completed: reached the end of the journey")
                return
            if not self.step(self.j.steps[self.e.step]):
                return
            if self.e.status != "active":
                return
        # A loop without a wait would send the same message again and again: send nothing from this tick.
        self.effects.clear()
        self.stop("exited", f"exited: {MAX_STEPS_PER_TICK} steps in one tick without a wait (a loop?); "
                  "nothing from this tick was sent")

    def goto(self, step_id: str | None) -> None:
        index = self.e.step + 1 if step_id is None else next(i for i, s in enumerate(self.j.steps) if s.id == step_id)
        self.e = replace(self.e, step=index, wait_until=None)

    def visit(self, step_id: str) -> int:
        count = self.e.visits.get(step_id, 0) + 1
        self.e = replace(self.e, visits={**self.e.visits, step_id: count})
        return count

    def key(self, step_id: str, visit: int) -> str:
        return step_message_key(self.e.enrollment_id, step_id, visit)

    def step(self, step: Any) -> bool:
        """Run one step; False when the enrollment waits."""
        if isinstance(step, WaitStep | WaitUntilStep):
            return self.wait(step)
        visit = self.visit(step.id)
        if isinstance(step, EmailStep | InAppStep):
            self.message(step, visit)
        elif isinstance(step, CtaStep):
            if not self.e.holdout:
                self.effects.append(RequestCta(self.e.enrollment_id, self.j.id, step.id, self.e.account_id,
                                               step.cta_type, step.reason, step.title, step.priority,
                                               step.due_in_days))
            self.trail.append(f"{step.id}: CTA {step.title!r}{self.held()}")
        elif isinstance(step, WebhookStep):
            if not self.e.holdout:
                payload = {"journey": self.j.id, "step": step.id, "account_id": self.e.account_id,
                           "contact_id": self.e.contact_id, "enrollment_id": self.e.enrollment_id}
                self.effects.append(CallWebhook(self.key(step.id, visit), step.url, step.event, payload))
            self.trail.append(f"{step.id}: webhook {step.event}{self.held()}")
        elif isinstance(step, SlackStep):
            if not self.e.holdout:
                fields = {"account_id": self.e.account_id, "contact_id": self.e.contact_id, "journey": self.j.id,
                          "step": step.id}
                self.effects.append(PostSlack(self.key(step.id, visit), slack_text(step.text, fields), step.url_env,
                                              self.j.id, self.e.account_id))
            self.trail.append(f"{step.id}: slack{self.held()}")
        elif isinstance(step, BranchStep):
            yes = self.holds(step.id, step.when, step.engaged, step.step)
            self.trail.append(f"{step.id}: branch -> {'yes' if yes else 'no'}")
            self.goto(step.yes if yes else step.no)
            return True
        elif isinstance(step, SplitStep):
            self.split(step)
            return True
        elif isinstance(step, ExitStep):
            self.stop("exited", f"exited: exit step {step.id}")
            return True
        self.goto(None)
        return True

    def held(self) -> str:
        return " (held out: not sent)" if self.e.holdout else ""

    def message(self, step: EmailStep | InAppStep, visit: int) -> None:
        key = self.key(step.id, visit)
        self.e = replace(self.e, sent={**self.e.sent, step.id: key})
        if not self.e.holdout:
            base = SendMessage(key=key, channel="email", enrollment_id=self.e.enrollment_id, journey_id=self.j.id,
                               step_id=step.id, account_id=self.e.account_id, contact_id=self.e.contact_id,
                               priority=self.j.priority, due=self.f.now)
            if isinstance(step, EmailStep):
                self.effects.append(replace(base, template=step.template))
            else:
                self.effects.append(replace(base, channel="in_app", title=step.title, body=step.body,
                                            cta_label=step.cta_label, cta_url=step.cta_url,
                                            expires_days=step.expires_days))
        self.trail.append(f"{step.id}: {step.type} {key}{self.held()}")

    def holds(self, step_id: str, when: str | None, engaged: str | None, looked_at: str | None) -> bool:
        if when is not None:
            return self.f.account is not None and _holds(self.c[step_id], self.f.account)
        key = self.e.sent.get(looked_at or "")
        return key is not None and engaged in self.f.engagement.get(key, frozenset())

    def wait(self, step: WaitStep | WaitUntilStep) -> bool:
        now = self.f.now
        if isinstance(step, WaitUntilStep) and self.holds(step.id, step.when, step.engaged, step.step):
            self.trail.append(f"{step.id}: waited until it happened")
            self.goto(None)
            return True
        if self.e.wait_until is None:
            days = step.days if isinstance(step, WaitStep) else step.timeout_days
            until = now + timedelta(days=days)
            self.e = replace(self.e, wait_until=until)
            self.trail.append(f"{step.id}: waiting until {until.isoformat()}")
            return False
        if now < self.e.wait_until:
            return False
        if isinstance(step, WaitUntilStep):
            self.trail.append(f"{step.id}: timed out")
            self.goto(step.on_timeout)
        else:
            self.goto(None)
        return True

    def split(self, step: SplitStep) -> None:
        point = bucket(self.salt, "split", self.j.id, step.id, self.e.account_id)
        edge = 0.0
        chosen = step.variants[-1]
        for variant in step.variants:
            edge += variant.percent
            if point < edge:
                chosen = variant
                break
        self.e = replace(self.e, variant=chosen.name)
        self.trail.append(f"{step.id}: split -> variant {chosen.name}")
        self.goto(chosen.goto)
