"""`longtail ctas` through Typer's runner: listing, showing, every move, and bad input (exit 2, one line)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from typer.testing import CliRunner, Result

from longtail.cli.ctas import app
from longtail.core.motion.ctas import hold_if_flooding, plan_ctas
from longtail.settings import Workspace
from longtail.store.db import make_engine, migrate
from longtail.store.motion import MotionStore
from tests.motion_ctas.helpers import D0, req

runner = CliRunner()


@pytest.fixture
def store(workspace: Workspace) -> MotionStore:
    engine = make_engine(workspace.database_url)
    migrate(engine)
    motion = MotionStore(engine, clock=lambda: datetime(2026, 3, 2, tzinfo=UTC))
    effects = plan_ctas([req(follow_up_days=7), req(account="a2", priority="high")], [], D0)
    motion.apply_effects(effects, D0, {e.cta_id: ("m1", "covers pooled") for e in effects})  # type: ignore[union-attr]
    held, _ = hold_if_flooding(plan_ctas([req(account="h1"), req(account="h2")], [], D0), 1)
    motion.apply_effects(held, D0)
    return motion


def run(workspace: Workspace, *args: str) -> Result:
    return runner.invoke(app, [*args, "--workspace", str(workspace.root)])


def id_of(store: MotionStore, account: str) -> str:
    return store.list_ctas(account=account)[0].cta_id


def one_line_error(result: Result, text: str) -> None:
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error:")
    assert text in lines[0]
    assert "Traceback" not in result.output


def test_list_and_show(workspace: Workspace, store: MotionStore) -> None:
    result = run(workspace, "list", "--format", "json")
    assert result.exit_code == 0, result.output
    listed = json.loads(result.stdout)
    assert {c["account_id"] for c in listed} == {"a1", "a2", "h1", "h2"}
    mine = json.loads(run(workspace, "list", "--owner", "m1", "--status", "open", "--format", "json").stdout)
    assert {c["account_id"] for c in mine} == {"a1", "a2"}
    table = run(workspace, "list", "--status", "held")
    assert table.exit_code == 0
    assert "h1" in table.stdout and "a1" not in table.stdout
    shown = run(workspace, "show", id_of(store, "a1"), "--format", "json")
    payload = json.loads(shown.stdout)
    assert payload["checklist"] == ["Call"]
    assert payload["history"][0]["action"] == "create"
    text = run(workspace, "show", id_of(store, "a1"))
    assert text.exit_code == 0 and "usage dropped" in text.stdout


def test_moves(workspace: Workspace, store: MotionStore) -> None:
    a1, a2 = id_of(store, "a1"), id_of(store, "a2")
    assert run(workspace, "snooze", a1, "--until", "2026-03-10", "--reason", "holiday", "--on", "2026-03-03",
               "--actor", "ben").exit_code == 0
    snoozed = store.get_cta(a1)
    assert snoozed is not None and snoozed.status == "snoozed"
    assert run(workspace, "start", a1, "--on", "2026-03-04").exit_code == 0
    done = run(workspace, "done", a1, "--note", "sent the guide", "--on", "2026-03-05")
    assert done.exit_code == 0, done.output
    assert "follow-up" in done.stderr
    follow = [c for c in store.open_ctas() if c.follow_up_of == a1]
    assert len(follow) == 1 and follow[0].owner_id == "m1"
    assert run(workspace, "cancel", a2, "--reason", "duplicate of a call", "--on", "2026-03-05").exit_code == 0
    assert run(workspace, "escalate", follow[0].cta_id, "--to", "lead1", "--reason", "needs exec",
               "--on", "2026-03-05").exit_code == 0
    history = store.history(a1)
    assert [h["action"] for h in history] == ["create", "snooze", "start", "done"]
    assert history[1]["actor"] == "ben"
    assert history[1]["detail"] == {"status": "snoozed", "until": "2026-03-10", "reason": "holiday"}
    escalated = store.get_cta(follow[0].cta_id)
    assert escalated is not None and escalated.escalated_to == "lead1"


def test_approve(workspace: Workspace, store: MotionStore) -> None:
    h1 = id_of(store, "h1")
    assert run(workspace, "approve", h1, "--on", "2026-03-03").exit_code == 0
    assert [c.account_id for c in store.list_ctas(status="held")] == ["h2"]
    result = run(workspace, "approve", "--all-held", "--on", "2026-03-03")
    assert result.exit_code == 0 and "approved 1 CTAs" in result.stderr
    assert store.list_ctas(status="held") == []


@pytest.mark.parametrize(("args", "message"), [
    (["show", "nope"], "no CTA 'nope'"),
    (["start", "nope"], "no CTA 'nope'"),
    (["snooze", "ID", "--until", "2026-13-01", "--reason", "x"], "--until must be a date"),
    (["snooze", "ID", "--until", "2026-03-10"], "snooze needs --reason"),
    (["snooze", "ID", "--reason", "x"], "snooze needs --until"),
    (["snooze", "ID", "--until", "2026-03-01", "--reason", "x", "--on", "2026-03-02"], "must be after"),
    (["start", "ID", "--on", "yesterday"], "--on must be a date"),
    (["cancel", "ID"], "cancel needs --reason"),
    (["approve", "ID"], "cannot approve CTA"),
    (["approve"], "give CTA ids to approve, or --all-held"),
    (["list", "--status", "sleeping"], "--status must be one of"),
    (["list", "--format", "xml"], "--format must be table or json"),
])
def test_bad_input_exits_2_with_one_line(workspace: Workspace, store: MotionStore, args: list[str],
                                         message: str) -> None:
    real = [id_of(store, "a1") if a == "ID" else a for a in args]
    one_line_error(run(workspace, *real), message)


def test_a_closed_cta_cannot_be_snoozed(workspace: Workspace, store: MotionStore) -> None:
    a2 = id_of(store, "a2")
    assert run(workspace, "done", a2, "--on", "2026-03-03").exit_code == 0
    one_line_error(run(workspace, "snooze", a2, "--until", "2026-03-20", "--reason", "x", "--on", "2026-03-04"),
                   "it is done")
