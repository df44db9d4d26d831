"""Score a workspace's accounts for a day and store the results (used by `score`, `health` and `run`)."""

from __future__ import annotations

import logging
from datetime import date

import pyarrow as pa
import pyarrow.compute as pc

from longtail.analytics import features as feature_tables
from longtail.analytics import health_store
from longtail.core.health import HealthResult, ScorecardSet, default_scorecards, load_scorecards, score_table
from longtail.errors import ConfigError, LongtailError
from longtail.settings import Workspace

log = logging.getLogger(__name__)

HEALTH_FILE = "health.yml"
CUSTOMER = "is_customer"
"""The standard feature (1 or 0) that says whether an account had an active subscription on the day."""


def workspace_scorecards(ws: Workspace) -> ScorecardSet:
    """motion/health.yml, or the built-in scorecards when it does not exist."""
    path = ws.root / "motion" / HEALTH_FILE
    if not path.is_file():
        log.debug("health.scorecards.default path=%s", path)
        return default_scorecards()
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read ({exc})") from exc
    return load_scorecards(text, str(path))


def checked_features(ws: Workspace, day: date) -> pa.Table:
    """The feature table for `day`, with one row per account (checked: scoring relies on it)."""
    table = feature_tables.features_as_of(ws, day)  # looked up on the module, so tests can hand-build features
    if "account_id" not in table.column_names:
        raise LongtailError(f"the features for {day} have no account_id column")
    if pc.count_distinct(table.column("account_id")).as_py() != len(table):
        raise LongtailError(f"the features for {day} have more than one row for some account_id")
    return table


def customers(features: pa.Table) -> pa.Table:
    """The rows of accounts that were customers on the day (`is_customer` = 1).

    Only customers are scored and acted on: a former customer (every subscription ended) would otherwise
    score red for its zero usage and draw risk playbooks meant for accounts that can still be saved.
    """
    if CUSTOMER not in features.column_names:
        raise LongtailError(f"the features have no {CUSTOMER} column (a standard feature): cannot tell customers")
    return features.filter(pc.equal(features.column(CUSTOMER), 1))


def score_day(ws: Workspace, day: date, cards: ScorecardSet, features: pa.Table | None = None) -> list[HealthResult]:
    """Score every customer on `day` (`is_customer` = 1) and store the results (replacing that day's)."""
    carry = any(c.on_null == "carry_last" for card in cards.scorecards for c in card.components)
    previous = health_store.previous_states(ws, day, with_components=carry)
    table = features if features is not None else checked_features(ws, day)
    scored = customers(table)
    results = score_table(scored, cards, previous, as_of=day)
    path = health_store.write_results(ws, day, results)
    log.info("health.score day=%s accounts=%d not_customers=%d file=%s", day, len(results),
             len(table) - len(scored), path)
    return results
