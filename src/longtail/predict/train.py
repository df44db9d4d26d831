"""From a training set to a trained, evaluated model (no I/O): split by time, fit, calibrate, evaluate."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from longtail.predict import evaluate as ev
from longtail.predict.dataset import time_split
from longtail.predict.models import TrainedModel, choose_columns, fit_models, matrix

COHORT_FEATURES = 5


@dataclass
class TrainResult:
    """The model and its report (figures on the test block, baselines, calibration, cohorts)."""

    model: TrainedModel
    report: dict[str, Any]
    cohorts: dict[str, list[dict[str, float | int]]]


def _importance(model: TrainedModel) -> list[str]:
    names = model.columns.names
    if model.kind == "lightgbm":
        gains = model.estimator.booster.feature_importance("gain")  # type: ignore[union-attr]
        order = np.argsort(-gains, kind="stable")
        return [names[i] for i in order if gains[i] > 0]
    coef = np.abs(model.estimator.fitted.coef_[0][: len(model.columns.numeric)])  # type: ignore[union-attr]
    return [model.columns.numeric[i] for i in np.argsort(-coef, kind="stable")]


def train(table: pa.Table) -> TrainResult:
    """Fit and evaluate on a training set (features, `label`, `window_end`; optional `health_score`)."""
    if table.num_rows == 0:
        raise ValueError("the training set is empty: no observation has a known outcome")
    y = table.column("label").to_numpy().astype(np.int8)
    split = time_split(table.column("as_of").to_pylist(), table.column("window_end").to_pylist())
    columns = choose_columns(table)
    x = matrix(table, columns)
    model = fit_models(x, y, split, columns)
    xs, ys = x[split.test], y[split.test]
    calibrated = model.predict(xs)
    extra = [c for c in ("health_score",) if c in table.column_names]
    base_cols = [*columns.numeric, *extra]
    xb = np.column_stack([x[:, : len(columns.numeric)],
                          *[table.column(c).cast(pa.float64()).to_numpy(zero_copy_only=False) for c in extra]])
    report: dict[str, Any] = {
        **ev.metrics(ys, calibrated),
        "test": ev.metrics(ys, calibrated),
        "uncalibrated": ev.metrics(ys, model.uncalibrated(xs)),
        "validation": ev.metrics(y[split.valid], model.predict(x[split.valid])),
        "baselines": ev.baselines(base_cols, (xb[split.train], y[split.train]), (xb[split.test], ys),
                                  range(len(columns.numeric))),
        "reliability": ev.reliability(ys, calibrated),
        "model_kind": model.kind,
        "choice": model.choice,
        "validation_auc": model.validation_auc,
        "calibration": {"method": model.calibrator.method, "reason": model.calibrator.reason},
        "split": {"train_rows": int(split.train.sum()), "valid_rows": int(split.valid.sum()),
                  "test_rows": int(split.test.sum()), "first_valid": split.boundaries[0].isoformat(),
                  "first_test": split.boundaries[1].isoformat()},
    }
    important = [n for n in _importance(model) if n in columns.numeric][:COHORT_FEATURES]
    held_out = split.valid | split.test
    cohorts = {n: ev.rate_by_decile(x[held_out, columns.names.index(n)], y[held_out]) for n in important}
    report["cohorts"] = cohorts
    return TrainResult(model, report, cohorts)
