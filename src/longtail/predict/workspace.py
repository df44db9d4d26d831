"""Workspace adapters: build a training set from a workspace, train and store a model, score accounts."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from longtail.analytics import features as feature_tables
from longtail.analytics.connect import connect, workspace_feature_defs
from longtail.analytics.health_run import workspace_scorecards
from longtail.core.health.columnar import score_columns
from longtail.errors import LongtailError
from longtail.predict import evaluate as ev
from longtail.predict import store
from longtail.predict.dataset import training_set
from longtail.predict.explain import reasons
from longtail.predict.labels import LabelSpec, inactivity_labels, subscription_labels
from longtail.predict.models import matrix
from longtail.predict.scoring import SCORE_COLUMNS
from longtail.predict.train import TrainResult, train
from longtail.settings import Workspace

log = logging.getLogger(__name__)

CATEGORICAL = ("industry", "country")
"""Account attributes given to the models as categories (read from the accounts snapshot, which keeps no
history: they are assumed not to change, which holds for industry and country)."""


def _subscriptions(ws: Workspace) -> pa.Table:
    with connect(ws) as (con, tables):
        subs = tables.subscriptions.select("account_id", "start_date", "end_date", "mrr", "arr", "subscription_id")
        return con.to_pyarrow(subs)


def _event_days(ws: Workspace, names: Sequence[str]) -> dict[str, list[date]]:
    with connect(ws) as (con, tables):
        ev_t = tables.events
        if names:
            ev_t = ev_t.filter(ev_t.event.isin(list(names)))
        days = ev_t.select(account_id=ev_t.account_id, day=ev_t.ts.date()).distinct()
        rows = con.to_pyarrow(days.order_by(["account_id", "day"])).to_pydict()
    out: dict[str, list[date]] = {}
    for acc, day in zip(rows["account_id"], rows["day"], strict=True):
        out.setdefault(acc, []).append(day)
    return out


def data_end(ws: Workspace) -> date:
    """The last day with data: the latest event day or subscription start, whichever is later."""
    with connect(ws) as (con, tables):
        last_event = con.to_pyarrow(tables.events.ts.max().date().name("d").as_table()).column(0)[0].as_py()
        last_start = con.to_pyarrow(tables.subscriptions.start_date.max().name("d").as_table()).column(0)[0].as_py()
    found: list[date] = [d for d in (last_event, last_start) if isinstance(d, date)]
    if not found:
        raise LongtailError("the workspace has no events and no subscriptions: nothing to learn from")
    return max(found)


def _attributes(ws: Workspace) -> pa.Table:
    with connect(ws) as (con, tables):
        return con.to_pyarrow(tables.accounts.select("account_id", *CATEGORICAL))


def _with_health(ws: Workspace, features: pa.Table) -> pa.Table:
    """Add each row's health score (the workspace scorecards, scored afresh: the baseline needs every date)."""
    # Without a previous state a score does not depend on the day (only hysteresis does), so the rows of every
    # date are scored at once; the day given only stamps the results' as_of, which is not kept.
    scored = score_columns(features, workspace_scorecards(ws), None, date.min)
    return features.append_column("health_score", scored.column("score"))


def features_for(ws: Workspace, dates: Sequence[date]) -> pa.Table:
    """Point-in-time feature rows for `dates`, plus the categorical account attributes."""
    table = feature_tables.feature_history(ws, dates)
    # feature_history carries no model scores; dropped anyway so a model can never read a model's output.
    table = table.drop_columns([c for c in SCORE_COLUMNS if c in table.column_names])
    return table.join(_attributes(ws), keys="account_id", join_type="left outer")


def build(ws: Workspace, spec: LabelSpec, dates: Sequence[date], end: date | None = None,
          *, with_health: bool = True) -> tuple[pa.Table, date]:
    """The training set of a workspace for observation `dates` and its data end."""
    end = end or data_end(ws)
    features = features_for(ws, dates)
    obs = list(zip(features.column("account_id").to_pylist(), features.column("as_of").to_pylist(), strict=True))
    if spec.label == "inactivity":
        labelled = inactivity_labels(_event_days(ws, spec.qualifying_events), obs, spec, end)
    else:
        labelled = subscription_labels(_subscriptions(ws), obs, spec, end)
    table = training_set(features, labelled, dates)
    if with_health and table.num_rows:
        table = _with_health(ws, table)
    log.info("predict.build rows=%d positives=%d data_end=%s", table.num_rows,
             pc.sum(table.column("label")).as_py() or 0, end)
    return table, end


def without(table: pa.Table, exclude: Sequence[str]) -> pa.Table:
    """The training set minus features the user excludes (e.g. a column their data fills in after the fact)."""
    unknown = sorted(set(exclude) - set(table.column_names))
    if unknown:
        raise LongtailError(f"cannot exclude unknown feature(s) {', '.join(unknown)}")
    return table.drop_columns(list(exclude))


def train_workspace(ws: Workspace, spec: LabelSpec, dates: Sequence[date], end: date | None = None,
                    exclude: Sequence[str] = ()) -> tuple[TrainResult, dict[str, Any], Path]:
    """Build, train, evaluate and store a model; returns the result, its metadata and its folder."""
    table, end = build(ws, spec, dates, end)
    result = train(without(table, exclude))
    defs_hash = workspace_feature_defs(ws).hash
    definition = store.definition_hash(spec, result.model.columns.names, defs_hash)
    mid = store.model_id(definition, list(dates), end)
    meta: dict[str, Any] = {
        "model_id": mid, "target": spec.target, "label": spec.label, "spec": spec.__dict__,
        "training_window": {"first": min(dates).isoformat(), "last": max(dates).isoformat(),
                            "data_end": end.isoformat(), "observation_dates": len(set(dates))},
        "features": result.model.columns.names, "excluded_features": sorted(exclude),
        "definition_hash": definition, "feature_defs_hash": defs_hash,
        "metrics": result.report,
    }
    folder = store.models_dir(ws, spec.target) / mid
    meta["charts"] = ev.charts(folder / "charts", result.report, result.cohorts)
    store.save(ws, spec, result.model, meta)
    pq.write_table(result.test_rows, folder / store.TEST_ROWS_FILE)
    return result, meta, folder


def score(ws: Workspace, as_of: date, target: str = "churn", *, explain: int = 0,
          model_id: str | None = None) -> pa.Table:
    """Score every account the model's population covers on `as_of`: account_id, churn_risk|expansion_propensity,
    model_id (and `reasons` when `explain` > 0: that many sentences per account)."""
    model, meta = store.load_model(ws, target, model_id)
    features = features_for(ws, [as_of])
    if meta["label"] == "subscription" and "is_customer" in features.column_names:
        features = features.filter(pc.equal(features.column("is_customer"), 1))
    x = matrix(features, model.columns)
    column = "churn_risk" if target == "churn" else "expansion_propensity"
    out = pa.table({"account_id": features.column("account_id"),
                    column: pa.array(model.predict(x) if len(x) else np.zeros(0), pa.float64()),
                    "model_id": pa.array([meta["model_id"]] * features.num_rows, pa.string())})
    if explain:
        contrib = model.estimator.contributions(x)
        noun = "risk" if target == "churn" else "propensity"
        said = [[r.sentence for r in reasons(x[i], contrib[i], model.columns, top=explain, noun=noun)]
                for i in range(len(x))]
        out = out.append_column("reasons", pa.array(said, pa.list_(pa.string())))
    return out.sort_by([(column, "descending"), ("account_id", "ascending")])



