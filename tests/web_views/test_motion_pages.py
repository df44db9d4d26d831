"""Segments and Playbooks pages against the motion store and `longtail playbooks`."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from longtail.cli.main import app
from longtail.settings import Workspace
from longtail.store.motion import MotionStore
from longtail.web.views._shared import engine_of
from longtail.web.views.motion_pages import playbooks_view, segments_view

from .conftest import DAY


def test_segment_members_are_the_stored_memberships(ws: Workspace) -> None:
    view = segments_view(ws, DAY)
    store = MotionStore(engine_of(ws))
    assert view.segments
    for row in view.segments:
        assert row.members == len(store.membership(row.segment_id))
    assert any(r.entered_recently for r in view.segments)


def test_playbooks_match_the_playbooks_command(ws: Workspace) -> None:
    view = playbooks_view(ws, DAY)
    result = CliRunner().invoke(app, ["playbooks", "--format", "json", "-w", str(ws.root)])
    assert result.exit_code == 0, result.output
    printed = {p["id"]: p for p in json.loads(result.stdout)}
    assert [p.playbook_id for p in view.playbooks] == list(printed)
    for p in view.playbooks:
        cli = printed[p.playbook_id]
        assert (p.hits, p.accounts, p.success_checked, p.success_rate) == (
            cli["hits"], cli["accounts"], cli["success_checked"], cli["success_rate"])
        assert list(p.steps) == cli["steps"] and p.backtest is None
    assert sum(p.hits for p in view.playbooks) > 0
    assert "no backtest" in view.backtest_note


def test_a_given_backtest_fills_each_playbooks_row(ws: Workspace) -> None:
    first = playbooks_view(ws, DAY).playbooks[0].playbook_id
    report = {"from": "2025-01-01", "to": "2025-06-30", "playbooks": [
        {"id": first, "fires": 12, "accounts": 9, "precision": 0.25, "lift": 2.5, "recall": 0.1,
         "lead_time_days": 30.0}]}
    view = playbooks_view(ws, DAY, backtest=report)
    rows = {p.playbook_id: p for p in view.playbooks}
    tested = rows[first].backtest
    assert tested is not None and tested.fires == 12 and tested.lift == 2.5
    assert tested.period == "2025-01-01 to 2025-06-30"
    assert all(p.backtest is None for i, p in rows.items() if i != first)
