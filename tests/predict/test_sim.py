"""On a small simulated world: train through the CLI, beat every baseline, report the truth's own AUC, score."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import typer
from typer.testing import CliRunner

from longtail.cli.model import app as model_app
from longtail.predict.evaluate import metrics

runner = CliRunner()
app = typer.Typer()
app.add_typer(model_app, name="model")
TRAIN = ["model", "train", "--target", "churn", "--horizon", "60", "--from", "2025-03-05", "--to", "2026-01-07",
         "--every", "14d"]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    from longtail.cli.main import app as main_app
    from longtail.settings import init_workspace
    from longtail.sim import SimConfig, generate

    root = tmp_path_factory.mktemp("predict")
    generate(SimConfig(accounts=400, days=420, start=date(2025, 1, 1), seed=3, truth_every=7), root / "data",
             "parquet")
    ws = init_workspace(root / "ws")
    loaded = runner.invoke(main_app, ["load-dir", str(root / "data"), "--workspace", str(ws.root)])
    assert loaded.exit_code == 0, loaded.output
    trained = runner.invoke(app, [*TRAIN, "--workspace", str(ws.root)])
    assert trained.exit_code == 0, trained.output
    return ws.root, root / "data"


def test_model_beats_every_baseline(world: tuple[Path, Path]) -> None:
    ws, _ = world
    shown = runner.invoke(app, ["model", "evaluate", "--format", "json", "--workspace", str(ws)])
    assert shown.exit_code == 0, shown.output
    report = json.loads(shown.stdout)
    assert {"roc_auc", "pr_auc", "brier", "top_decile_lift", "n_observations", "positive_rate"} <= set(report)
    assert set(report["baselines"]) == {"health_score", "tenure", "recency", "logistic_raw"}
    for name, base in report["baselines"].items():
        assert report["roc_auc"] > base["roc_auc"], (name, report["roc_auc"], base["roc_auc"])
    assert report["brier"] <= report["uncalibrated"]["brier"] + 0.005
    print(f"model AUC {report['roc_auc']:.3f}; baselines "
          + ", ".join(f"{k} {v['roc_auc']:.3f}" for k, v in report["baselines"].items()))


def test_truth_auc_on_the_same_observations(world: tuple[Path, Path]) -> None:
    from longtail.predict.dataset import observation_grid
    from longtail.predict.labels import LabelSpec
    from longtail.predict.workspace import build
    from longtail.settings import open_workspace

    ws, data = world
    report = json.loads(runner.invoke(app, ["model", "evaluate", "--format", "json", "--workspace", str(ws)]).stdout)
    # Observation dates on the grid are truth days too (both start on a Wednesday, weekly truth).
    dates = observation_grid(date.fromisoformat(report["split"]["first_test"]), date(2026, 1, 7), 14)
    table, _ = build(open_workspace(ws), LabelSpec(horizon_days=60), dates, with_health=False)
    truth = pq.read_table(data / "truth" / "state.parquet", columns=["day", "account_id", "p_churn"]).to_pylist()
    p = {(r["account_id"], r["day"]): r["p_churn"] for r in truth}
    keys = list(zip(table.column("account_id").to_pylist(), table.column("as_of").to_pylist(), strict=True))
    known = [i for i, k in enumerate(keys) if k in p]
    y = table.column("label").to_numpy()[known].astype(np.int8)
    score = np.array([p[keys[i]] for i in known], dtype=np.float64)
    truth_auc = metrics(y, score)["roc_auc"]
    print(f"truth p_churn AUC {truth_auc} on {len(known)} test observations; model {report['roc_auc']:.3f}")
    assert len(known) == table.num_rows and truth_auc is not None and truth_auc > 0.55


def test_score_records_the_model_and_explains(world: tuple[Path, Path]) -> None:
    ws, _ = world
    out = runner.invoke(app, ["model", "score", "--as-of", "2026-02-20", "--format", "json", "--explain", "2",
                              "--workspace", str(ws)])
    assert out.exit_code == 0, out.output
    rows = json.loads(out.stdout)
    assert rows and all(0.0 <= r["churn_risk"] <= 1.0 and r["model_id"].startswith("m") for r in rows)
    assert all(len(r["reasons"]) <= 2 and all("risk)" in s for s in r["reasons"]) for r in rows)
    models = list((ws / ".longtail" / "models" / "churn").glob("m*/meta.json"))
    meta = json.loads(models[0].read_text())
    assert meta["model_id"] == rows[0]["model_id"] and meta["features"] and meta["definition_hash"]
    assert (models[0].parent / "charts" / "reliability.png").is_file()


def test_train_refuses_bad_options(world: tuple[Path, Path]) -> None:
    ws, _ = world
    out = runner.invoke(app, ["model", "train", "--target", "upsell", "--observe", "2025-06-01",
                              "--workspace", str(ws)])
    assert out.exit_code != 0 and "target" in out.output
