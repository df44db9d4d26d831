"""Read scorecards from YAML text; errors name the file, the line and the field."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from longtail.core.health.model import HealthFile, Scorecard
from longtail.core.yamlsource import describe, read_yaml
from longtail.errors import ConfigError

_TRANSFORM_TAGS = ("bands", "linear", "linear_bounded")


@dataclass(frozen=True)
class ScorecardSet:
    """Scorecards in the order they are tried (by priority, lowest number first)."""

    scorecards: tuple[Scorecard, ...]
    source: str

    def choose(self, row: dict[str, Any]) -> Scorecard:
        for card in self.scorecards:
            if card.applies_to(row):
                return card
        return self.scorecards[-1]  # unreachable: validation requires a catch-all

    def by_name(self, name: str) -> Scorecard | None:
        return next((c for c in self.scorecards if c.name == name), None)

    def metrics(self) -> set[str]:
        """Every feature column any scorecard reads."""
        needed: set[str] = set()
        for card in self.scorecards:
            for comp in card.components:
                needed.add(comp.metric)
                if comp.previous_metric:
                    needed.add(comp.previous_metric)
            needed.update(c.metric for c in card.when_any + card.when_all)
        return needed


def load_scorecards(text: str, source_name: str) -> ScorecardSet:
    data, lines = read_yaml(text, source_name)
    if not isinstance(data, dict):
        raise ConfigError(f"{source_name}:1: expected a mapping with `scorecards:`")
    try:
        parsed = HealthFile.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(describe(exc, source_name, lines, _TRANSFORM_TAGS)) from exc
    cards = tuple(sorted(parsed.scorecards, key=lambda c: c.priority))
    return ScorecardSet(scorecards=cards, source=source_name)


DEFAULT_YAML = """\
# Built-in scorecards, used when motion/health.yml does not exist.
version: 1
scorecards:
  - name: onboarding
    description: New accounts (under 90 days, or fewer than 2 milestones)
    priority: 1
    when_any:
      - {metric: tenure_days, lt: 90}
      - {metric: milestones_reached, lt: 2}
    aggregation: weighted_mean
    bands:
      - {name: red, below: 40}
      - {name: yellow, below: 70}
      - {name: green}
    hysteresis: {margin: 5, days: 3}
    components:
      - metric: milestones_reached
        label: Onboarding milestones reached
        transform:
          type: bands
          steps:
            - {below: 1, score: 0}
            - {below: 2, score: 40}
            - {below: 3, score: 75}
            - {score: 100}
        weight: 3
        on_null: zero
        step: 1
      - metric: active_users_7d
        label: Weekly active users
        transform: {type: linear, min: 0, max: 3}
        weight: 2
        on_null: zero
        step: 1
      - metric: days_since_last_activity
        label: Days since last activity
        unit: days
        transform: {type: linear, min: 0, max: 14}
        polarity: lower_is_better
        weight: 2
        on_null: carry_last
        step: 1
      - metric: tickets_high_priority_open
        label: Open high-priority tickets
        transform:
          type: bands
          steps:
            - {below: 0, inclusive: true, score: 100}
            - {below: 1, inclusive: true, score: 50}
            - {score: 0}
        polarity: lower_is_better
        weight: 1
        on_null: neutral
        step: 1
  - name: adopted
    description: Every other account
    priority: 2
    aggregation: weighted_mean
    bands:
      - {name: red, below: 40}
      - {name: yellow, below: 70}
      - {name: green}
    hysteresis: {margin: 5, days: 3}
    components:
      - metric: seat_utilisation
        label: Seat utilisation
        format: percent
        transform: {type: linear, min: 0.05, max: 0.35}
        weight: 3
        on_null: exclude
      - metric: active_users_7d
        label: Weekly active users
        transform: {type: linear, min: 0, max: 5}
        weight: 2
        on_null: zero
        step: 1
      - metric: events_28d
        label: Product events in the last 28 days
        previous_metric: events_prev_28d
        transform: {type: linear_bounded, min: 0, max: 80, floor: 10, ceiling: 100}
        weight: 1
        on_null: zero
        step: 1
      - metric: feature_breadth_28d
        label: Features used in the last 28 days
        transform: {type: linear, min: 1, max: 12}
        weight: 1.5
        on_null: exclude
        step: 1
      - metric: days_since_last_activity
        label: Days since last activity
        unit: days
        transform: {type: linear, min: 0, max: 21}
        polarity: lower_is_better
        weight: 2
        on_null: carry_last
        step: 1
      - metric: days_since_champion_active
        label: Days since the champion was active
        unit: days
        transform: {type: linear_bounded, min: 0, max: 60, floor: 20, ceiling: 100}
        polarity: lower_is_better
        weight: 1
        on_null: neutral
        step: 1
      - metric: tickets_high_priority_open
        label: Open high-priority tickets
        transform:
          type: bands
          steps:
            - {below: 0, inclusive: true, score: 100}
            - {below: 2, inclusive: true, score: 50}
            - {score: 0}
        polarity: lower_is_better
        weight: 1
        on_null: neutral
        step: 1
      - metric: nps_latest
        label: Latest NPS answer
        transform:
          type: bands
          steps:
            - {below: 7, score: 0}
            - {below: 9, score: 60}
            - {score: 100}
        weight: 1
        on_null: neutral
        step: 1
"""


def json_schema() -> dict[str, Any]:
    """JSON Schema of `motion/health.yml`, for editors."""
    return HealthFile.model_json_schema(by_alias=True)


def default_scorecards() -> ScorecardSet:
    return load_scorecards(DEFAULT_YAML, "<built-in default scorecards>")
