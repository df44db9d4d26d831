"""Models: LightGBM and a regularised logistic regression, picked by time-based validation, then calibrated.

Both give a raw score in log-odds and per-feature contributions that sum to it (LightGBM's native SHAP values;
coefficient x standardised value for the logistic model), so every probability can be explained.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field
from typing import Any, Literal

import lightgbm as lgb
import numpy as np
import numpy.typing as npt
import pyarrow as pa
from sklearn.isotonic import IsotonicRegression  # type: ignore[import-untyped]
from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]
from sklearn.metrics import roc_auc_score  # type: ignore[import-untyped]

from longtail.predict.dataset import NOT_FEATURES, TimeSplit

log = logging.getLogger(__name__)

F64 = npt.NDArray[np.float64]
Kind = Literal["lightgbm", "logistic"]

ISOTONIC_MIN_POSITIVES = 200
"""Below this many validation positives isotonic regression overfits its steps, so it is not even tried."""
MAX_CATEGORIES = 50
"""Categories beyond the 50 most frequent are treated as missing: rare levels only add noise."""
LGB_PARAMS: dict[str, Any] = {
    "objective": "binary", "learning_rate": 0.05, "num_leaves": 15, "min_data_in_leaf": 20,
    "feature_fraction": 0.8, "bagging_fraction": 0.8, "bagging_freq": 1, "lambda_l2": 1.0,
    "cat_smooth": 10.0, "verbose": -1, "seed": 7, "deterministic": True, "num_threads": 2,
}
LGB_ROUNDS = 300
LGB_EARLY_STOP = 30


@dataclass(frozen=True)
class Columns:
    """The model's inputs: numeric features, then categorical ones with their vocabularies (code = index)."""

    numeric: tuple[str, ...]
    categorical: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        return [*self.numeric, *self.categorical]


def choose_columns(table: pa.Table) -> Columns:
    """Numeric and string columns of a training set, minus keys, labels and model outputs."""
    numeric: list[str] = []
    categorical: dict[str, tuple[str, ...]] = {}
    for name in table.column_names:
        if name in NOT_FEATURES:
            continue
        kind = table.schema.field(name).type
        if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind):
            numeric.append(name)
        elif pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_dictionary(kind):
            counts = table.column(name).cast(pa.string()).drop_null().value_counts().to_pylist()
            top = sorted(counts, key=lambda c: (-c["counts"], c["values"]))[:MAX_CATEGORIES]
            if len(top) > 1:
                categorical[name] = tuple(sorted(c["values"] for c in top))
    return Columns(tuple(numeric), categorical)


def matrix(table: pa.Table, columns: Columns) -> F64:
    """Rows x features as float64: numbers as they are (null = NaN), categories as vocabulary codes (unknown = NaN)."""
    out = np.full((table.num_rows, len(columns.names)), np.nan)
    for j, name in enumerate(columns.numeric):
        if name in table.column_names:
            out[:, j] = table.column(name).cast(pa.float64()).to_numpy(zero_copy_only=False)
    for k, (name, vocab) in enumerate(columns.categorical.items()):
        if name not in table.column_names:
            continue
        index = {v: i for i, v in enumerate(vocab)}
        values = table.column(name).cast(pa.string()).to_pylist()
        out[:, len(columns.numeric) + k] = [index.get(v, np.nan) if v is not None else np.nan for v in values]
    return out


def _signed_log(x: F64) -> F64:
    return np.sign(x) * np.log1p(np.abs(x))


