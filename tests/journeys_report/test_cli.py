"""`longtail report journeys` on the simulated workspace after a few days of `run`."""

from __future__ import annotations

import json
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from longtail.cli.report import report_app
from longtail.runner.daily import open_store, run_day
from longtail.settings import Workspace, open_workspace
from tests.motion_run.test_run import DAY, source  # noqa: F401  (the module-scoped simulated workspace)

app = typer.Typer()
app.add_typer(report_app, name="report")


@pytest.fixture
def ws(source: Path, tmp_path: Path) -> Workspace:  # noqa: F811
    shutil.copytree(source / "ws", tmp_path / "ws")
    return open_workspace(tmp_path / "ws")


def test_report_journeys_json_and_text(ws: Workspace) -> None:
    store = open_store(ws)
    for i in range(4):
        run_day(ws, DAY + timedelta(days=i), store=store)
    as_of = (DAY + timedelta(days=3)).isoformat()
    result = CliRunner().invoke(app, ["report", "journeys", "--as-of", as_of, "--format", "json", "-w", str(ws.root)])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    journeys = {j["journey_id"]: j for j in data["journeys"]}
    assert journeys, "the example workspace defines journeys"
    entered = sum(j["entered"] for j in journeys.values())
    assert entered > 0
    for j in journeys.values():
        assert j["treated_enrollments"] + j["holdout_enrollments"] == j["entered"]
        assert all(step["reached"] <= j["entered"] for step in j["funnel"])
        if j["lift"] is not None:
            assert j["lift"]["treated"] + j["lift"]["holdout"] <= j["accounts"]
    before = CliRunner().invoke(app, ["report", "journeys", "--as-of", (DAY - timedelta(days=1)).isoformat(),
                                      "--format", "json", "-w", str(ws.root)])
    assert sum(j["entered"] for j in json.loads(before.output)["journeys"]) == 0  # nothing before the first run
    text = CliRunner().invoke(app, ["report", "journeys", "--as-of", as_of, "-w", str(ws.root)])
    assert text.exit_code == 0, text.output
    assert "entered" in text.output and "step" in text.output, text.output
    bad = CliRunner().invoke(app, ["report", "journeys", "--format", "xml", "-w", str(ws.root)])
    assert bad.exit_code != 0
