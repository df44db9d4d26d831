"""Labels, the point-in-time check, time splits, explanations and calibration on small hand-built data."""

from __future__ import annotations

import functools
import warnings
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pyarrow as pa
import pytest

from longtail.predict.dataset import LeakageError, check_point_in_time, time_split, training_set
from longtail.predict.evaluate import metrics, top_decile_lift
from longtail.predict.labels import LabelSpec, inactivity_labels, subscription_labels
from longtail.predict.models import BoostedModel, Calibrator, Columns, LogisticModel, TrainedModel, fit_models

D = date(2025, 1, 1)
END = date(2025, 12, 31)


def day(n: int) -> date:
    return D + timedelta(days=n)


SUBS = pa.table({
    "account_id": ["churner", "stayer", "late", "grower", "grower"],
    "start_date": [day(0), day(0), day(0), day(0), day(50)],
    "end_date": [day(100), None, day(340), None, None],
    "mrr": [100.0, 100.0, 100.0, 100.0, 50.0],
}, schema=pa.schema({"account_id": pa.string(), "start_date": pa.date32(), "end_date": pa.date32(),
                     "mrr": pa.float64()}))


def labels_of(spec: LabelSpec, obs: list[tuple[str, date]], end: date = END) -> dict[tuple[str, date], int]:
    lab = subscription_labels(SUBS, obs, spec, end)
    return dict(zip(zip(lab.account_id, lab.as_of, strict=True), lab.label, strict=True))


def test_churn_label_window_lead_and_unfinished_windows() -> None:
    spec = LabelSpec(horizon_days=60)
    got = labels_of(spec, [("churner", day(30)), ("churner", day(45)), ("stayer", day(30)), ("late", day(320))])
    assert got == {("churner", day(45)): 1, ("churner", day(30)): 0, ("stayer", day(30)): 0}
    # ('late', day 320): its window ends on day 380, after the data ends: excluded, not a negative.
    led = labels_of(LabelSpec(horizon_days=60, lead_days=30), [("churner", day(45)), ("churner", day(20))])
    assert led == {("churner", day(20)): 1, ("churner", day(45)): 1}  # windows (50, 110] and (75, 135]
    # A churn inside the lead time (day 100 <= 45 + 60) is already too late to act on: excluded.
    assert labels_of(LabelSpec(horizon_days=60, lead_days=60), [("churner", day(45))]) == {}
    assert labels_of(spec, [("churner", day(120))]) == {}  # not active any more: not observed


def test_expansion_label_and_inactive_accounts() -> None:
    spec = LabelSpec(target="expansion", horizon_days=60)
    got = labels_of(spec, [("grower", day(10)), ("grower", day(60)), ("stayer", day(10))])
    assert got == {("grower", day(10)): 1, ("grower", day(60)): 0, ("stayer", day(10)): 0}


def test_inactivity_label() -> None:
    events = {"a": [day(0), day(10), day(70), day(100)], "b": [day(0), day(5)]}
    spec = LabelSpec(label="inactivity", horizon_days=30)
    lab = inactivity_labels(events, [("a", day(10)), ("a", day(50)), ("b", day(10)), ("b", day(300))], spec, END)
    got = dict(zip(zip(lab.account_id, lab.as_of, strict=True), lab.label, strict=True))
    # a on day 10: next event day 70 is after the 30-day window -> inactive; a on day 60 was already
    # silent for 50 days (> horizon) so it is not observed; b on day 300 is silent: not observed.
    assert got == {("a", day(10)): 1, ("b", day(10)): 1}
    assert inactivity_labels(events, [("a", day(80))], spec, END).label == [0]
    assert inactivity_labels(events, [("a", day(95))], spec, day(100)).label == []  # window past the data end


def features(dates: list[date], extra: dict[str, pa.Array] | None = None) -> pa.Table:
    cols: dict[str, pa.Array] = {"account_id": pa.array(["churner"] * len(dates)),
                                 "as_of": pa.array(dates, pa.date32()), "events_28d": pa.array([1.0] * len(dates))}
    return pa.table({**cols, **(extra or {})})


def test_a_feature_from_after_the_observation_date_fails_the_build() -> None:
    dates = [day(30), day(45)]
    lab = subscription_labels(SUBS, [("churner", d) for d in dates], LabelSpec(horizon_days=60), END)
    assert training_set(features(dates), lab, dates).num_rows == 2
    leaked = features(dates, {"churned_on": pa.array([day(100), day(100)], pa.date32())})
    with pytest.raises(LeakageError, match="churned_on"):
        training_set(leaked, lab, dates)
    seen = pa.array([datetime(2025, 1, 31, 23, 59, tzinfo=UTC), datetime(2025, 2, 16, tzinfo=UTC)],
                    pa.timestamp("us", tz="UTC"))
    with pytest.raises(LeakageError, match="last_seen"):
        check_point_in_time(features(dates, {"last_seen": seen}), dates)
    with pytest.raises(LeakageError, match="answer no observation date"):
        check_point_in_time(features([day(31), day(45)]), dates)


