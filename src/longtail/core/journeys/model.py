"""Journey definitions (`motion/journeys/*.yml`), validated strictly.

A journey is a list of steps run in order for each enrolled contact; `branch`, `split` and `wait_until`
jump to a step by id. docs/journeys.md is the reference, with the semantics that differ between tools.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from longtail.core.motion.definitions import CtaType, Ident, Priority, Unknown

Engagement = Literal["opened", "clicked", "replied", "attended", "viewed", "dismissed"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Step(_Strict):
    id: Ident


class EmailStep(_Step):
    type: Literal["email"]
    template: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,62}$")]


class InAppStep(_Step):
    type: Literal["in_app"]
    title: str = Field(min_length=1, max_length=200)
    body: str = Field(min_length=1, max_length=2_000)
    cta_label: str | None = Field(default=None, max_length=80)
    cta_url: str | None = Field(default=None, pattern=r"^https?://[^\s]+$", max_length=2_000)
    expires_days: float = Field(default=14, gt=0, le=365,
                                description="days after it is due that the product stops showing it")


class CtaStep(_Step):
    type: Literal["cta"]
    cta_type: CtaType
    reason: str = Field(min_length=1, max_length=200)
    title: str = Field(min_length=1, max_length=300)
    priority: Priority = "medium"
    due_in_days: int = Field(default=3, ge=0, le=365)


class WebhookStep(_Step):
    type: Literal["webhook"]
    url: str = Field(pattern=r"^https?://[^\s]+$", max_length=2_000)
    event: str = Field(default="journey_step", pattern=r"^[a-z][a-z0-9_.-]{0,62}$")


class SlackStep(_Step):
    """Post a line to a Slack channel through an incoming webhook (our own people, not the customer).

    `text` may name `{account_id}`, `{contact_id}`, `{journey}` and `{step}`. The webhook URL is a
    credential, so it comes from the environment variable `url_env` rather than from this file.
    """

    type: Literal["slack"]
    text: str = Field(min_length=1, max_length=3_000)
    url_env: str = Field(default="LONGTAIL_SLACK_WEBHOOK_URL", pattern=r"^[A-Z_][A-Z0-9_]{0,127}$")


class WaitStep(_Step):
    type: Literal["wait"]
    days: float = Field(gt=0, le=365)


class WaitUntilStep(_Step):
    """Wait until a condition holds for the account, or until the contact engages with an earlier message."""

    type: Literal["wait_until"]
    when: str | None = Field(default=None, max_length=20_000)
    engaged: Engagement | None = None
    step: Ident | None = Field(default=None, description="the message step whose engagement is awaited")
    timeout_days: float = Field(gt=0, le=365)
    on_timeout: Ident | None = Field(default=None, description="step to jump to on timeout (default: next step)")

    @model_validator(mode="after")
    def _one(self) -> WaitUntilStep:
        if (self.when is None) == (self.engaged is None):
            raise ValueError("wait_until needs exactly one of `when` (a condition) or `engaged` (with `step`)")
        if self.engaged is not None and self.step is None:
            raise ValueError("wait_until with `engaged` needs `step`: the message step it waits on")
        return self


class BranchStep(_Step):
    """Go to `yes` when the condition holds (or the contact engaged), else to `no` (default: next step)."""

    type: Literal["branch"]
    when: str | None = Field(default=None, max_length=20_000)
    unknown: Unknown = "false"
    engaged: Engagement | None = None
    step: Ident | None = None
    yes: Ident | None = None
    no: Ident | None = None

    @model_validator(mode="before")
    @classmethod
    def _yaml_booleans(cls, data: Any) -> Any:
        # YAML 1.1 reads a bare `yes:` / `no:` key as a boolean; the author meant the branch's two exits.
        if isinstance(data, dict):
            data = {("yes" if k is True else "no" if k is False else k): v for k, v in data.items()}
        return data

    @model_validator(mode="after")
    def _one(self) -> BranchStep:
        if (self.when is None) == (self.engaged is None):
            raise ValueError("branch needs exactly one of `when` (a condition) or `engaged` (with `step`)")
        if self.engaged is not None and self.step is None:
            raise ValueError("branch on `engaged` needs `step`: the message step it looks at")
        if self.yes is None and self.no is None:
            raise ValueError("branch needs `yes` or `no` (a step id to jump to)")
        return self


class Variant(_Strict):
    name: Ident
    percent: float = Field(gt=0, le=100)
    goto: Ident


class SplitStep(_Step):
    """A/B split: the contact goes to one variant, chosen by a salted hash (stable across runs)."""

    type: Literal["split"]
    variants: tuple[Variant, ...] = Field(min_length=2)

    @field_validator("variants")
    @classmethod
    def _hundred(cls, variants: tuple[Variant, ...]) -> tuple[Variant, ...]:
        total = sum(v.percent for v in variants)
        if abs(total - 100) > 1e-9:
            raise ValueError(f"variant percents add up to {total:g}, not 100")
        if len({v.name for v in variants}) != len(variants):
            raise ValueError("variant names must be unique")
        return variants


class ExitStep(_Step):
    type: Literal["exit"]


Step = Annotated[EmailStep | InAppStep | CtaStep | WebhookStep | SlackStep | WaitStep | WaitUntilStep | BranchStep
                 | SplitStep | ExitStep, Field(discriminator="type")]
MESSAGE_TYPES = ("email", "in_app")


class Entry(_Strict):
    """How contacts enter: a trigger fires, a segment is entered, a playbook's journey step, or by hand."""

    trigger: Ident | None = None
    segment_entered: Ident | None = None
    playbook: bool = Field(default=True, description="playbook `journey` steps may enroll into it")

    @model_validator(mode="after")
    def _not_both(self) -> Entry:
        if self.trigger is not None and self.segment_entered is not None:
            raise ValueError("give `trigger` or `segment_entered`, not both (use two journeys)")
        return self


