"""Feature tables of a workspace: `features_as_of` runs `longtail.core.features.feature_table`, then adds the
model scores (`churn_risk`, `expansion_propensity`; see docs/models.md)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import replace
from datetime import date

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from longtail.analytics.connect import connect, workspace_feature_defs
from longtail.core.features import (
    AnalyticTables,
    FeatureSet,
    HistoryState,
    feature_table,
    history_delta,
    history_state,
)
from longtail.predict.scoring import add_model_scores
from longtail.settings import Workspace

MODEL_ATTRIBUTES = ("industry", "country")
"""Account attributes the models may read as categories (they are not feature columns)."""


def features_as_of(ws: Workspace, as_of: date, defs: FeatureSet | None = None, *, scores: bool = True) -> pa.Table:
    """One row per account existing on `as_of`, in the workspace time zone (see docs/features.md).

    With `scores`, the columns churn_risk, churn_model_id, expansion_propensity and expansion_model_id are
    added from the workspace's current models (NULL without one).
    """
    defs = defs if defs is not None else workspace_feature_defs(ws)
    with connect(ws) as (con, tables):
        table = con.to_pyarrow(feature_table(tables, as_of, defs, tz=ws.settings.timezone))
        if not scores:
            return table
        attributes = _model_attributes(con, tables)
    return add_model_scores(ws, table, attributes)


def features_over(ws: Workspace, dates: Iterable[date], defs: FeatureSet | None = None, *,
                  scores: bool = True) -> Iterator[tuple[date, pa.Table]]:
    """`(day, features_as_of(ws, day, defs, scores=scores))` for each of `dates`, oldest first, through one
    connection and `feature_series` (the whole-history parts carried from date to date)."""
    defs = defs if defs is not None else workspace_feature_defs(ws)
    with connect(ws) as (con, tables):
        attributes = _model_attributes(con, tables) if scores else None
        for day, table in feature_series(con, tables, dates, defs, tz=ws.settings.timezone):
            yield day, (add_model_scores(ws, table, attributes) if attributes is not None else table)


def _model_attributes(con: ibis.BaseBackend, tables: AnalyticTables) -> pa.Table:
    present = [c for c in MODEL_ATTRIBUTES if c in tables.accounts.columns]
    return con.to_pyarrow(tables.accounts.select("account_id", *present))


def _cached(con: ibis.BaseBackend, state: HistoryState) -> HistoryState:
    """The state with its tables materialized on `con` (`_cache`)."""
    return replace(state, contacts=_cache(con, state.contacts),
                   milestones=_cache(con, state.milestones) if state.milestones is not None else None)


def _cache(con: ibis.BaseBackend, table: ir.Table) -> ir.Table:
    """`table` materialized on `con`: a temporary table, a cached DataFrame on Spark (dropped by `release()`).

    `con._cached_table` is what `Table.cache()` calls once it has found the table's backend; called directly, so
    that tables built on in-memory inputs (`ibis.memtable`, which belong to no backend) are cached on `con`
    rather than on Ibis's default backend. Those inputs are registered first, as before any query (Ibis's
    PySpark backend compiles the cached query without doing it).
    """
    con._run_pre_execute_hooks(table)
    cached: ir.Table = con._cached_table(table)
    return cached


def _release_table(table: ir.Table | None) -> None:
    if isinstance(table, ir.CachedTable):
        table.release()


def _release(state: HistoryState | None) -> None:
    if state is not None:
        _release_table(state.contacts)
        _release_table(state.milestones)


def _next_state(con: ibis.BaseBackend, tables: AnalyticTables, day: date, defs: FeatureSet, *, tz: str,
                previous: HistoryState | None) -> HistoryState:
    """The materialized state of `day`; after the first date, the events in between are read once for both of
    its tables (a temporary table, dropped once the state is built)."""
    if previous is None:
        return _cached(con, history_state(tables, day, defs, tz))
    delta = _cache(con, history_delta(tables, day, previous, tz))
    try:
        return _cached(con, history_state(replace(tables, events=delta), day, defs, tz, previous=previous))
    finally:
        _release_table(delta)


def feature_series(con: ibis.BaseBackend, tables: AnalyticTables, dates: Iterable[date], defs: FeatureSet,
                   tz: str = "UTC") -> Iterator[tuple[date, pa.Table]]:
    """`(day, feature_table(tables, day, defs, tz))` for each of `dates`, oldest first, one day at a time.

    Each table equals the one computed alone; the whole-history parts (last activity, milestones) are carried
    from one date to the next as a `HistoryState`, so each event is read once for them over the whole series
    instead of once per date. The state lives as temporary tables on `con` and is dropped as the series goes on
    (and when the caller stops early).
    """
    state: HistoryState | None = None
    try:
        for day in sorted(set(dates)):
            following = _next_state(con, tables, day, defs, tz=tz, previous=state)
            try:
                table = con.to_pyarrow(feature_table(tables, day, defs, tz, state=following))
            finally:
                # released once the new state has been read: on Spark a cache fills when first used
                _release(state)
                state = following
            yield day, table
    finally:
        _release(state)


def feature_history(ws: Workspace, dates: Iterable[date], defs: FeatureSet | None = None) -> pa.Table:
    """Feature tables for several dates, stacked (the `as_of` column tells them apart).

    No model scores: this is what models train on (a model must not read its own output), and scoring past
    dates with today's model would be in-sample, so a backtest would flatter it.
    """
    defs = defs if defs is not None else workspace_feature_defs(ws)
    with connect(ws) as (con, tables):
        parts = [table for _day, table in feature_series(con, tables, dates, defs, tz=ws.settings.timezone)]
    if not parts:
        raise ValueError("feature_history needs at least one date")
    return pa.concat_tables(parts)