@dataclass
class LogisticModel:
    """Heavy-tailed columns logged, missing values set to the training median, standardised; categories one-hot."""

    columns: Columns
    logged: npt.NDArray[np.bool_]
    medians: F64
    means: F64
    scales: F64
    fitted: LogisticRegression

    @classmethod
    def fit(cls, x: F64, y: npt.NDArray[np.int8], columns: Columns, c: float = 0.5) -> LogisticModel:
        n = len(columns.numeric)
        num = x[:, :n]
        with np.errstate(all="ignore"), warnings.catch_warnings():
            # A column null on every row (no engagement yet) has no percentile, minimum or median: numpy warns
            # "All-NaN slice" and returns NaN, which nan_to_num below turns into 0 (what the model fills it with).
            warnings.filterwarnings("ignore", message="All-NaN slice encountered", category=RuntimeWarning)
            p50 = np.nanpercentile(num, 50, axis=0) if n else np.zeros(0)
            p99 = np.nanpercentile(num, 99, axis=0) if n else np.zeros(0)
            low = np.nanmin(num, axis=0) if n else np.zeros(0)
            # Counts and money span orders of magnitude: logging them keeps a few large accounts from dominating.
            logged = np.nan_to_num(low) >= 0
            logged &= np.nan_to_num(p99) > 10 * (np.abs(np.nan_to_num(p50)) + 1)
            medians = np.nanmedian(np.where(logged, _signed_log(num), num), axis=0) if n else p50
        model = cls(columns, logged, np.zeros(0), np.zeros(0), np.zeros(0), LogisticRegression())
        model.medians = np.nan_to_num(medians)
        z = model._expand(x)
        model.means = z.mean(axis=0)
        model.scales = np.where(z.std(axis=0) > 0, z.std(axis=0), 1.0)
        model.fitted = LogisticRegression(C=c, max_iter=2000)
        model.fitted.fit((z - model.means) / model.scales, y)
        return model

    def _expand(self, x: F64) -> F64:
        n = len(self.columns.numeric)
        num = x[:, :n]
        num = np.where(self.logged, _signed_log(num), num)
        num = np.where(np.isnan(num), self.medians, num)
        parts = [num]
        for k, vocab in enumerate(self.columns.categorical.values()):
            codes = x[:, n + k]
            parts.append((codes[:, None] == np.arange(len(vocab))[None, :]).astype(np.float64))
        return np.hstack(parts) if parts else np.zeros((x.shape[0], 0))

    def contributions(self, x: F64) -> F64:
        """Per input feature (one-hot columns summed back into their category), then the intercept last."""
        z = (self._expand(x) - self.means) / self.scales
        parts = z * self.fitted.coef_[0]
        n = len(self.columns.numeric)
        out = [parts[:, :n]]
        at = n
        for vocab in self.columns.categorical.values():
            out.append(parts[:, at:at + len(vocab)].sum(axis=1, keepdims=True))
            at += len(vocab)
        out.append(np.full((x.shape[0], 1), float(self.fitted.intercept_[0])))
        return np.hstack(out)

    def raw(self, x: F64) -> F64:
        return np.asarray(self.contributions(x).sum(axis=1), dtype=np.float64)


@dataclass
class BoostedModel:
    """A LightGBM booster over the same matrix; categorical columns are declared to LightGBM (native handling)."""

    columns: Columns
    booster: lgb.Booster

    @classmethod
    def fit(cls, x: F64, y: npt.NDArray[np.int8], columns: Columns, valid: tuple[F64, npt.NDArray[np.int8]] | None,
            rounds: int = LGB_ROUNDS) -> BoostedModel:
        cats = list(range(len(columns.numeric), len(columns.names)))
        train = lgb.Dataset(x, y, feature_name=columns.names, categorical_feature=cats, free_raw_data=False)
        sets: list[lgb.Dataset] = []
        callbacks: list[Any] = []
        if valid is not None and 0 < valid[1].sum() < len(valid[1]):
            sets = [lgb.Dataset(valid[0], valid[1], reference=train, categorical_feature=cats)]
            callbacks = [lgb.early_stopping(LGB_EARLY_STOP, verbose=False)]
        booster = lgb.train(LGB_PARAMS, train, num_boost_round=rounds, valid_sets=sets, callbacks=callbacks)
        return cls(columns, booster)

    def contributions(self, x: F64) -> F64:
        """SHAP values per feature, then the expected value last; each row sums to the raw log-odds."""
        return np.asarray(self.booster.predict(x, pred_contrib=True,
                                               num_iteration=self.booster.best_iteration or None))

    def raw(self, x: F64) -> F64:
        return np.asarray(self.booster.predict(x, raw_score=True, num_iteration=self.booster.best_iteration or None))


Estimator = LogisticModel | BoostedModel


def _sigmoid(x: F64) -> F64:
    return 1.0 / (1.0 + np.exp(-x))