def test_time_split_is_by_date_and_purges_windows_that_overlap_the_next_block() -> None:
    as_of = [day(7 * (i // 10)) for i in range(200)]
    ends = [d + timedelta(days=14) for d in as_of]
    split = time_split(as_of, ends)
    obs = np.array([d.toordinal() for d in as_of])
    assert obs[split.train].max() < obs[split.valid].min() <= obs[split.valid].max() < obs[split.test].min()
    assert all(ends[i] <= split.boundaries[0] for i in np.flatnonzero(split.train))
    assert not (split.train & split.valid).any() and not (split.valid & split.test).any()


def synthetic(n: int = 3000, seed: int = 1,
              shuffle: bool = False) -> tuple[np.ndarray, np.ndarray, list[date], Columns]:
    rng = np.random.default_rng(seed)
    x = np.column_stack([rng.exponential(20, n), rng.normal(0, 1, n), rng.integers(0, 3, n).astype(float)])
    logit = -2.0 - 0.08 * x[:, 0] + 1.2 * x[:, 1] + 0.8 * (x[:, 2] == 2)
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.int8)
    if shuffle:
        y = rng.permutation(y)
    x[rng.random(n) < 0.05, 0] = np.nan
    dates = [day(7 * (i * 12 // n)) for i in range(n)]
    return x, y, dates, Columns(("events_28d", "nps_change"), {"plan": ("a", "b", "c")})


@functools.cache  # fitting is the slow part of these tests; the fitted models are only read
def fitted(shuffle: bool = False) -> tuple[TrainedModel, np.ndarray, np.ndarray, object]:
    x, y, dates, cols = synthetic(shuffle=shuffle)
    split = time_split(dates, dates)
    return fit_models(x, y, split, cols), x, y, split


@pytest.mark.parametrize("kind", ["lightgbm", "logistic"])
def test_contributions_sum_to_the_raw_log_odds(kind: str) -> None:
    x, y, _, cols = synthetic()
    model = (BoostedModel.fit(x, y, cols, None, rounds=40) if kind == "lightgbm"
             else LogisticModel.fit(x, y, cols))
    contrib = model.contributions(x[:200])
    assert contrib.shape == (200, len(cols.names) + 1)
    np.testing.assert_allclose(contrib.sum(axis=1), model.raw(x[:200]), rtol=1e-6, atol=1e-6)


def test_shuffled_labels_score_about_half() -> None:
    model, x, y, split = fitted(shuffle=True)
    auc = metrics(y[split.test], model.predict(x[split.test]))["roc_auc"]  # type: ignore[attr-defined]
    assert auc is not None and abs(auc - 0.5) < 0.08


def test_real_signal_is_found_and_calibration_keeps_or_improves_brier() -> None:
    model, x, y, split = fitted()
    xv, yv = x[split.valid], y[split.valid]  # type: ignore[attr-defined]
    raw = model.raw(xv)
    cal = Calibrator.fit(raw, yv)
    folds = np.random.default_rng(7).permutation(len(yv)) % 5
    assert Calibrator._cross_brier(cal.method, raw, yv, folds) <= Calibrator._cross_brier("none", raw, yv, folds)
    test = metrics(y[split.test], model.predict(x[split.test]))  # type: ignore[attr-defined]
    assert test["roc_auc"] is not None and test["roc_auc"] > 0.75  # type: ignore[operator]


def test_top_decile_lift() -> None:
    y = np.array([1] * 10 + [0] * 90, dtype=np.int8)
    score = np.linspace(1, 0, 100)
    assert top_decile_lift(y, score) == pytest.approx(10.0)


def test_score_columns_are_null_without_a_model_and_cover_customers_only() -> None:
    from longtail.predict.scoring import score_arrays, with_null_scores

    model, *_ = fitted()
    features = pa.table({"account_id": ["a", "b", "c"], "is_customer": [1, 0, 1], "events_28d": [3.0, 5.0, 40.0],
                         "nps_change": [-2.0, 0.0, 1.0], "plan": ["c", "a", None]})
    blank = with_null_scores(features.append_column("churn_risk", pa.array([0.5] * 3)))
    assert blank.column_names[-4:] == ["churn_risk", "churn_model_id", "expansion_propensity", "expansion_model_id"]
    assert all(blank.column(c).null_count == 3 for c in blank.column_names[-4:])
    scores, ids = score_arrays(features, None, None)
    assert scores.null_count == 3 and ids.null_count == 3 and scores.type == pa.float64()
    scores, ids = score_arrays(features, model, {"label": "subscription", "model_id": "m1"})
    expected = model.predict(np.array([[3.0, -2.0, 2.0], [40.0, 1.0, np.nan]]))
    assert scores.to_pylist()[1] is None and ids.to_pylist() == ["m1", None, "m1"]
    np.testing.assert_allclose([scores.to_pylist()[0], scores.to_pylist()[2]], expected)
    scores, ids = score_arrays(features, model, {"label": "inactivity", "model_id": "m2"})
    assert scores.null_count == 0 and ids.to_pylist() == ["m2"] * 3  # an inactivity model scores every account


def test_train_refuses_a_validation_block_emptied_by_purging() -> None:
    from longtail.predict.train import train

    dates = [day(7 * (i % 8)) for i in range(80)]
    table = pa.table({"account_id": [f"a{i}" for i in range(80)], "as_of": pa.array(dates, pa.date32()),
                      "events_28d": [float(i % 5) for i in range(80)], "label": pa.array([i % 2 for i in range(80)],
                                                                                      pa.int8()),
                      "window_end": pa.array([d + timedelta(days=90) for d in dates], pa.date32())})
    with pytest.raises(ValueError, match="training block is empty"):  # 90-day windows, an 8-week grid
        train(table)


def test_a_feature_null_on_every_row_fits_quietly_and_is_filled_with_zero() -> None:
    """Engagement features are null everywhere before any message went out: no numpy warning, median 0."""
    x, y, _, cols = synthetic(n=400)
    x[:, 1] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = LogisticModel.fit(x, y, cols)
    assert model.medians[1] == 0.0
    assert np.isfinite(model.raw(x[:50])).all()
