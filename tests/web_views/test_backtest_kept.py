"""`longtail backtest` keeps its report, and the playbooks page shows the latest one with its period."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from longtail.cli.main import app
from longtail.errors import LongtailError
from longtail.runner import backtest_store
from longtail.settings import Workspace, open_workspace
from longtail.web.views.motion_pages import playbooks_view

from .conftest import DAY


@pytest.fixture
def copy(ws: Workspace, tmp_path: Path) -> Workspace:
    """The shared workspace is read-only for the view tests; a backtest writes, so it gets a copy."""
    shutil.copytree(ws.root, tmp_path / "ws")
    return open_workspace(tmp_path / "ws")


def report(first: str, books: list[str], hash_: str = "h1") -> dict[str, object]:
    return {"from": first, "to": "2025-06-30", "motion_hash": hash_,
            "playbooks": [{"id": b, "fires": 1, "accounts": 1} for b in books]}


def test_a_single_playbook_replay_is_merged_into_the_same_period_only(copy: Workspace) -> None:
    assert backtest_store.latest(copy) is None
    backtest_store.save(copy, report("2025-01-01", ["a", "b"]))
    backtest_store.save(copy, {**report("2025-01-01", ["b"]), "playbooks": [{"id": "b", "fires": 7}]}, only="b")
    kept = backtest_store.latest(copy)
    assert kept is not None and [(p["id"], p["fires"]) for p in kept["playbooks"]] == [("a", 1), ("b", 7)]
    backtest_store.save(copy, report("2025-02-01", ["b"]), only="b")  # another period: replaces
    kept = backtest_store.latest(copy)
    assert kept is not None and kept["from"] == "2025-02-01" and [p["id"] for p in kept["playbooks"]] == ["b"]
    backtest_store.save(copy, report("2025-02-01", ["c"], hash_="h2"), only="c")  # another motion: replaces
    kept = backtest_store.latest(copy)
    assert kept is not None and [p["id"] for p in kept["playbooks"]] == ["c"]


def test_an_unreadable_kept_report_is_a_clear_error(copy: Workspace) -> None:
    path = backtest_store.path(copy)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(LongtailError, match="cannot be read"):
        backtest_store.latest(copy)
    path.write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(LongtailError, match="not a JSON object"):
        backtest_store.latest(copy)


def test_the_backtest_command_keeps_what_it_printed_for_the_playbooks_page(copy: Workspace) -> None:
    result = CliRunner().invoke(app, ["backtest", "--from", "2025-05-01", "--to", "2025-06-30", "--every", "30",
                                      "--format", "json", "-w", str(copy.root)])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    assert backtest_store.latest(copy) == json.loads(json.dumps(printed, default=str))
    view = playbooks_view(copy, DAY, backtest_store.latest(copy))
    assert view.backtest_note == "backtest 2025-05-01 to 2025-06-30"
    rows = {p.playbook_id: p for p in view.playbooks}
    for book in printed["playbooks"]:
        tested = rows[book["id"]].backtest
        assert tested is not None and (tested.fires, tested.accounts) == (book["fires"], book["accounts"])
    stale = {**printed, "motion_hash": "not-this-motion"}
    assert "the motion has changed since" in playbooks_view(copy, DAY, stale).backtest_note
