"""Versioned model folders: `<workspace>/.longtail/models/<target>/<model_id>/` with model.pkl and meta.json.

The model file is a pickle: load only models this workspace trained (the folder is the workspace's own state).
The latest trained model of a target is named in `<target>/CURRENT`.
"""

from __future__ import annotations

import hashlib
import json
import pickle
from dataclasses import asdict
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from longtail.errors import LongtailError
from longtail.settings import Workspace

if TYPE_CHECKING:
    # Only for annotations: importing the models pulls in LightGBM and scikit-learn, which `features_as_of`
    # must not pay for in a workspace that has no model (it asks `current_id` first).
    from longtail.predict.labels import LabelSpec
    from longtail.predict.models import TrainedModel

MODEL_FILE = "model.pkl"
META_FILE = "meta.json"
TEST_ROWS_FILE = "test_predictions.parquet"
"""The test block's observations with their labels and calibrated probabilities (written by train_workspace)."""


def models_dir(ws: Workspace, target: str) -> Path:
    return ws.state_dir / "models" / target


def definition_hash(spec: LabelSpec, features: list[str], feature_defs_hash: str) -> str:
    """What the model means: label definition, inputs and feature definitions (not the data)."""
    text = json.dumps({"spec": asdict(spec), "features": features, "defs": feature_defs_hash}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def model_id(definition: str, dates: list[date], data_end: date) -> str:
    """Deterministic: the same definition on the same window and data end gives the same id."""
    window = f"{min(dates)}:{max(dates)}:{data_end}"
    return f"m{max(dates):%Y%m%d}-{hashlib.sha256((definition + window).encode()).hexdigest()[:10]}"


def save(ws: Workspace, spec: LabelSpec, model: TrainedModel, meta: dict[str, Any]) -> Path:
    """Write the model folder and point CURRENT at it."""
    folder = models_dir(ws, spec.target) / str(meta["model_id"])
    folder.mkdir(parents=True, exist_ok=True)
    (folder / MODEL_FILE).write_bytes(pickle.dumps(model))
    (folder / META_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8")
    (models_dir(ws, spec.target) / "CURRENT").write_text(str(meta["model_id"]) + "\n", encoding="utf-8")
    return folder


def current_id(ws: Workspace, target: str) -> str | None:
    path = models_dir(ws, target) / "CURRENT"
    return path.read_text(encoding="utf-8").strip() if path.is_file() else None


def _folder(ws: Workspace, target: str, mid: str | None) -> Path:
    chosen = mid or current_id(ws, target)
    if chosen is None:
        raise LongtailError(f"no {target} model is trained in this workspace: run `longtail model train`")
    folder = models_dir(ws, target) / chosen
    if not (folder / META_FILE).is_file():
        raise LongtailError(f"model {chosen} not found under {models_dir(ws, target)}")
    return folder


def load_meta(ws: Workspace, target: str, mid: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = json.loads((_folder(ws, target, mid) / META_FILE).read_text(encoding="utf-8"))
    return meta


def load_model(ws: Workspace, target: str, mid: str | None = None) -> tuple[TrainedModel, dict[str, Any]]:
    from longtail.predict.models import TrainedModel

    folder = _folder(ws, target, mid)
    model = pickle.loads((folder / MODEL_FILE).read_bytes())  # the workspace's own model file (see module doc)
    if not isinstance(model, TrainedModel):
        raise LongtailError(f"{folder / MODEL_FILE} does not hold a trained model")
    meta: dict[str, Any] = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
    return model, meta