@dataclass
class Calibrator:
    """Maps raw log-odds to calibrated probabilities: 'platt', 'isotonic' or 'none'."""

    method: str
    reason: str
    platt: LogisticRegression | None = None
    isotonic: IsotonicRegression | None = None

    @classmethod
    def fit(cls, raw: F64, y: npt.NDArray[np.int8]) -> Calibrator:
        """Pick none, Platt or isotonic by cross-fitted Brier score on the validation rows, then fit it on all.

        Scoring a calibrator on the rows it was fitted on would always favour it; cross-fitting (5 folds)
        measures it honestly, and 'none' wins ties, so calibration is applied only where it helps.
        """
        positives = int(y.sum())
        if positives < 2 or positives > len(y) - 2:
            return cls("none", "the validation block has (almost) one class only: nothing to calibrate on")
        methods = ["none", "platt"] + (["isotonic"] if positives >= ISOTONIC_MIN_POSITIVES else [])
        folds = np.random.default_rng(7).permutation(len(y)) % 5
        briers = {m: cls._cross_brier(m, raw, y, folds) for m in methods}
        best = min(methods, key=lambda m: (round(briers[m], 6), methods.index(m)))
        reason = ", ".join(f"{m} {b:.4f}" for m, b in briers.items())
        return cls._fitted(best, raw, y, f"cross-fitted validation Brier: {reason}; {best} is lowest")

    @classmethod
    def _fitted(cls, method: str, raw: F64, y: npt.NDArray[np.int8], reason: str) -> Calibrator:
        if method == "isotonic":
            return cls(method, reason, isotonic=IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0)
                       .fit(raw, y))
        if method == "platt" and 0 < y.sum() < len(y):
            return cls(method, reason, platt=LogisticRegression(C=1e6, max_iter=1000).fit(raw.reshape(-1, 1), y))
        return cls("none", reason)

    @classmethod
    def _cross_brier(cls, method: str, raw: F64, y: npt.NDArray[np.int8], folds: npt.NDArray[np.int64]) -> float:
        predicted = np.empty(len(y))
        for k in range(5):
            held = folds == k
            predicted[held] = cls._fitted(method, raw[~held], y[~held], "")(raw[held])
        return float(np.mean((predicted - y) ** 2))

    def __call__(self, raw: F64) -> F64:
        if self.isotonic is not None:
            return np.asarray(self.isotonic.predict(raw), dtype=np.float64)
        if self.platt is not None:
            return np.asarray(self.platt.predict_proba(raw.reshape(-1, 1))[:, 1], dtype=np.float64)
        return _sigmoid(raw)


@dataclass
class TrainedModel:
    """The chosen estimator, its calibrator and why it was chosen."""

    kind: Kind
    estimator: Estimator
    calibrator: Calibrator
    choice: str
    validation_auc: dict[str, float | None]

    @property
    def columns(self) -> Columns:
        return self.estimator.columns

    def raw(self, x: F64) -> F64:
        return self.estimator.raw(x)

    def uncalibrated(self, x: F64) -> F64:
        return _sigmoid(self.raw(x))

    def predict(self, x: F64) -> F64:
        return self.calibrator(self.raw(x))


def safe_auc(y: npt.NDArray[np.int8], score: F64) -> float | None:
    """ROC AUC, or None when only one class is present (AUC is undefined then)."""
    if len(np.unique(y)) < 2:
        return None
    return float(roc_auc_score(y, score))


def fit_models(x: F64, y: npt.NDArray[np.int8], split: TimeSplit, columns: Columns) -> TrainedModel:
    """Fit both model kinds on the training block, keep the better one on validation AUC, calibrate on validation."""
    xt, yt = x[split.train], y[split.train]
    xv, yv = x[split.valid], y[split.valid]
    if len(np.unique(yt)) < 2:
        raise ValueError("the training block has only one class: widen the observation window or the horizon")
    candidates: dict[str, Estimator] = {
        "lightgbm": BoostedModel.fit(xt, yt, columns, (xv, yv)),
        "logistic": LogisticModel.fit(xt, yt, columns),
    }
    aucs = {kind: safe_auc(yv, est.raw(xv)) for kind, est in candidates.items()}
    gbm, lr = aucs["lightgbm"], aucs["logistic"]
    if gbm is None or lr is None:
        kind: Kind = "logistic"
        choice = "validation has one class only, so the simpler logistic regression is kept"
    elif gbm > lr + 0.005:
        kind = "lightgbm"
        choice = f"LightGBM validation AUC {gbm:.3f} beats the logistic regression's {lr:.3f}"
    else:
        kind = "logistic"
        choice = (f"the logistic regression's validation AUC {lr:.3f} is within 0.005 of (or above) LightGBM's "
                  f"{gbm:.3f}: the simpler model wins a tie")
    estimator = candidates[kind]
    calibrator = Calibrator.fit(estimator.raw(xv), yv)
    log.info("predict.fit kind=%s aucs=%s calibration=%s", kind, aucs, calibrator.method)
    return TrainedModel(kind, estimator, calibrator, choice, aucs)
