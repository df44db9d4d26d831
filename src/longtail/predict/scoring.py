"""Model scores as features: `churn_risk` and `expansion_propensity` on a feature table (see docs/models.md).

`features_as_of` calls `add_model_scores`, so the scores are columns like any other feature: health scorecards,
segment and trigger expressions and the account page read them. Each score sits next to the id of the model
that produced it (`churn_model_id`, `expansion_model_id`). A target with no trained model gives NULL columns,
so expressions that use them parse and evaluate (to their unknown policy) before any model exists.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from longtail.predict import store
from longtail.settings import Workspace

if TYPE_CHECKING:
    from longtail.predict.models import TrainedModel

OUTPUTS: dict[str, tuple[str, str]] = {
    "churn": ("churn_risk", "churn_model_id"),
    "expansion": ("expansion_propensity", "expansion_model_id"),
}
"""Per target: the score column and the column naming the model that scored the row."""
SCORE_COLUMNS = frozenset(name for pair in OUTPUTS.values() for name in pair)
CUSTOMER = "is_customer"


def scored_rows(features: pa.Table, label: str) -> pa.Array:
    """Which rows a model of this label kind may score: customers only for a subscription label.

    A subscription model learnt from active accounts only, so its output for a former customer means nothing;
    an inactivity model observes every account that was recently active, whatever its subscription.
    """
    if label == "subscription" and CUSTOMER in features.column_names:
        return pc.fill_null(pc.equal(features.column(CUSTOMER), 1), False).combine_chunks()
    return pa.array(np.ones(features.num_rows, dtype=bool))


def predict_column(model: TrainedModel, features: pa.Table, keep: pa.Array) -> pa.Array:
    """The model's calibrated probability for the kept rows, NULL elsewhere."""
    from longtail.predict.models import matrix

    mask = np.asarray(keep.to_numpy(zero_copy_only=False), dtype=bool)
    values = np.full(features.num_rows, np.nan)
    if mask.any():
        values[mask] = model.predict(matrix(features.filter(keep), model.columns))
    return pa.array(values, pa.float64(), mask=~mask)


def score_arrays(features: pa.Table, model: TrainedModel | None,
                 meta: dict[str, Any] | None) -> tuple[pa.Array, pa.Array]:
    """The score and model-id columns of one target for `features` (all NULL when there is no model)."""
    if model is None or meta is None:
        return pa.nulls(features.num_rows, pa.float64()), pa.nulls(features.num_rows, pa.string())
    keep = scored_rows(features, str(meta["label"]))
    ids = pc.if_else(keep, pa.scalar(str(meta["model_id"])), pa.scalar(None, pa.string()))
    return predict_column(model, features, keep), ids


def add_model_scores(ws: Workspace, features: pa.Table, attributes: pa.Table | None = None) -> pa.Table:
    """Score `features` (one row per account, any as_of) with the workspace's CURRENT model of each target.

    `attributes` (account_id plus the categorical account columns the models read) is joined for scoring
    only; the returned table has the input columns plus the four score columns, in the input row order.
    """
    out = features.drop_columns([c for c in SCORE_COLUMNS if c in features.column_names])
    for target, (score_name, id_name) in OUTPUTS.items():
        model, meta = store.load_model(ws, target) if store.current_id(ws, target) is not None else (None, None)
        scoring = out
        wanted = [c for c in (model.columns.categorical if model else ()) if c not in out.column_names]
        if wanted and attributes is not None:
            scoring = _with_attributes(out, attributes.select(["account_id", *wanted]))
        scores, ids = score_arrays(scoring, model, meta)
        out = out.append_column(score_name, scores).append_column(id_name, ids)
    return out


def with_null_scores(features: pa.Table) -> pa.Table:
    """`features` with the four score columns all NULL: for tables that must not carry today's model scores
    (a backtest over past days) but on which conditions using them must still evaluate."""
    out = features.drop_columns([c for c in SCORE_COLUMNS if c in features.column_names])
    for score_name, id_name in OUTPUTS.values():
        scores, ids = score_arrays(out, None, None)
        out = out.append_column(score_name, scores).append_column(id_name, ids)
    return out


def _with_attributes(features: pa.Table, attributes: pa.Table) -> pa.Table:
    """Left-join account attributes, keeping the feature table's row order (Arrow joins do not keep it)."""
    index = {a: i for i, a in enumerate(attributes.column("account_id").to_pylist())}
    rows = [index.get(a) for a in features.column("account_id").to_pylist()]
    taken = attributes.take(pa.array(rows, pa.int64()))
    for name in attributes.column_names:
        if name != "account_id":
            features = features.append_column(name, taken.column(name))
    return features
