"""Scorecards and rows shared by the health tests."""

from __future__ import annotations

from datetime import date
from typing import Any

from longtail.core.health import Scorecard, load_scorecards

DAY = date(2026, 3, 2)


def card(components: str, *, aggregation: str = "weighted_mean", bands: str | None = None,
         hysteresis: str = "{margin: 5, days: 3}") -> Scorecard:
    bands = bands or "[{name: red, below: 40}, {name: yellow, below: 70}, {name: green}]"
    text = (f"scorecards:\n  - name: test\n    priority: 1\n    aggregation: {aggregation}\n"
            f"    bands: {bands}\n    hysteresis: {hysteresis}\n    components:\n{components}")
    return load_scorecards(text, "test.yml").scorecards[0]


def comp(metric: str, transform: str, **extra: Any) -> str:
    lines = [f"      - metric: {metric}", f"        transform: {transform}"]
    lines += [f"        {key}: {value}" for key, value in extra.items()]
    return "\n".join(lines) + "\n"


def row(**values: Any) -> dict[str, Any]:
    return {"account_id": "a1", "as_of": DAY, **values}


USAGE = card(
    comp("active_users_7d", "{type: linear, min: 0, max: 10}", label="Weekly active users", weight=2,
         previous_metric="active_users_prev_7d", step=1)
    + comp("days_since_last_activity", "{type: linear, min: 0, max: 20}", polarity="lower_is_better",
           unit="days", step=1)
    + comp("nps_latest", "{type: bands, steps: [{below: 7, score: 0}, {below: 9, score: 60}, {score: 100}]}",
           on_null="neutral", step=1)
    + comp("tickets_high_priority_open",
           "{type: bands, steps: [{below: 0, inclusive: true, score: 100}, {below: 2, inclusive: true, score: 50},"
           " {score: 0}]}", polarity="lower_is_better", on_null="zero")
)
