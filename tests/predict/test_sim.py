"""On a small simulated world: train through the CLI, beat every baseline, report the truth's own AUC, score, and
use the scores as features (health scorecards, segments, `longtail features`, `longtail check`).

One module-scoped world is generated, loaded and trained once; the checks that need the workspace *before* any
model exists run inside the fixture, before training, and their results are kept for the tests.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import ibis
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import typer
from typer.testing import CliRunner

from longtail.cli.model import app as model_app
from longtail.predict.evaluate import metrics

runner = CliRunner()
app = typer.Typer()
app.add_typer(model_app, name="model")
# 400 accounts on a 21-day grid: 15 observation dates (the feature history costs ~0.3 s of query compilation per
# date) and about 30 churns in the test block. 250 accounts gave about 25 until the simulator's monthly accounts
# stopped renewing on every billing day (2026-12-02); then only 17, too few for AUC comparisons 0.01 apart.
TRAIN = ["model", "train", "--target", "churn", "--horizon", "60", "--from", "2025-03-05", "--to", "2026-01-07",
         "--every", "21d"]
SCORE_DAY = "2026-02-20"
SEGMENTS = """\
version: 1
segments:
  - id: at_risk
    description: Accounts the churn model gives 2% or more
    when: "churn_risk >= 0.02"
