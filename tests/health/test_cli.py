"""`score` and `health` through Typer, with features_as_of replaced by hand-made tables.

An end-to-end test against real features (longtail.analytics.features) is still to be added.
"""

from __future__ import annotations

import csv
import importlib
import io
import json
import sys
import types
from collections.abc import Callable
from datetime import date

import pyarrow as pa
import pytest
import typer
from typer.testing import CliRunner

from longtail.analytics import health_store
from longtail.cli.health import health, score
from longtail.settings import Workspace

app = typer.Typer()
app.command("score")(score)
app.command("health")(health)
runner = CliRunner()

Features = Callable[[Workspace, date], pa.Table]


def hand_features(ws: Workspace, as_of: date) -> pa.Table:
    """Two adopted customers, acc-bad worsening over time; acc-gone, a former customer (no usage, no revenue)."""
    age = (as_of - date(2026, 1, 1)).days
    return pa.table({
        "account_id": ["acc-good", "acc-bad", "acc-gone"],
        "as_of": [as_of, as_of, as_of],
        "tenure_days": [400.0, 500.0, 900.0],
        "milestones_reached": [5.0, 4.0, 3.0],
        "seat_utilisation": [0.8, max(0.05, 0.4 - age / 50), None],
        "active_users_7d": [12.0, max(0.0, 6.0 - age / 2), 0.0],
        "events_28d": [300.0, 40.0, 0.0],
        "events_prev_28d": [280.0, 150.0, 0.0],
        "feature_breadth_28d": [6.0, 2.0, 0.0],
        "days_since_last_activity": [0.0, 9.0, 200.0],
        "days_since_champion_active": [1.0, None, None],
        "tickets_high_priority_open": [0.0, 3.0, 0.0],
        "nps_latest": [10.0, float("nan"), 2.0],
        "is_customer": pa.array([1, 1, 0], pa.int64()),
    })


@pytest.fixture
def fake_features(monkeypatch: pytest.MonkeyPatch) -> Callable[[Features], None]:
    def install(fn: Features) -> None:
        try:
            module = importlib.import_module("longtail.analytics.features")
        except ModuleNotFoundError:
            module = types.ModuleType("longtail.analytics.features")
            monkeypatch.setitem(sys.modules, "longtail.analytics.features", module)
        monkeypatch.setattr(module, "features_as_of", fn, raising=False)
        # a history (--from/--to) reads its dates as one series; the fake gives each date's table the same way
        monkeypatch.setattr(module, "features_over", lambda ws, days: ((d, fn(ws, d)) for d in sorted(set(days))),
                            raising=False)

    install(hand_features)
    return install


@pytest.fixture
def ws_args(workspace: Workspace) -> list[str]:
    return ["--workspace", str(workspace.root)]


@pytest.mark.usefixtures("fake_features")
def test_score_one_day_csv(ws_args: list[str], workspace: Workspace) -> None:
    result = runner.invoke(app, ["score", "--as-of", "2026-01-11", "--format", "csv", *ws_args])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["account_id"] for r in rows] == ["acc-bad", "acc-good"]
    assert {r["account_id"]: r["band"] for r in rows} == {"acc-good": "green", "acc-bad": "red"}
    assert health_store.stored_dates(workspace) == [date(2026, 1, 11)]


@pytest.mark.usefixtures("fake_features")
def test_score_history_json_and_replay(ws_args: list[str], workspace: Workspace) -> None:
    args = ["score", "--from", "2026-01-01", "--to", "2026-01-15", "--every", "7d", "--format", "json", *ws_args]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert sorted({p["as_of"] for p in payload}) == ["2026-01-01", "2026-01-08", "2026-01-15"]
    assert set(payload[0]) == {"as_of", "account_id", "score", "band"}
    stored = health_store.day_file(workspace, date(2026, 1, 15)).read_bytes()
    again = runner.invoke(app, ["score", "--as-of", "2026-01-15", *ws_args])
    assert again.exit_code == 0, again.output
    assert health_store.day_file(workspace, date(2026, 1, 15)).read_bytes() == stored
    assert "acc-good" in again.stdout and "green" in again.stdout


@pytest.mark.usefixtures("fake_features")
def test_health_text_and_json(ws_args: list[str]) -> None:
    runner.invoke(app, ["score", "--as-of", "2026-01-04", *ws_args])
    text = runner.invoke(app, ["health", "acc-bad", "--as-of", "2026-01-11", *ws_args])
    assert text.exit_code == 0, text.output
    assert "acc-bad on 2026-01-11: 37.8, yellow (score alone says red; red pending since 2026-01-11)" in text.stdout
    assert "Product events in the last 28 days fell from 150 to 40" in text.stdout
    assert "path to green" in text.stdout
    as_json = runner.invoke(app, ["health", "acc-bad", "--as-of", "2026-01-11", "--format", "json", *ws_args])
    data = json.loads(as_json.stdout)
    # 2.2 points under red's edge, less than the margin of 5: yellow holds, red is pending
    assert (data["band"], data["raw_band"], data["pending_band"]) == ("yellow", "red", "red")
    assert data["reasons"] and data["path_to_green"]
    assert data["change_7d"] is not None and data["change_7d"] < 0 and data["change_30d"] is None
    assert data["scorecard"] == "adopted" and len(data["scorecard_hash"]) == 64
    assert {c["metric"] for c in data["components"]} >= {"seat_utilisation", "active_users_7d"}


