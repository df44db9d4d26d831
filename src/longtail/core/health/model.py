"""Scorecard definitions (`motion/health.yml`): validated strictly, hashed by content.

Syntax (documented with a full example in docs/health.md):

    scorecards:
      - name: adopted
        priority: 2                 # lower number is tried first; unique
        when_any: []                # conditions; empty = matches every account
        aggregation: weighted_mean  # or worst_of
        bands:                      # lowest first; every band but the last has `below`
          - {name: red, below: 40}                   # score < 40
          - {name: yellow, below: 70, inclusive: true}  # 40 <= score <= 70
          - {name: green}                            # score > 70
        target_band: green          # the band `path_to_green` aims for (default: the last band)
        hysteresis: {margin: 5, days: 3}
        components:
          - metric: active_users_7d
            label: Weekly active users
            transform: {type: linear, min: 0, max: 10}
            polarity: higher_is_better
            weight: 2
            on_null: exclude
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import operator
from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

Polarity = Literal["higher_is_better", "lower_is_better"]
NullPolicy = Literal["exclude", "zero", "neutral", "carry_last"]
Aggregation = Literal["weighted_mean", "worst_of"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Step(_Strict):
    """One step of a `bands` transform: values below `below` (or up to it when inclusive) score `score`."""

    below: float | None = None
    inclusive: bool = False
    score: float = Field(ge=0, le=100)


class BandsTransform(_Strict):
    type: Literal["bands"]
    steps: list[Step] = Field(min_length=1)

    @field_validator("steps")
    @classmethod
    def _ordered(cls, steps: list[Step]) -> list[Step]:
        _check_thresholds([s.below for s in steps], "step")
        return steps


class LinearTransform(_Strict):
    """`min` scores 0 and `max` scores 100 (reversed for lower_is_better); outside, the score is clipped to 0..100."""

    type: Literal["linear"]
    min: float
    max: float

    @model_validator(mode="after")
    def _span(self) -> LinearTransform:
        if not self.max > self.min:
            raise ValueError(f"max ({self.max:g}) must be greater than min ({self.min:g})")
        return self


class LinearBoundedTransform(_Strict):
    """Like linear, but `min` scores `floor` and `max` scores `ceiling`: the score stays within [floor, ceiling]."""

    type: Literal["linear_bounded"]
    min: float
    max: float
    floor: float = Field(0, ge=0, le=100)
    ceiling: float = Field(100, ge=0, le=100)

    @model_validator(mode="after")
    def _span(self) -> LinearBoundedTransform:
        if not self.max > self.min:
            raise ValueError(f"max ({self.max:g}) must be greater than min ({self.min:g})")
        if not self.ceiling > self.floor:
            raise ValueError(f"ceiling ({self.ceiling:g}) must be greater than floor ({self.floor:g})")
        return self


Transform = Annotated[BandsTransform | LinearTransform | LinearBoundedTransform, Field(discriminator="type")]


class Component(_Strict):
    metric: str = Field(min_length=1)
    label: str | None = None
    unit: str = ""
    format: Literal["number", "percent"] = "number"
    transform: Transform
    polarity: Polarity = "higher_is_better"
    weight: float = Field(1.0, gt=0)
    on_null: NullPolicy = "exclude"
    previous_metric: str | None = None
    step: float | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _monotone(self) -> Component:
        if isinstance(self.transform, BandsTransform):
            scores = [s.score for s in self.transform.steps]
            pairs = list(itertools.pairwise(scores))
            rising = all(a <= b for a, b in pairs)
            falling = all(a >= b for a, b in pairs)
            if self.polarity == "higher_is_better" and not rising:
                raise ValueError("transform.steps: scores must not fall as the value rises (higher_is_better)")
            if self.polarity == "lower_is_better" and not falling:
                raise ValueError("transform.steps: scores must not rise as the value rises (lower_is_better)")
        return self

    @property
    def display_label(self) -> str:
        return self.label or self.metric.replace("_", " ").capitalize()


class Band(_Strict):
    name: str = Field(min_length=1)
    below: float | None = None
    inclusive: bool = False


class Hysteresis(_Strict):
    """A band change happens at once if the score passes the boundary by `margin` points, else after `days` days."""

    margin: float = Field(5.0, ge=0, le=100)
    days: int = Field(3, ge=1)


class Condition(_Strict):
    metric: str = Field(min_length=1)
    lt: float | None = None
    le: float | None = None
    gt: float | None = None
    ge: float | None = None
    eq: float | str | None = None
    one_of: list[float | str] | None = Field(None, alias="in")

    _test: Callable[[Any], bool] | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _one_test(self) -> Condition:
        given = [k for k in ("lt", "le", "gt", "ge", "eq", "one_of") if getattr(self, k) is not None]
        if not given:
            raise ValueError("a condition needs one of lt, le, gt, ge, eq, in")
        return self

    def matches(self, value: Any) -> bool:
        """Unknown (null, NaN) values never match."""
        test = self._test
        if test is None:
            test = self._test = self.compile_test()
        return test(value)

    def compile_test(self) -> Callable[[Any], bool]:
        """The condition as a plain function of the value (for scoring many rows)."""
        eq, one_of = self.eq, self.one_of
        numeric = [(op, bound) for op, bound in ((operator.lt, self.lt), (operator.le, self.le),
                                                 (operator.gt, self.gt), (operator.ge, self.ge)) if bound is not None]

        def test(value: Any) -> bool:
            if value is None or (value.__class__ is float and math.isnan(value)):
                return False
            if eq is not None and value != eq:
                return False
            if one_of is not None and value not in one_of:
                return False
            if not numeric:
                return True
            if isinstance(value, str):
                return False
            return all(op(value, bound) for op, bound in numeric)

        return test


class Scorecard(_Strict):
    name: str = Field(min_length=1)
    description: str = ""
    priority: int
    when_any: list[Condition] = Field(default_factory=list)
    when_all: list[Condition] = Field(default_factory=list)
    aggregation: Aggregation = "weighted_mean"
    bands: list[Band] = Field(
        default_factory=lambda: [Band(name="red", below=40), Band(name="yellow", below=70), Band(name="green")]
    )
    target_band: str | None = None
    hysteresis: Hysteresis = Field(default_factory=Hysteresis)
    components: list[Component] = Field(min_length=1)

    _hash: str | None = PrivateAttr(default=None)
    _compiled: Any = PrivateAttr(default=None)

    @field_validator("bands")
    @classmethod
    def _bands_ordered(cls, bands: list[Band]) -> list[Band]:
        if len(bands) < 2:
            raise ValueError("declare at least two bands")
        names = [b.name for b in bands]
        if len(set(names)) != len(names):
            raise ValueError(f"band names must be unique, got {names}")
        _check_thresholds([b.below for b in bands], "band")
        for band in bands:
            if band.below is not None and not 0 < band.below < 100:
                raise ValueError(f"band {band.name!r}: below must be between 0 and 100 (exclusive)")
        return bands

    @field_validator("components")
    @classmethod
    def _unique_metrics(cls, components: list[Component]) -> list[Component]:
        metrics = [c.metric for c in components]
        dupes = sorted({m for m in metrics if metrics.count(m) > 1})
        if dupes:
            raise ValueError(f"each metric may appear once per scorecard; repeated: {', '.join(dupes)}")
        return components

    @model_validator(mode="after")
    def _target(self) -> Scorecard:
        if self.target_band is not None and self.target_band not in {b.name for b in self.bands}:
            raise ValueError(f"target_band {self.target_band!r} is not one of the bands")
        if self.target_band == self.bands[0].name:
            raise ValueError("target_band cannot be the lowest band")
        return self

    @property
    def is_catch_all(self) -> bool:
        return not self.when_any and not self.when_all

    @property
    def target(self) -> str:
        return self.target_band or self.bands[-1].name

    def applies_to(self, row: dict[str, Any]) -> bool:
        if self.when_any and not any(c.matches(row.get(c.metric)) for c in self.when_any):
            return False
        return all(c.matches(row.get(c.metric)) for c in self.when_all)

    def content_hash(self) -> str:
        """sha256 of the canonical JSON of the validated definition (defaults filled in)."""
        if self._hash is None:
            canonical = json.dumps(self.model_dump(mode="json", by_alias=True), sort_keys=True,
                                   separators=(",", ":"), ensure_ascii=False)
            self._hash = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
        return self._hash


class HealthFile(_Strict):
    version: Literal[1] = 1
    scorecards: list[Scorecard] = Field(min_length=1)

    @field_validator("scorecards")
    @classmethod
    def _priorities(cls, cards: list[Scorecard]) -> list[Scorecard]:
        names = [c.name for c in cards]
        if len(set(names)) != len(names):
            raise ValueError(f"scorecard names must be unique, got {names}")
        prios = [c.priority for c in cards]
        if len(set(prios)) != len(prios):
            raise ValueError(f"scorecard priorities must be unique, got {prios}")
        if not any(c.is_catch_all for c in cards):
            raise ValueError("one scorecard must have no when_any/when_all, so every account gets a scorecard")
        return cards


def _check_thresholds(belows: list[float | None], what: str) -> None:
    if belows[-1] is not None:
        raise ValueError(f"the last {what} must not have `below` (it takes every higher value)")
    inner = belows[:-1]
    if any(b is None for b in inner):
        raise ValueError(f"every {what} but the last needs `below`")
    values = [b for b in inner if b is not None]
    for lo, hi in itertools.pairwise(values):
        if not hi > lo:
            raise ValueError(f"{what}s overlap: `below` values must strictly increase ({lo:g} then {hi:g})")