"""


@dataclass(frozen=True)
class World:
    ws: Path
    data: Path
    check_before: str
    """`longtail check` output before any model was trained (the segment on churn_risk already exists)."""
    features_before: pa.Table


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    from longtail.analytics.features import features_as_of
    from longtail.cli.main import app as main_app
    from longtail.settings import init_workspace
    from longtail.sim import SimConfig, generate

    root = tmp_path_factory.mktemp("predict")
    generate(SimConfig(accounts=400, days=420, start=date(2025, 1, 1), seed=2, truth_every=7), root / "data",
             "parquet")
    ws = init_workspace(root / "ws")
    loaded = runner.invoke(main_app, ["load-dir", str(root / "data"), "--workspace", str(ws.root)])
    assert loaded.exit_code == 0, loaded.output
    (ws.root / "motion").mkdir(exist_ok=True)
    (ws.root / "motion" / "segments.yml").write_text(SEGMENTS, encoding="utf-8")
    checked = runner.invoke(main_app, ["check", "--workspace", str(ws.root)])
    assert checked.exit_code == 0, checked.output
    before = features_as_of(ws, date.fromisoformat(SCORE_DAY))
    trained = runner.invoke(app, [*TRAIN, "--workspace", str(ws.root)])
    assert trained.exit_code == 0, trained.output
    return World(ws.root, root / "data", checked.output, before)


def test_model_beats_every_baseline(world: World) -> None:
    shown = runner.invoke(app, ["model", "evaluate", "--format", "json", "--workspace", str(world.ws)])
    assert shown.exit_code == 0, shown.output
    report = json.loads(shown.stdout)
    assert {"roc_auc", "pr_auc", "brier", "top_decile_lift", "n_observations", "positive_rate"} <= set(report)
    assert set(report["baselines"]) == {"health_score", "tenure", "recency", "logistic_raw"}
    assert report["n_observations"] * report["positive_rate"] >= 15, "too few churns in the test block to compare"
    for name, base in report["baselines"].items():
        assert report["roc_auc"] > base["roc_auc"], (name, report["roc_auc"], base["roc_auc"])
    assert report["brier"] <= report["uncalibrated"]["brier"] + 0.005
    print(f"model AUC {report['roc_auc']:.3f}; baselines "
          + ", ".join(f"{k} {v['roc_auc']:.3f}" for k, v in report["baselines"].items()))


def test_truth_auc_on_the_same_observations(world: World) -> None:
    folder = next((world.ws / ".longtail" / "models" / "churn").glob("m*/test_predictions.parquet")).parent
    report = json.loads((folder / "meta.json").read_text())["metrics"]
    rows = pq.read_table(folder / "test_predictions.parquet").to_pylist()
    assert len(rows) == report["n_observations"]
    # The stored test rows reproduce the reported figure, so the truth is compared on exactly those observations.
    y = np.array([r["label"] for r in rows], dtype=np.int8)
    model_auc = metrics(y, np.array([r["probability"] for r in rows]))["roc_auc"]
    assert model_auc == pytest.approx(report["roc_auc"])
    # Observation dates on the grid are truth days too (both start on a Wednesday, weekly truth).
    truth = pq.read_table(world.data / "truth" / "state.parquet", columns=["day", "account_id", "p_churn"])
    p = {(r["account_id"], r["day"]): r["p_churn"] for r in truth.to_pylist()}
    assert all((r["account_id"], r["as_of"]) in p for r in rows)
    truth_auc = metrics(y, np.array([p[(r["account_id"], r["as_of"])] for r in rows]))["roc_auc"]
    print(f"truth p_churn AUC {truth_auc} on {len(rows)} test observations; model {model_auc:.3f}")
    assert truth_auc is not None and truth_auc > 0.55


def test_score_records_the_model_and_explains(world: World) -> None:
    out = runner.invoke(app, ["model", "score", "--as-of", SCORE_DAY, "--format", "json", "--explain", "2",
                              "--workspace", str(world.ws)])
    assert out.exit_code == 0, out.output
    rows = json.loads(out.stdout)
    assert rows and all(0.0 <= r["churn_risk"] <= 1.0 and r["model_id"].startswith("m") for r in rows)
    assert all(len(r["reasons"]) <= 2 and all("risk)" in s for s in r["reasons"]) for r in rows)
    models = list((world.ws / ".longtail" / "models" / "churn").glob("m*/meta.json"))
    meta = json.loads(models[0].read_text())
    assert meta["model_id"] == rows[0]["model_id"] and meta["features"] and meta["definition_hash"]
    assert not {"churn_risk", "churn_model_id", "expansion_propensity"} & set(meta["features"])
    assert (models[0].parent / "charts" / "reliability.png").is_file()


def test_before_training_the_scores_are_null_and_check_passes(world: World) -> None:
    before = world.features_before
    assert {"churn_risk", "churn_model_id", "expansion_propensity", "expansion_model_id"} <= set(before.column_names)
    for name in ("churn_risk", "churn_model_id", "expansion_propensity", "expansion_model_id"):
        assert before.column(name).null_count == before.num_rows, name
    assert world.check_before.startswith("ok:") and "1 segments" in world.check_before


def test_features_carry_the_current_models_score(world: World) -> None:
    from longtail.cli.main import app as main_app

    shown = runner.invoke(main_app, ["features", "--as-of", SCORE_DAY, "--format", "json",
                                     "--workspace", str(world.ws)])
    assert shown.exit_code == 0, shown.output
    rows = {r["account_id"]: r for r in json.loads(shown.stdout)}
    scored = json.loads(runner.invoke(app, ["model", "score", "--as-of", SCORE_DAY, "--format", "json",
                                            "--workspace", str(world.ws)]).stdout)
    assert scored
    for s in scored:  # the feature column is the same number `model score` gives, and names the same model
        row = rows[s["account_id"]]
        assert row["churn_risk"] == pytest.approx(s["churn_risk"]) and row["churn_model_id"] == s["model_id"]
    others = [r for r in rows.values() if r["is_customer"] != 1]
    assert others and all(r["churn_risk"] is None and r["churn_model_id"] is None for r in others)
    assert all(r["expansion_propensity"] is None for r in rows.values())  # no expansion model trained


def test_a_segment_and_a_scorecard_read_churn_risk(world: World) -> None:
    from longtail.analytics.features import features_as_of
    from longtail.analytics.motion_source import workspace_motion
    from longtail.core.expressions import to_ibis
    from longtail.core.health import load_scorecards, score_table
    from longtail.settings import open_workspace

    ws = open_workspace(world.ws)
    table = features_as_of(ws, date.fromisoformat(SCORE_DAY))
    condition = workspace_motion(ws).conditions["segment:at_risk"]
    view = ibis.memtable(table)
    members = set(ibis.duckdb.connect().to_pyarrow(view.filter(to_ibis(condition, view)).select("account_id"))
                  .column("account_id").to_pylist())
    risk = table.column("churn_risk")
    expected = set(table.filter(pc.fill_null(pc.greater_equal(risk, 0.02), False)).column("account_id").to_pylist())
    assert members == expected and 0 < len(members) < table.num_rows
    cards = load_scorecards(SCORECARD, "health.yml")
    customers = table.filter(pc.equal(table.column("is_customer"), 1))
    results = {r.account_id: r.score for r in score_table(customers, cards)}
    safest = min(customers.to_pylist(), key=lambda r: r["churn_risk"])
    riskiest = max(customers.to_pylist(), key=lambda r: r["churn_risk"])
    assert results[safest["account_id"]] > results[riskiest["account_id"]]


SCORECARD = """\
version: 1
scorecards:
  - name: model
    priority: 1
    bands: [{name: red, below: 40}, {name: green}]
    components:
      - metric: churn_risk
        transform: {type: linear, min: 0, max: 0.5}
        polarity: lower_is_better
        weight: 1
