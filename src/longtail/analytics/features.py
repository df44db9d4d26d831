"""Feature tables of a workspace: `features_as_of` runs `longtail.core.features.feature_table`, then adds the
model scores (`churn_risk`, `expansion_propensity`; see docs/models.md)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

import pyarrow as pa

from longtail.analytics.connect import connect, workspace_feature_defs
from longtail.core.features import FeatureSet, feature_table
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
        present = [c for c in MODEL_ATTRIBUTES if c in tables.accounts.columns]
        attributes = con.to_pyarrow(tables.accounts.select("account_id", *present))
    return add_model_scores(ws, table, attributes)


def feature_history(ws: Workspace, dates: Iterable[date], defs: FeatureSet | None = None) -> pa.Table:
    """Feature tables for several dates, stacked (the `as_of` column tells them apart).

    No model scores: this is what models train on (a model must not read its own output), and scoring past
    dates with today's model would be in-sample, so a backtest would flatter it.
    """
    defs = defs if defs is not None else workspace_feature_defs(ws)
    parts: list[pa.Table] = []
    with connect(ws) as (con, tables):
        for day in sorted(set(dates)):
            parts.append(con.to_pyarrow(feature_table(tables, day, defs, tz=ws.settings.timezone)))
    if not parts:
        raise ValueError("feature_history needs at least one date")
    return pa.concat_tables(parts)
