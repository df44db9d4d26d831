"""Score a workspace's accounts for a day and store the results (used by `score`, `health` and `run`)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from datetime import date

import pyarrow as pa
import pyarrow.compute as pc

from longtail.analytics import features as feature_tables
from longtail.analytics import health_store
from longtail.analytics.ahead import ahead
from longtail.core.health import ScorecardSet, default_scorecards, load_scorecards
from longtail.core.health.columnar import Previous, carried_metrics, score_columns
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
    # looked up on the module, so tests can hand-build features
    return _checked(feature_tables.features_as_of(ws, day), day)


def score_series(ws: Workspace, days: Iterable[date], cards: ScorecardSet) -> Iterator[tuple[date, pa.Table]]:
    """`(day, score_day(ws, day, cards))` for each of `days`, oldest first; the features come from one
    `features_over` series (the same tables as one date at a time, computed for less)."""
    for day, table in feature_tables.features_over(ws, days):
        yield day, score_day(ws, day, cards, _checked(table, day))


def _checked(table: pa.Table, day: date) -> pa.Table:
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


def scoring_columns(features: pa.Table, cards: ScorecardSet) -> pa.Table:
    """The columns scoring reads (account_id, is_customer, the scorecards' metrics): filtering and sorting a few
    columns instead of every feature (at 1M accounts, ~2 s a day)."""
    wanted = {"account_id", CUSTOMER, *cards.metrics()}
    return features.select([name for name in features.column_names if name in wanted])


def _by_account(table: pa.Table) -> pa.Table:
    """Sorted by account_id (the feature table usually is already: then it is not copied)."""
    if health_store.strictly_sorted(pc.cast(table.column("account_id"), pa.string())):
        return table
    return table.sort_by("account_id")


SCORE_BATCH = 16 * 4096
"""Accounts scored per batch by `score_day`: results of one batch are stored before the next is scored, which
bounds memory (a million accounts' results, reasons and paths take ~1 GB as Arrow). A multiple of the store's
row group size, so batching leaves the file's row groups where one write would put them."""


def score_batches(features: pa.Table, cards: ScorecardSet, previous: pa.Table | None, day: date
                  ) -> Iterator[pa.Table]:
    """`score_columns` over consecutive slices of `SCORE_BATCH` rows, each scored only when asked for: a caller
    that keeps what it needs of a batch (stores it, sums it up) before taking the next holds one batch at a time.
    `previous`: the `PREVIOUS_COLUMNS` of the last results before `day` (None: none)."""
    aligned = Previous.aligned(previous, features.column("account_id"), cards)  # once: a hash of every account
    for start in range(0, features.num_rows, SCORE_BATCH):
        yield score_columns(features.slice(start, SCORE_BATCH), cards, aligned.slice(start, SCORE_BATCH), day)


def score_day(ws: Workspace, day: date, cards: ScorecardSet, features: pa.Table | None = None) -> pa.Table:
    """Score every customer on `day` (`is_customer` = 1) and store the results (replacing that day's).

    Returns the stored account_id, score and band of each, sorted by account_id (the whole results are in the
    store: `health_store.read_day`, `read_account`).
    """
    previous = health_store.previous_results(ws, day, components=bool(carried_metrics(cards)))
    table = features if features is not None else checked_features(ws, day)
    scored = _by_account(customers(scoring_columns(table, cards)))
    # the next batch is scored while the last one is written (two cores: the longer of the two, not the sum)
    path, summary = health_store.write_scored(ws, day, ahead(score_batches(scored, cards, previous, day)))
    log.info("health.score day=%s accounts=%d not_customers=%d file=%s", day, summary.num_rows,
             len(table) - len(scored), path)
    return summary