class ReEntry(_Strict):
    policy: Literal["once", "after_days", "every_time"] = "once"
    days: int | None = Field(default=None, ge=1, le=3_650)

    @model_validator(mode="after")
    def _days(self) -> ReEntry:
        if (self.policy == "after_days") != (self.days is not None):
            raise ValueError("re_entry `days` goes with policy after_days, and only with it")
        return self


class Exit(_Strict):
    goal: bool = Field(default=True, description="exit when the goal condition holds")
    segment_left: Ident | None = None
    unsubscribed: bool = True
    churned: bool = True


class Journey(_Strict):
    id: Ident
    description: str = ""
    priority: Literal["high", "normal", "low"] = "normal"
    entry: Entry = Entry()
    roles: tuple[str, ...] = Field(default=(), description="contact roles to enroll (empty: every contact)")
    re_entry: ReEntry = ReEntry()
    holdout_pct: float = Field(default=0, ge=0, le=50)
    goal: str | None = Field(default=None, max_length=20_000, description="condition: the journey worked")
    exit: Exit = Exit()
    steps: tuple[Step, ...] = Field(min_length=1, max_length=100)

    @model_validator(mode="after")
    def _ids(self) -> Journey:
        ids = [s.id for s in self.steps]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"step ids must be unique in a journey: {', '.join(dupes)}")
        known = set(ids)
        for step in self.steps:
            for target in _targets(step):
                if target not in known:
                    raise ValueError(f"step {step.id!r} jumps to {target!r}, which is not a step of this journey")
            if isinstance(step, (WaitUntilStep, BranchStep)) and step.step is not None:
                target_step = next((s for s in self.steps if s.id == step.step), None)
                if target_step is None or target_step.type not in MESSAGE_TYPES:
                    raise ValueError(f"step {step.id!r} looks at the engagement of {step.step!r}, which is not an "
                                     f"email or in_app step of this journey")
        if self.exit.goal and self.goal is None and self.holdout_pct > 0:
            raise ValueError("a journey with a holdout needs a `goal` condition: it is what the holdout measures")
        return self


def _targets(step: Step) -> list[str]:
    if isinstance(step, BranchStep):
        return [t for t in (step.yes, step.no) if t is not None]
    if isinstance(step, SplitStep):
        return [v.goto for v in step.variants]
    if isinstance(step, WaitUntilStep) and step.on_timeout is not None:
        return [step.on_timeout]
    return []


class JourneyFile(_Strict):
    version: Literal[1] = 1
    journeys: tuple[Journey, ...] = ()


JOURNEY_TAGS: tuple[str, ...] = ("email", "in_app", "cta", "webhook", "slack", "wait", "wait_until", "branch", "split",
                                 "exit")