"""


def test_train_refuses_bad_options(world: World) -> None:
    out = runner.invoke(app, ["model", "train", "--target", "upsell", "--observe", "2025-06-01",
                              "--workspace", str(world.ws)])
    assert out.exit_code != 0 and "target" in out.output


def test_a_backtest_evaluates_conditions_on_model_scores_as_unknown(world: World) -> None:
    """Today's model did not exist on past days: a backtest sees churn_risk as NULL (so the at_risk segment is
    empty) rather than failing on the missing column or scoring the past in-sample."""
    from longtail.runner.backtest import backtest
    from longtail.settings import open_workspace

    report = backtest(open_workspace(world.ws), date(2025, 9, 1), date(2025, 9, 8), every=7)
    assert report["evaluations"] == 2 and report["health_bands"], report


def test_the_daily_run_stores_each_score_with_its_model_and_reasons_for_the_account_page(world: World) -> None:
    from datetime import timedelta

    from longtail.analytics.features import features_as_of
    from longtail.predict.score_store import read_account, stored_dates
    from longtail.runner.daily import run_day
    from longtail.settings import open_workspace
    from longtail.web.views.account import account_view

    ws = open_workspace(world.ws)
    day = date.fromisoformat(SCORE_DAY)
    run_day(ws, day, send=False)
    assert stored_dates(ws) == [day]
    rows = features_as_of(ws, day).to_pylist()
    scored = [r for r in rows if r["churn_risk"] is not None]
    unscored = [r for r in rows if r["churn_risk"] is None]
    assert scored and unscored  # former customers are not scored by a subscription model
    for row in scored[:5]:
        (stored,) = read_account(ws, day, row["account_id"])
        assert stored.target == "churn" and stored.as_of == day
        assert stored.score == pytest.approx(row["churn_risk"]) and stored.model_id == row["churn_model_id"]
        assert 1 <= len(stored.reasons) <= 3 and all("risk" in r for r in stored.reasons)
    assert read_account(ws, day, unscored[0]["account_id"]) == []
    later = read_account(ws, day + timedelta(days=3), scored[0]["account_id"])
    assert [s.as_of for s in later] == [day]  # the latest stored day on or before as_of
    assert read_account(ws, day - timedelta(days=1), scored[0]["account_id"]) == []
    view = account_view(ws, scored[0]["account_id"], day)
    assert view is not None and [m.score for m in view.models] == [pytest.approx(scored[0]["churn_risk"])]
