"""Health scorecards: definitions (`motion/health.yml`), scoring, reasons and the path to green. Pure."""

from longtail.core.health.loader import DEFAULT_YAML, ScorecardSet, default_scorecards, json_schema, load_scorecards
from longtail.core.health.model import Band, Component, HealthFile, Scorecard
from longtail.core.health.scoring import (
    ComponentResult,
    HealthResult,
    PathStep,
    PreviousState,
    apply_path,
    raw_band,
    score,
    score_table,
)

__all__ = [
    "DEFAULT_YAML",
    "Band",
    "Component",
    "ComponentResult",
    "HealthFile",
    "HealthResult",
    "PathStep",
    "PreviousState",
    "Scorecard",
    "ScorecardSet",
    "apply_path",
    "default_scorecards",
    "json_schema",
    "load_scorecards",
    "raw_band",
    "score",
    "score_table",
]
