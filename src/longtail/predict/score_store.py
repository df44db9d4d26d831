"""Stored model scores: what the churn and expansion models said about each account on each day the motion ran.

`longtail run` (and the closed loop) computes churn_risk and expansion_propensity as features every day; this
store keeps them with the id of the model that produced them and its top reasons, one Parquet file per day under
`.longtail/model_scores/as_of=YYYY-MM-DD/scores.parquet`, sorted by account in small row groups so the account
page reads one account without decoding the day. A day with no trained model writes no file.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from longtail.predict import store
from longtail.predict.scoring import OUTPUTS, scored_rows
from longtail.settings import Workspace

if TYPE_CHECKING:
    from longtail.predict.models import TrainedModel

FILE_NAME = "scores.parquet"
PREFIX = "as_of="
ROW_GROUP_ROWS = 4096
TOP_REASONS = 3
SCHEMA = pa.schema([("account_id", pa.string()), ("target", pa.string()), ("score", pa.float64()),
                    ("model_id", pa.string()), ("reasons", pa.list_(pa.string()))])
NOUNS = {"churn": "risk", "expansion": "propensity"}


@dataclass(frozen=True)
class StoredScore:
    """One model's score of one account on one day, with the reasons it gives (largest push first)."""

    target: str
    score: float
    model_id: str
    reasons: tuple[str, ...]
    as_of: date


def folder(ws: Workspace) -> Path:
    return ws.state_dir / "model_scores"


def day_file(ws: Workspace, day: date) -> Path:
    return folder(ws) / f"{PREFIX}{day.isoformat()}" / FILE_NAME


def stored_dates(ws: Workspace) -> list[date]:
    """Days with stored scores, oldest first."""
    root = folder(ws)
    if not root.is_dir():
        return []
    days = []
    for entry in root.iterdir():
        if entry.name.startswith(PREFIX) and (entry / FILE_NAME).is_file():
            try:
                days.append(date.fromisoformat(entry.name.removeprefix(PREFIX)))
            except ValueError:
                continue  # a folder someone else made: not ours to read
    return sorted(days)


def score_rows(ws: Workspace, features: pa.Table, top: int = TOP_REASONS) -> pa.Table:
    """Every current model's scores of the rows of `features` it may score, with the model id and `top` reasons.

    The same rows, inputs and model as the score columns `features_as_of` adds, so the stored score is the one
    the motion's conditions saw that day.
    """
    parts = []
    for target in OUTPUTS:
        if store.current_id(ws, target) is None:
            continue
        model, meta = store.load_model(ws, target)
        parts.append(_explained(model, _with_attributes(ws, features, model), model_id=str(meta["model_id"]),
                                target=target, top=top, label=str(meta["label"])))
    return pa.concat_tables(parts) if parts else SCHEMA.empty_table()


def _with_attributes(ws: Workspace, features: pa.Table, model: TrainedModel) -> pa.Table:
    """`features` plus the categorical account columns the model reads and the table lacks (from the snapshot)."""
    wanted = [c for c in model.columns.categorical if c not in features.column_names]
    path = ws.tables_dir / "accounts.parquet"
    if not wanted or not path.is_file():
        return features
    present = [c for c in wanted if c in pq.read_schema(path).names]
    attributes = pq.read_table(path, columns=["account_id", *present])
    index = {a: i for i, a in enumerate(attributes.column("account_id").to_pylist())}
    rows = pa.array([index.get(a) for a in features.column("account_id").to_pylist()], pa.int64())
    for name in present:
        features = features.append_column(name, attributes.column(name).take(rows))
    return features


def _explained(model: TrainedModel, features: pa.Table, *, model_id: str, target: str, top: int,
               label: str) -> pa.Table:
    from longtail.predict.explain import reasons
    from longtail.predict.models import matrix

    kept = features.filter(scored_rows(features, label))
    x = matrix(kept, model.columns)
    scores = model.predict(x) if len(x) else np.zeros(0)
    contrib = model.estimator.contributions(x) if len(x) else np.zeros((0, 0))
    noun = NOUNS[target]
    said = [[r.sentence for r in reasons(x[i], contrib[i], model.columns, top=top, noun=noun)] for i in range(len(x))]
    n = kept.num_rows
    return pa.table({"account_id": kept.column("account_id"), "target": pa.array([target] * n, pa.string()),
                     "score": pa.array(scores, pa.float64()), "model_id": pa.array([model_id] * n, pa.string()),
                     "reasons": pa.array(said, pa.list_(pa.string()))}, schema=SCHEMA)


def write_day(ws: Workspace, day: date, table: pa.Table) -> Path | None:
    """Replace the day's stored scores (atomically); nothing is written for an empty table."""
    if table.num_rows == 0:
        return None
    target = day_file(ws, day)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".scores-", suffix=".parquet.tmp", dir=target.parent)
    os.close(fd)
    try:
        pq.write_table(table.cast(SCHEMA).sort_by([("account_id", "ascending"), ("target", "ascending")]), tmp,
                       row_group_size=ROW_GROUP_ROWS)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def read_account(ws: Workspace, as_of: date, account_id: str) -> list[StoredScore]:
    """The account's scores from the latest stored day on or before `as_of` (one per model that scored it)."""
    days = [d for d in stored_dates(ws) if d <= as_of]
    if not days:
        return []
    table = pq.read_table(day_file(ws, days[-1]), filters=[("account_id", "==", account_id)])
    table = table.filter(pc.equal(table.column("account_id"), account_id))
    return [StoredScore(str(r["target"]), float(r["score"]), str(r["model_id"]), tuple(r["reasons"] or ()), days[-1])
            for r in table.sort_by("target").to_pylist()]


__all__ = ["SCHEMA", "StoredScore", "day_file", "read_account", "score_rows", "stored_dates", "write_day"]
