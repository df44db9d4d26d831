"""End to end through `longtail run` and `longtail plan` on a small simulated workspace: a playbook sets an
attribute, the store keeps it once, plan writes nothing and agrees with run, and a trigger and a segment on the
attribute see it the next day (not the same day)."""

from __future__ import annotations

import json
import shutil
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from longtail.cli.main import app
from longtail.settings import Workspace, init_workspace, open_workspace
from longtail.sim import SimConfig, generate
from longtail.store.db import make_engine
from longtail.store.motion_attributes import MotionAttributeStore

START = date(2025, 1, 1)
DAY = date(2025, 3, 20)
NEXT = DAY + timedelta(days=1)
runner = CliRunner()

MOTION = """\
triggers:
  - {id: every_customer, kind: condition, mode: level, when: "health_score >= 0"}
  - {id: became_flagged, kind: condition, when: "motion_review = 'flagged'"}
segments:
  - {id: flagged, when: "motion_review = 'flagged'"}
playbooks:
  - id: flag_everyone
    objective: Mark every customer for review
    trigger: every_customer
    steps: [{type: set_attribute, name: review, value: flagged}]
  - id: follow_up
    objective: Follow up on flagged accounts
    trigger: became_flagged
    audience: [flagged]
    steps: [{type: set_attribute, name: followed_up, value: true}]
"""


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("motion-attributes")
    generate(SimConfig(accounts=30, days=90, start=START, seed=3), root / "data", "parquet")
    ws = init_workspace(root / "ws")
    (ws.root / "motion" / "review.yml").write_text(MOTION, encoding="utf-8")
    result = runner.invoke(app, ["load-dir", str(root / "data"), "--workspace", str(ws.root)])
    assert result.exit_code == 0, result.output
    return root


@pytest.fixture
def ws(source: Path, tmp_path: Path) -> Workspace:
    shutil.copytree(source / "ws", tmp_path / "ws")
    return open_workspace(tmp_path / "ws")


