"""Benchmark: training a churn model on 1M observations and scoring 1M accounts, against floors.

    .venv/bin/python benchmarks/bench_models.py            # 1M observations, 1M accounts, 30 features
    .venv/bin/python benchmarks/bench_models.py --quick    # 100k

The data is synthetic (a known logistic signal on 30 heavy-tailed and normal columns, 12 weekly
observation dates, 5% missing values, one 5-level category), so only the modelling is timed:

    train floor  sklearn LogisticRegression fit on the same matrix (what any churn model costs at least)
    train        longtail.predict.models.fit_models: LightGBM + regularised logistic regression, selection on
                 validation, cross-fitted calibration
    score floor  numpy matrix-vector product on the same matrix
    score        TrainedModel.predict (raw score + calibration)

`ratio` = step seconds / floor seconds. Timings are never asserted; the script exits 1 only when the
model is wrong (test AUC below 0.7 on data whose true AUC is far higher).
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date, timedelta

import numpy as np
from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]

from longtail.predict.dataset import time_split
from longtail.predict.evaluate import metrics
from longtail.predict.models import Columns, fit_models


def data(n: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray, list[date], Columns]:
    rng = np.random.default_rng(seed)
    heavy = rng.exponential(10, (n, 15))
    normal = rng.normal(0, 1, (n, 14))
    cat = rng.integers(0, 5, n).astype(np.float64)
    x = np.column_stack([heavy, normal, cat])
    logit = -2.5 - 0.05 * heavy[:, 0] + 0.8 * normal[:, 0] - 0.5 * normal[:, 1] + 0.6 * (cat == 3)
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.int8)
    x[:, :29][rng.random((n, 29)) < 0.05] = np.nan
    start = date(2025, 1, 1)
    dates = [start + timedelta(days=7 * int(i)) for i in (np.arange(n) * 12 // n)]
    names = tuple(f"h{i}" for i in range(15)) + tuple(f"n{i}" for i in range(14))
    return x, y, dates, Columns(names, {"plan": tuple("abcde")})


def timed(label: str, fn: object) -> tuple[float, object]:
    began, cpu = time.perf_counter(), time.process_time()
    out = fn()  # type: ignore[operator]
    wall = time.perf_counter() - began
    print(f"{label:12} {wall:8.2f} s wall {time.process_time() - cpu:8.2f} s cpu", flush=True)
    return wall, out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--rows", type=int, default=None)
    args = ap.parse_args()
    n = args.rows or (100_000 if args.quick else 1_000_000)
    x, y, dates, cols = data(n)
    split = time_split(dates, dates)
    filled = np.nan_to_num(x)
    print(f"{n:,} observations x {x.shape[1]} features, positive rate {y.mean():.3f}")
    floor, _ = timed("train floor", lambda: LogisticRegression(max_iter=200).fit(filled[split.train], y[split.train]))
    train, model = timed("train", lambda: fit_models(x, y, split, cols))
    w = np.random.default_rng(2).normal(size=x.shape[1])
    sfloor, _ = timed("score floor", lambda: filled @ w)
    score, p = timed("score", lambda: model.predict(x))  # type: ignore[attr-defined]
    print(f"ratio train {train / floor:.1f}x, score {score / sfloor:.1f}x; model {model.kind}")  # type: ignore[attr-defined]
    auc = metrics(y[split.test], np.asarray(p)[split.test])["roc_auc"]
    print(f"test AUC {auc:.3f}")
    return 0 if auc is not None and auc > 0.7 else 1


if __name__ == "__main__":
    sys.exit(main())
