"""Evaluation on the held-out (latest) block: discrimination, calibration, lift and baselines (no I/O but charts).

Baselines are fitted on the same training block and scored on the same test block as the model: the health
score alone, tenure alone, recency alone (days since last activity) and a logistic regression on the raw
features (no log, no scaling beyond what the solver needs). Single-column baselines are one-feature logistic
regressions, so their direction is learnt and their Brier score is comparable.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.calibration import calibration_curve  # type: ignore[import-untyped]
from sklearn.impute import SimpleImputer  # type: ignore[import-untyped]
from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]
from sklearn.metrics import average_precision_score, brier_score_loss  # type: ignore[import-untyped]
from sklearn.pipeline import make_pipeline  # type: ignore[import-untyped]
from sklearn.preprocessing import StandardScaler  # type: ignore[import-untyped]

from longtail.predict.models import F64, safe_auc

I8 = npt.NDArray[np.int8]
BASELINES: dict[str, tuple[str, ...]] = {
    "health_score": ("health_score",),
    "tenure": ("tenure_days",),
    "recency": ("days_since_last_activity",),
}


def top_decile_lift(y: I8, score: F64) -> float | None:
    """Positive rate among the 10% highest scores divided by the overall positive rate."""
    if len(y) == 0 or y.sum() == 0:
        return None
    k = max(1, math.ceil(len(y) * 0.1))
    top = np.argsort(-score, kind="stable")[:k]
    return float(y[top].mean() / y.mean())


def metrics(y: I8, p: F64) -> dict[str, float | int | None]:
    """roc_auc, pr_auc, brier, top_decile_lift, n_observations, positive_rate for probabilities `p`."""
    two = len(np.unique(y)) == 2
    return {
        "roc_auc": safe_auc(y, p),
        "pr_auc": float(average_precision_score(y, p)) if two else None,
        "brier": float(brier_score_loss(y, p)) if len(y) else None,
        "top_decile_lift": top_decile_lift(y, p),
        "n_observations": len(y),
        "positive_rate": float(y.mean()) if len(y) else None,
    }


def reliability(y: I8, p: F64, bins: int = 10) -> dict[str, list[float]]:
    """Mean predicted vs observed rate per quantile bin of the prediction."""
    if len(np.unique(y)) < 2:
        return {"predicted": [], "observed": []}
    observed, predicted = calibration_curve(y, p, n_bins=bins, strategy="quantile")
    return {"predicted": [float(v) for v in predicted], "observed": [float(v) for v in observed]}


def baseline_probabilities(train: F64, y_train: I8, test: F64) -> F64 | None:
    """A logistic regression on the given columns (median-imputed, scaled): None if it cannot be fitted."""
    usable = ~np.all(np.isnan(train), axis=0)
    if not usable.any() or len(np.unique(y_train)) < 2:
        return None
    pipe = make_pipeline(SimpleImputer(strategy="median"), StandardScaler(), LogisticRegression(max_iter=2000))
    pipe.fit(train[:, usable], y_train)
    return np.asarray(pipe.predict_proba(test[:, usable])[:, 1], dtype=np.float64)


def baselines(names: Sequence[str], train: tuple[F64, I8], test: tuple[F64, I8],
              raw_columns: Sequence[int]) -> dict[str, dict[str, Any]]:
    """The figures of each baseline on the test block (a baseline whose column is absent reports why)."""
    (x_train, y_train), (x_test, y_test) = train, test
    out: dict[str, dict[str, Any]] = {}
    for baseline, wanted in BASELINES.items():
        idx = [names.index(c) for c in wanted if c in names]
        p = baseline_probabilities(x_train[:, idx], y_train, x_test[:, idx]) if idx else None
        missing = {"unavailable": f"no usable {', '.join(wanted)} column"}
        out[baseline] = metrics(y_test, p) if p is not None else missing
    p = baseline_probabilities(x_train[:, list(raw_columns)], y_train, x_test[:, list(raw_columns)])
    out["logistic_raw"] = metrics(y_test, p) if p is not None else {"unavailable": "no usable raw feature"}
    return out


def rate_by_decile(values: F64, y: I8) -> list[dict[str, float | int]]:
    """The positive rate per decile of one feature (the behavioural cohorts of *Fighting Churn With Data*).

    Ties can merge deciles (many accounts with 0 events), so there may be fewer than 10 cohorts; missing
    values form no cohort.
    """
    keep = ~np.isnan(values)
    v, t = values[keep], y[keep]
    if len(v) == 0:
        return []
    edges = np.unique(np.quantile(v, np.linspace(0, 1, 11)))
    bucket = np.clip(np.searchsorted(edges, v, side="right") - 1, 0, max(len(edges) - 2, 0))
    out: list[dict[str, float | int]] = []
    for b in np.unique(bucket):
        mask = bucket == b
        out.append({"low": float(v[mask].min()), "high": float(v[mask].max()), "n": int(mask.sum()),
                    "rate": float(t[mask].mean())})
    return out


def charts(folder: Path, report: Mapping[str, Any], cohorts: Mapping[str, list[dict[str, float | int]]]) -> list[str]:
    """Reliability curve, metric comparison against baselines and one cohort chart per important feature (PNG)."""
    import matplotlib

    matplotlib.use("Agg")  # headless: no display on servers or in CI
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    written: list[str] = []
    curve = report["reliability"]
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfect")
    ax.plot(curve["predicted"], curve["observed"], marker="o", label="model (test block)")
    ax.set(xlabel="predicted probability", ylabel="observed rate", title="Reliability")
    ax.legend()
    fig.savefig(folder / "reliability.png", dpi=80)
    plt.close(fig)
    written.append("reliability.png")
    fig, axes = plt.subplots(1, 3, figsize=(12, 4))
    rows = {"model": report["test"], **{k: v for k, v in report["baselines"].items() if "roc_auc" in v}}
    for ax, metric in zip(axes, ("roc_auc", "pr_auc", "top_decile_lift"), strict=True):
        ax.bar(list(rows), [rows[r][metric] or 0.0 for r in rows])
        ax.set_title(metric)
        ax.tick_params(axis="x", rotation=45)
    fig.tight_layout()
    fig.savefig(folder / "baselines.png", dpi=80)
    plt.close(fig)
    written.append("baselines.png")
    for name, table in cohorts.items():
        fig, ax = plt.subplots(figsize=(6, 4))
        ax.bar(range(len(table)), [row["rate"] for row in table])
        ax.set_xticks(range(len(table)), [f"{row['low']:.3g}" for row in table], rotation=45)
        ax.set(xlabel=f"{name} (cohort lower bound)", ylabel="positive rate", title=f"Rate by decile of {name}")
        fig.tight_layout()
        fig.savefig(folder / f"cohort_{name}.png", dpi=80)
        plt.close(fig)
        written.append(f"cohort_{name}.png")
    return written