def cli(ws: Workspace, *args: str) -> Any:
    result = runner.invoke(app, [*args, "-w", str(ws.root), "--format", "json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def attribute_steps(plan: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return [s for s in plan["steps"] if s["type"] == "set_attribute" and s["name"] == name]


def test_run_stores_once_plan_writes_nothing_and_the_next_day_sees_it(ws: Workspace) -> None:
    store = MotionAttributeStore(make_engine(ws.database_url))
    planned = cli(ws, "plan", "--as-of", DAY.isoformat())
    assert store.history() == [], "plan writes nothing"
    flagged = attribute_steps(planned, "review")
    assert flagged and all(s["outcome"] == "set" and s["visible_from"] == NEXT.isoformat() for s in flagged)
    assert planned["counts"]["attributes_set"] == len(flagged)

    (ran,) = cli(ws, "run", "--as-of", DAY.isoformat())
    assert ran["steps"] == planned["steps"] and ran["counts"]["attributes_set"] == len(flagged)
    rows = store.history()
    assert sorted(r.account_id for r in rows) == sorted(s["account_id"] for s in flagged)
    row = rows[0]
    assert (row.name, row.value, row.value_type, row.valid_from, row.run_day, row.playbook_id) == (
        "review", "flagged", "string", NEXT, DAY, "flag_everyone")
    assert row.reason == "playbook flag_everyone on trigger every_customer" and len(row.definition_hash) == 64
    # Same day: the value is not visible yet, so nothing reads it (no follow-up, nobody in the segment).
    assert attribute_steps(ran, "followed_up") == [] and "flagged" not in ran["segments"]["entered"]

    (again,) = cli(ws, "run", "--as-of", DAY.isoformat())
    assert again["counts"]["attributes_set"] == 0 and len(store.history()) == len(rows)
    assert {s["outcome"] for s in attribute_steps(again, "review")} == {
        f"already set by an earlier run of {DAY.isoformat()} (to 'flagged'); a day is written once"}

    (nxt,) = cli(ws, "run", "--as-of", NEXT.isoformat())
    follow = attribute_steps(nxt, "followed_up")
    assert sorted(s["account_id"] for s in follow) == sorted(r.account_id for r in rows), \
        "the trigger on motion_review fired the next day for every flagged account"
    assert sorted(nxt["segments"]["entered"]["flagged"]) == sorted(r.account_id for r in rows)
    assert all(s["outcome"].startswith("unchanged: 'flagged' since") for s in attribute_steps(nxt, "review"))
    stored = store.as_of(NEXT + timedelta(days=1), {"followed_up", "review"})
    assert {v.value for (_, n), v in stored.items() if n == "followed_up"} == {True}


def test_a_later_load_does_not_erase_what_the_motion_set(ws: Workspace, source: Path) -> None:
    cli(ws, "run", "--as-of", DAY.isoformat())
    before = MotionAttributeStore(make_engine(ws.database_url)).history()
    result = runner.invoke(app, ["load-dir", str(source / "data"), "--workspace", str(ws.root)])
    assert result.exit_code == 0, result.output
    (nxt,) = cli(ws, "run", "--as-of", NEXT.isoformat())
    after = MotionAttributeStore(make_engine(ws.database_url)).history()
    assert before and set(before) <= set(after), "the load kept every value the motion set"
    assert sorted(nxt["segments"]["entered"]["flagged"]) == sorted(r.account_id for r in before)


def test_check_knows_the_column_and_names_a_collision(ws: Workspace) -> None:
    ok = runner.invoke(app, ["check", "-w", str(ws.root)])
    assert ok.exit_code == 0, ok.output
    (ws.root / "motion" / "attrs.yml").write_text("account_attributes: [motion_review]\n", encoding="utf-8")
    clash = runner.invoke(app, ["check", "-w", str(ws.root)])
    assert clash.exit_code == 2
    assert "review.yml" in clash.output and "'motion_review' is already a feature or a listed account attribute" \
        in clash.output
    (ws.root / "motion" / "attrs.yml").write_text(
        "playbooks:\n  - id: bad\n    objective: x\n    trigger: every_customer\n"
        "    steps: [{type: set_attribute, name: note, value: \"" + "x" * 5000 + "\"}]\n", encoding="utf-8")
    long = runner.invoke(app, ["run", "--as-of", DAY.isoformat(), "-w", str(ws.root)])
    assert long.exit_code == 2 and "attrs.yml:5: playbooks[0].steps[0].value" in long.output
    assert "at most 1000 characters" in long.output


def test_a_backtest_reads_the_columns_as_unknown(ws: Workspace) -> None:
    cli(ws, "run", "--as-of", DAY.isoformat())  # stored values are not what a replay decided: it ignores them
    result = runner.invoke(app, ["backtest", "--from", DAY.isoformat(), "--to", (NEXT + timedelta(days=1)).isoformat(),
                                 "-w", str(ws.root), "--format", "json"])
    assert result.exit_code == 0, result.output
    fires = {b["id"]: b["fires"] for b in json.loads(result.stdout)["playbooks"]}
    assert fires["flag_everyone"] > 0 and fires["follow_up"] == 0, fires


def test_journey_conditions_may_read_motion_set_attributes(ws: Workspace) -> None:
    """A journey's goal on `motion_review` is checked against the motion's columns, not refused as unknown."""
    journeys = ws.root / "motion" / "journeys"
    journeys.mkdir(exist_ok=True)
    (journeys / "review.yml").write_text(
        "version: 1\njourneys:\n  - id: review_nudge\n    roles: [admin]\n    goal: \"motion_review = 'flagged'\"\n"
        "    steps:\n      - {id: wait, type: wait, days: 1}\n", encoding="utf-8")
    ok = runner.invoke(app, ["check", "-w", str(ws.root)])
    assert ok.exit_code == 0, ok.output
    (journeys / "review.yml").write_text((journeys / "review.yml").read_text().replace("motion_review",
                                                                                    "motion_nobody_sets"))
    unknown = runner.invoke(app, ["check", "-w", str(ws.root)])
    assert unknown.exit_code == 2 and "motion_nobody_sets" in unknown.output
