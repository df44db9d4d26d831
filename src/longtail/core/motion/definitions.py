"""The motion's definition files (`motion/*.yml`), validated strictly by pydantic.

One file may hold any of the top-level sections; a workspace usually splits them as
`segments.yml` (segments, tiers, account attributes), `triggers.yml`, `playbooks.yml` and `team.yml`
(coverage and routing). docs/motion.md is the reference with a full example.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

IDENT = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
Ident = Annotated[str, Field(pattern=IDENT.pattern, description="lower_snake_case identifier")]
Unknown = Literal["false", "true"]
CtaType = Literal["risk", "renewal", "expansion", "onboarding", "advocacy", "lifecycle"]
Priority = Literal["low", "medium", "high", "urgent"]
CompleteOn = Literal["outreach", "response", "outcome"]
OwnerKind = Literal["named", "round_robin", "least_loaded_ctas", "least_loaded_arr", "skill", "last_touch"]
OWNER_KINDS: tuple[str, ...] = ("named", "round_robin", "least_loaded_ctas", "least_loaded_arr", "skill", "last_touch")
EVENT_SIGNALS: tuple[str, ...] = ("champion_changed", "nps_detractor", "milestone_reached", "ticket_escalated",
                                  "product_event")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Segment(Strict):
    """A named set of accounts: a condition, an overlay of other segments, or both (ANDed)."""

    id: Ident
    description: str = ""
    when: str | None = Field(default=None, max_length=20_000)
    unknown: Unknown = "false"
    all_of: tuple[Ident, ...] = ()
    any_of: tuple[Ident, ...] = ()
    none_of: tuple[Ident, ...] = ()

    @model_validator(mode="after")
    def _something(self) -> Segment:
        if self.when is None and not (self.all_of or self.any_of or self.none_of):
            raise ValueError("a segment needs `when` (a condition) or `all_of`/`any_of`/`none_of` (other segments)")
        return self


class TierBand(Strict):
    tier: Ident
    min: float | None = Field(default=None, ge=0, description="lowest value of the band; the first band has none")


class Promotion(Strict):
    """Moves an account up to at least `to` while `when` holds (strategic, high growth potential, risk)."""

    when: str = Field(max_length=20_000)
    to: Ident
    reason: str = Field(min_length=1, max_length=500)


class Tiers(Strict):
    metric: Ident = "arr"
    hysteresis_pct: float = Field(default=0.0, ge=0, le=50)
    bands: tuple[TierBand, ...] = Field(min_length=1)
    promotions: tuple[Promotion, ...] = ()

    @field_validator("bands")
    @classmethod
    def _ascending(cls, bands: tuple[TierBand, ...]) -> tuple[TierBand, ...]:
        if bands[0].min not in (None, 0):
            raise ValueError("the first band has no `min` (it takes everything below the second band)")
        mins = [b.min for b in bands[1:]]
        if any(m is None for m in mins):
            raise ValueError("every band after the first needs `min`")
        floats = [float(m) for m in mins if m is not None]
        if floats != sorted(floats) or len(set(floats)) != len(floats):
            raise ValueError("band `min` values must increase strictly, lowest band first")
        names = [b.tier for b in bands]
        if len(set(names)) != len(names):
            raise ValueError("tier names must be unique")
        return bands


class Cap(Strict):
    fires: int = Field(ge=1, le=10_000)
    per_days: int = Field(ge=1, le=3_650)


class _Trigger(Strict):
    id: Ident
    description: str = ""
    cooldown_days: int = Field(default=0, ge=0, le=3_650)
    cap: Cap | None = None


class ConditionTrigger(_Trigger):
    """Fires when `when` becomes true (edge), or every evaluation while it is true (level)."""

    kind: Literal["condition"]
    when: str = Field(max_length=20_000)
    unknown: Unknown = "false"
    mode: Literal["edge", "level"] = "edge"


class EventTrigger(_Trigger):
    """Fires on something that happened since the previous evaluation."""

    kind: Literal["event"]
    event: Literal["champion_changed", "nps_detractor", "milestone_reached", "ticket_escalated", "product_event"]
    names: tuple[str, ...] = Field(default=(), description="product_event: event names; milestone_reached: "
                                   "milestone events (default: the workspace's milestones)")
    max_score: float = Field(default=6, ge=0, le=10, description="nps_detractor: highest score that counts")
    priorities: tuple[str, ...] = Field(default=("urgent",), description="ticket_escalated: ticket priorities")

    @model_validator(mode="after")
    def _names(self) -> EventTrigger:
        if self.event == "product_event" and not self.names:
            raise ValueError("a product_event trigger needs `names` (the event names that fire it)")
        return self


class DateTrigger(_Trigger):
    """Fires once when the renewal comes within each of `days_before` days."""

    kind: Literal["date"]
    date: Literal["renewal"] = "renewal"
    days_before: tuple[int, ...] = Field(min_length=1)

    @field_validator("days_before")
    @classmethod
    def _positive(cls, days: tuple[int, ...]) -> tuple[int, ...]:
        if any(d < 1 or d > 3_650 for d in days) or len(set(days)) != len(days):
            raise ValueError("days_before must be distinct whole days between 1 and 3650")
        return tuple(sorted(days, reverse=True))


Trigger = Annotated[ConditionTrigger | EventTrigger | DateTrigger, Field(discriminator="kind")]


class OwnerRuleSpec(Strict):
    """An owner rule written as a mapping: `{skill: renewals}` or `{rule: round_robin}`."""

    rule: OwnerKind = "skill"
    skill: str | None = None

    @model_validator(mode="after")
    def _skill(self) -> OwnerRuleSpec:
        if self.rule == "skill" and not self.skill:
            raise ValueError("the skill rule needs `skill:`, e.g. {skill: renewals}")
        return self


def _owner_rule(value: Any) -> Any:
    if isinstance(value, str):
        if value == "skill":
            raise ValueError("write the skill rule as {skill: <name>}")
        if value not in OWNER_KINDS:
            raise ValueError(f"unknown owner rule {value!r}; use one of {', '.join(OWNER_KINDS)}")
        return {"rule": value}
    return value


class CtaStep(Strict):
    type: Literal["cta"]
    cta_type: CtaType
    reason: str = Field(min_length=1, max_length=200, description="short reason; part of the dedupe key")
    title: str = Field(min_length=1, max_length=300)
    priority: Priority = "medium"
    due_in_days: int = Field(default=3, ge=0, le=365)
    owner: tuple[OwnerRuleSpec, ...] = (OwnerRuleSpec(rule="named"), OwnerRuleSpec(rule="least_loaded_ctas"))
    script: str = Field(default="", max_length=20_000)
    complete_on: CompleteOn = "outreach"
    auto_close: bool = True
    template: Literal["intervention_package"] | None = None
    checklist: tuple[str, ...] = ()
    follow_up_days: int | None = Field(default=None, ge=1, le=365)

    @field_validator("owner", mode="before")
    @classmethod
    def _owners(cls, value: Any) -> Any:
        if isinstance(value, (str, dict)):
            value = [value]
        if isinstance(value, list) and not value:
            raise ValueError("owner needs at least one rule")
        return [_owner_rule(v) for v in value] if isinstance(value, list) else value


class JourneyStep(Strict):
    type: Literal["journey"]
    journey: Ident


class AlertStep(Strict):
    type: Literal["alert"]
    message: str = Field(min_length=1, max_length=2_000)
    channel: str = Field(default="log", pattern=r"^[a-z][a-z0-9_-]{0,62}$")


ATTRIBUTE_VALUE_MAX = 1_000
"""Longest text a set_attribute step may write (conditions compare it; it is not a document store)."""
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


class SetAttributeStep(Strict):
    """Sets `motion_<name>` of the account, seen by conditions from the day after the run (docs/motion.md)."""

    type: Literal["set_attribute"]
    name: Ident
    value: str | float | bool

    @field_validator("value")
    @classmethod
    def _safe(cls, value: str | float | bool) -> str | float | bool:
        # The value lands in the database, in conditions and on screens: bounded, printable, finite.
        if isinstance(value, str):
            if len(value) > ATTRIBUTE_VALUE_MAX:
                raise ValueError(f"a text value has at most {ATTRIBUTE_VALUE_MAX} characters, this one {len(value)}")
            bad = _CONTROL.search(value)
            if bad is not None:
                raise ValueError(f"control character U+{ord(bad.group()):04X} at position {bad.start()}: a value "
                                 "is one line of printable text")
        elif isinstance(value, float) and not math.isfinite(value):
            raise ValueError("a number value must be finite (not .nan or .inf)")
        return value

    @property
    def value_type(self) -> str:
        """The condition type of the value: boolean, number or string."""
        return attribute_type(self.value)


def attribute_type(value: str | float | bool) -> str:
    """`boolean`, `number` or `string` (bool first: a bool is also an int to Python)."""
    if isinstance(value, bool):
        return "boolean"
    return "string" if isinstance(value, str) else "number"


Step = Annotated[CtaStep | JourneyStep | AlertStep | SetAttributeStep, Field(discriminator="type")]


class Resource(Strict):
    title: str = Field(min_length=1, max_length=300)
    url: str = Field(pattern=r"^https?://[^\s]+$", max_length=2_000)


class Success(Strict):
    when: str = Field(max_length=20_000)
    horizon_days: int = Field(default=30, ge=1, le=730)


class Playbook(Strict):
    id: Ident
    objective: str = Field(min_length=1, max_length=1_000)
    trigger: Ident
    audience: tuple[Ident, ...] = Field(default=(), description="segments the account must be in (all of them)")
    exclude: tuple[Ident, ...] = Field(default=(), description="segments that keep an account out")
    steps: tuple[Step, ...] = Field(min_length=1)
    resources: tuple[Resource, ...] = ()
    success: Success | None = None
    enabled: bool = True


class Coverage(Strict):
    targets: dict[Ident, tuple[int, int]] = Field(default_factory=dict,
                                                  description="accounts per CSM: [min, max] per tier")
    loaded_cost: dict[str, float] = Field(default_factory=dict, description="loaded annual cost per role")

    @field_validator("targets")
    @classmethod
    def _ranges(cls, targets: dict[str, tuple[int, int]]) -> dict[str, tuple[int, int]]:
        for tier, (low, high) in targets.items():
            if low < 1 or high < low:
                raise ValueError(f"target for {tier!r} must be [min, max] with 1 <= min <= max")
        return targets


class Routing(Strict):
    max_open_ctas: int | None = Field(default=None, ge=1, description="per CSM; routing skips CSMs at the limit")
    escalate_after_days: int | None = Field(default=3, ge=0, le=365)
    volume_alarm: int | None = Field(default=200, ge=1, description="a run creating more CTAs holds them")
    named_csm_attribute: Ident = "csm_id"


class Team(Strict):
    coverage: Coverage = Coverage()
    routing: Routing = Routing()


class MotionFile(Strict):
    """One `motion/*.yml` file (except features.yml and health.yml, which have their own formats)."""

    version: Literal[1] = 1
    account_attributes: tuple[Ident, ...] = Field(default=(), description="custom account attributes (text) "
                                                  "that conditions may read, e.g. plan_family")
    segments: tuple[Segment, ...] = ()
    tiers: Tiers | None = None
    triggers: tuple[Trigger, ...] = ()
    playbooks: tuple[Playbook, ...] = ()
    team: Team | None = None


UNION_TAGS: tuple[str, ...] = ("condition", "event", "date", "cta", "journey", "alert", "set_attribute")
"""Discriminator values pydantic adds to error locations; the file does not have them as keys."""
