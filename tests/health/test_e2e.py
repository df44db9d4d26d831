"""End to end on a small simulated workspace: sim -> load-dir -> real features -> score -> health.

Runs against whatever longtail.analytics.features currently computes (it is developed alongside);
skipped when that module cannot be imported.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import date
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from longtail.analytics import health_store
from longtail.cli.health import health, score
from longtail.settings import open_workspace

pytest.importorskip("longtail.analytics.features")

app = typer.Typer()
app.command("score")(score)
app.command("health")(health)
runner = CliRunner()


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from longtail.cli.main import app as main_app
    from longtail.settings import init_workspace
    from longtail.sim import SimConfig, generate

    root = tmp_path_factory.mktemp("e2e")
    generate(SimConfig(accounts=60, days=120, start=date(2025, 6, 1), seed=5), root / "data", "csv")
    ws = init_workspace(root / "ws")
    result = runner.invoke(main_app, ["load-dir", str(root / "data"), "--workspace", str(ws.root)])
    assert result.exit_code == 0, result.output
    return ws.root


def test_score_history_and_health_on_real_features(loaded: Path) -> None:
    args = ["--workspace", str(loaded)]
    result = runner.invoke(app, ["score", "--from", "2025-09-01", "--to", "2025-09-21", "--every", "10d",
                                 "--format", "csv", *args])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert {r["as_of"] for r in rows} == {"2025-09-01", "2025-09-11", "2025-09-21"}
    assert all(0 <= float(r["score"]) <= 100 for r in rows)
    account = rows[-1]["account_id"]
    shown = runner.invoke(app, ["health", account, "--as-of", "2025-09-21", "--format", "json", *args])
    assert shown.exit_code == 0, shown.output
    data = json.loads(shown.stdout)
    assert data["account_id"] == account and data["change_7d"] is None and data["change_30d"] is None
    assert data["band"] != "red" or data["reasons"]
    assert health_store.stored_dates(open_workspace(loaded)) == [date(2025, 9, 1), date(2025, 9, 11),
                                                                  date(2025, 9, 21)]


def test_only_customers_are_scored_on_real_features(loaded: Path) -> None:
    from longtail.analytics.features import features_as_of

    day = date(2025, 9, 21)
    features = features_as_of(open_workspace(loaded), day)
    flags = dict(zip(features.column("account_id").to_pylist(), features.column("is_customer").to_pylist(),
                     strict=True))
    former = sorted(a for a, flag in flags.items() if flag == 0)
    assert former, "the simulated world should have former customers by then"
    args = ["--workspace", str(loaded)]
    result = runner.invoke(app, ["score", "--as-of", day.isoformat(), "--format", "csv", *args])
    assert result.exit_code == 0, result.output
    scored = {r["account_id"] for r in csv.DictReader(io.StringIO(result.stdout))}
    assert scored == {a for a, flag in flags.items() if flag == 1}
    refused = runner.invoke(app, ["health", former[0], "--as-of", day.isoformat(), *args])
    assert refused.exit_code == 2
    assert f"{former[0]} was not a customer on {day} (no active subscription)" in refused.output.replace("\n", "")