@pytest.mark.usefixtures("fake_features")
def test_unknown_account_exits_2(ws_args: list[str]) -> None:
    result = runner.invoke(app, ["health", "nobody", "--as-of", "2026-01-11", *ws_args])
    assert result.exit_code == 2
    assert "no account 'nobody'" in result.output


@pytest.mark.usefixtures("fake_features")
@pytest.mark.parametrize(("args", "message"), [
    (["score"], "give --as-of DATE"),
    (["score", "--as-of", "2026-13-01"], "--as-of must be a date"),
    (["score", "--as-of", "2026-01-01", "--from", "2026-01-01"], "not both"),
    (["score", "--from", "2026-01-05", "--to", "2026-01-01"], "must not be before"),
    (["score", "--from", "2026-01-01", "--to", "2026-01-05", "--every", "weekly"], "--every must look like"),
    (["score", "--as-of", "2026-01-01", "--format", "xml"], "--format must be"),
])
def test_usage_errors_exit_2(ws_args: list[str], args: list[str], message: str) -> None:
    result = runner.invoke(app, [*args, *ws_args])
    assert result.exit_code == 2
    assert message in result.output


@pytest.mark.usefixtures("fake_features")
def test_workspace_scorecards_are_used_and_errors_name_the_line(ws_args: list[str], workspace: Workspace) -> None:
    health_yml = workspace.root / "motion" / "health.yml"
    health_yml.write_text("scorecards:\n  - name: all\n    priority: 1\n    components:\n"
                          "      - metric: active_users_7d\n        transform: {type: linear, min: 0, max: 10}\n",
                          encoding="utf-8")
    result = runner.invoke(app, ["score", "--as-of", "2026-01-02", "--format", "json", *ws_args])
    assert result.exit_code == 0, result.output
    assert {p["account_id"]: p["score"] for p in json.loads(result.stdout)} == {"acc-good": 100, "acc-bad": 55}
    health_yml.write_text(health_yml.read_text(encoding="utf-8").replace("max: 10", "max: 10, maxx: 3"),
                          encoding="utf-8")
    broken = runner.invoke(app, ["score", "--as-of", "2026-01-02", *ws_args])
    assert broken.exit_code == 2
    assert f"{health_yml}:6: scorecards[0].components[0].transform.maxx" in broken.output.replace("\n", "")


@pytest.mark.usefixtures("fake_features")
def test_former_customers_are_not_scored(ws_args: list[str], workspace: Workspace) -> None:
    result = runner.invoke(app, ["score", "--as-of", "2026-01-11", "--format", "csv", *ws_args])
    assert result.exit_code == 0, result.output
    assert "acc-gone" not in result.stdout
    assert "scored 2 accounts" in result.output
    stored = health_store.read_scores(workspace, date(2026, 1, 11))
    assert set(stored) == {"acc-good", "acc-bad"}


@pytest.mark.usefixtures("fake_features")
def test_health_of_a_former_customer_exits_2(ws_args: list[str], workspace: Workspace) -> None:
    result = runner.invoke(app, ["health", "acc-gone", "--as-of", "2025-12-31", *ws_args])
    assert result.exit_code == 2
    assert "acc-gone was not a customer on 2025-12-31 (no active subscription)" in result.output.replace("\n", "")
    assert health_store.stored_dates(workspace) == [], "a refused request stores nothing"


def test_features_without_is_customer_fail(ws_args: list[str], fake_features: Callable[[Features], None]) -> None:
    fake_features(lambda ws, day: hand_features(ws, day).drop_columns(["is_customer"]))
    result = runner.invoke(app, ["score", "--as-of", "2026-01-02", *ws_args])
    assert result.exit_code == 1
    assert "no is_customer column" in result.output


def test_duplicate_accounts_in_features_fail(ws_args: list[str], fake_features: Callable[[Features], None]) -> None:
    fake_features(lambda ws, day: pa.table({"account_id": ["a", "a"], "as_of": [day, day]}))
    result = runner.invoke(app, ["score", "--as-of", "2026-01-02", *ws_args])
    assert result.exit_code == 1
    assert "more than one row" in result.output


@pytest.mark.usefixtures("fake_features")
def test_score_history_is_printed_day_by_day(ws_args: list[str]) -> None:
    base = ["score", "--from", "2026-01-01", "--to", "2026-01-15", "--every", "7d", *ws_args]
    as_csv = runner.invoke(app, [*base, "--format", "csv"])
    assert as_csv.exit_code == 0, as_csv.output
    lines = as_csv.stdout.splitlines()
    assert lines[0] == "as_of,account_id,score,band" and lines.count(lines[0]) == 1  # one header for every day
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert [(r["as_of"], r["account_id"]) for r in rows] == [
        (d, a) for d in ("2026-01-01", "2026-01-08", "2026-01-15") for a in ("acc-bad", "acc-good")]
    as_text = runner.invoke(app, base)
    assert as_text.exit_code == 0, as_text.output
    body = [line for line in as_text.stdout.splitlines() if line.startswith("2026-01-")]
    assert len(body) == 6 and as_text.stdout.count("account_id") == 3  # a heading per day, printed as scored
