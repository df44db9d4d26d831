"""From a training set to a trained, evaluated model (no I/O): split by time, fit, calibrate, evaluate."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from longtail.predict import evaluate as ev
from longtail.predict.dataset import TimeSplit, time_split
from longtail.predict.models import TrainedModel, choose_columns, fit_models, matrix

COHORT_FEATURES = 5


@dataclass
class TrainResult:
    """The model and its report (figures on the test block, baselines, calibration, cohorts)."""

    model: TrainedModel
    report: dict[str, Any]
    cohorts: dict[str, list[dict[str, float | int]]]
    test_rows: pa.Table
    """account_id, as_of, label and the calibrated probability of every test-block observation (for audits and
    for comparing other scores on exactly the same observations)."""


def _importance(model: TrainedModel) -> list[str]:
    names = model.columns.names
    if model.kind == "lightgbm":
        gains = model.estimator.booster.feature_importance("gain")  # type: ignore[union-attr]
        order = np.argsort(-gains, kind="stable")
        return [names[i] for i in order if gains[i] > 0]
    coef = np.abs(model.estimator.fitted.coef_[0][: len(model.columns.numeric)])  # type: ignore[union-attr]
    return [model.columns.numeric[i] for i in np.argsort(-coef, kind="stable")]


def _check_blocks(split: TimeSplit) -> None:
    """Refuse a split whose training or validation block is empty after purging, instead of silently picking a
    model and calibration on nothing: that happens when label windows are longer than a block's span."""
    for name, mask in (("training", split.train), ("validation", split.valid), ("test", split.test)):
        if not mask.any():
            raise ValueError(f"the {name} block is empty once observations whose label window runs into the next "
                             f"block are removed (validation starts {split.boundaries[0]}, test "
                             f"{split.boundaries[1]}): observe over a longer period or use a shorter --horizon")


def train(table: pa.Table, split: TimeSplit | None = None) -> TrainResult:
    """Fit and evaluate on a training set (features, `label`, `window_end`; optional `health_score`).

    The split is by time (`time_split`) unless one is given: only snapshot data with a single date (Telco, see
    `longtail.predict.datasets`) passes a random one, and its report says so.
    """
    if table.num_rows == 0:
        raise ValueError("the training set is empty: no observation has a known outcome")
    y = table.column("label").to_numpy().astype(np.int8)
    kind = "given" if split is not None else "time"
    if split is None:
        split = time_split(table.column("as_of").to_pylist(), table.column("window_end").to_pylist())
    _check_blocks(split)
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
        "split": {"kind": kind, "train_rows": int(split.train.sum()), "valid_rows": int(split.valid.sum()),
                  "test_rows": int(split.test.sum()), "first_valid": split.boundaries[0].isoformat(),
                  "first_test": split.boundaries[1].isoformat()},
    }
    important = [n for n in _importance(model) if n in columns.numeric][:COHORT_FEATURES]
    held_out = split.valid | split.test
    cohorts = {n: ev.rate_by_decile(x[held_out, columns.names.index(n)], y[held_out]) for n in important}
    report["cohorts"] = cohorts
    mask = pa.array(split.test)
    test_rows = table.select(["account_id", "as_of", "label"]).filter(mask).append_column(
        "probability", pa.array(calibrated, pa.float64()))
    return TrainResult(model, report, cohorts, test_rows)
