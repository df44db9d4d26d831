"""Journeys inside the daily run, end to end: enrollment from playbooks, the contact policy, the outbox and
delivery to a real SMTP server (aiosmtpd), holdouts, and re-runs that enqueue nothing twice."""

from __future__ import annotations

import shutil
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from longtail.runner.daily import open_store, plan_day, run_day
from longtail.runner.journeys import tick_instant
from longtail.settings import Workspace, open_workspace
from longtail.store import tables
from longtail.store.enrollments import EnrollmentStore
from longtail.store.outbox import OutboxStore
from tests.motion_run.test_run import DAY, source  # noqa: F401  (the module-scoped simulated workspace)
from tests.outbox.helpers import SmtpServer


@pytest.fixture
def ws(source: Path, tmp_path: Path) -> Workspace:  # noqa: F811
    shutil.copytree(source / "ws", tmp_path / "ws")
    return open_workspace(tmp_path / "ws")


def outbox_rows(ws: Workspace) -> list[dict[str, object]]:
    store = open_store(ws)
    with store.engine.connect() as conn:
        return [dict(r) for r in conn.execute(select(tables.outbox)).mappings()]


def run_days(ws: Workspace, first: date, days: int) -> None:
    store = open_store(ws)
    for i in range(days):
        run_day(ws, first + timedelta(days=i), store=store)


def test_playbooks_enroll_contacts_and_emails_go_through_the_outbox(ws: Workspace) -> None:
    run_days(ws, DAY, 5)
    rows = outbox_rows(ws)
    emails = [r for r in rows if r["channel"] == "email"]
    assert emails, "the example journeys should send email over five simulated days"
    assert len({r["id"] for r in rows}) == len(rows)
    sent = [r for r in emails if r["status"] == "sent"]
    files = list((ws.state_dir / "outbox").glob("*.eml"))
    assert len(files) == len(sent) > 0, "the default file channel writes one .eml per sent email"
    for row in emails:
        payload = row["payload"]
        assert isinstance(payload, dict)
        assert payload["subject"] and "None" not in str(payload["subject"])
        assert "List-Unsubscribe" in payload["headers"] and payload["to"]
    enrollments = EnrollmentStore(open_store(ws).engine).all()
    assert {str(r["program"]) for r in emails} <= {e.journey_id for e in enrollments}
    assert all(r["contact_id"] in {e.contact_id for e in enrollments} for r in emails)


def test_running_a_day_again_enqueues_nothing_twice(ws: Workspace) -> None:
    store = open_store(ws)
    run_day(ws, DAY, store=store)
    before = sorted((r["id"], r["status"]) for r in outbox_rows(ws))
    enrollments = sorted(e.enrollment_id for e in EnrollmentStore(store.engine).all())
    again = run_day(ws, DAY, store=store)
    assert again.journeys is not None and again.journeys.enrolled == []
    assert sorted((r["id"], r["status"]) for r in outbox_rows(ws)) == before
    assert sorted(e.enrollment_id for e in EnrollmentStore(store.engine).all()) == enrollments


def test_plan_shows_the_messages_and_writes_nothing(ws: Workspace) -> None:
    planned = plan_day(ws, DAY)
    assert planned.journeys is not None
    assert outbox_rows(ws) == [] and EnrollmentStore(open_store(ws).engine).all() == []
    ran = run_day(ws, DAY)
    assert ran.journeys is not None
    assert sorted(m.key for m in planned.journeys.messages) == sorted(m.key for m in ran.journeys.messages)


def test_quiet_hours_hold_messages_until_the_contacts_morning(ws: Workspace) -> None:
    run_days(ws, DAY, 3)
    tick = tick_instant(DAY, ws.settings.timezone)
    held = [r for r in outbox_rows(ws) if r["channel"] == "email" and "quiet hours" in str(r["payload"]["policy"])]
    assert held, "contacts in the Americas and Asia are asleep at 09:00 UTC"
    for row in held:
        due = row["due_at"]
        assert isinstance(due, type(tick)) and due.replace(tzinfo=None) > tick.replace(tzinfo=None)


def test_holdout_accounts_get_no_messages(ws: Workspace) -> None:
    journeys = ws.root / "motion" / "journeys" / "onboarding.yml"
    text = journeys.read_text().replace("    roles: [admin, champion]\n",
                                        "    roles: [admin, champion]\n    holdout_pct: 50\n"
                                        "    goal: \"milestones_reached >= 9\"\n", 1)
    journeys.write_text(text)
    run_days(ws, DAY - timedelta(days=60), 30)
    store = open_store(ws)
    welcome = [e for e in EnrollmentStore(store.engine).all() if e.journey_id == "onboarding_welcome"]
    held_out = {e.account_id for e in welcome if e.holdout}
    treated = {e.account_id for e in welcome if not e.holdout}
    assert held_out and treated and not held_out & treated, "whole accounts are in or out"
    mailed = {r["account_id"] for r in outbox_rows(ws) if r["program"] == "onboarding_welcome"}
    assert mailed and mailed <= treated


def test_emails_reach_a_real_smtp_server(ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    server = SmtpServer(tmp_path / "received.log")
    server.start()
    try:
        monkeypatch.setenv("LONGTAIL_EMAIL_CHANNEL", "smtp")
        monkeypatch.setenv("LONGTAIL_SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("LONGTAIL_SMTP_PORT", str(server.port))
        monkeypatch.setenv("LONGTAIL_SMTP_STARTTLS", "false")
        smtp_ws = open_workspace(ws.root)
        run_days(smtp_ws, DAY, 3)
    finally:
        server.stop()
    sent = [r for r in outbox_rows(ws) if r["channel"] == "email" and r["status"] == "sent"]
    received = server.received_ids()
    assert sent and sorted(received) == sorted(str(r["message_id"]) for r in sent)
    assert len(set(received)) == len(received)
    message = server.handler.messages[0]
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert OutboxStore(open_store(ws).engine).counts()["sent"] == len(sent)


def test_a_trigger_that_only_a_journey_uses_still_enrolls(ws: Workspace) -> None:
    """No playbook uses `every_customer`: the run still evaluates it, because a journey enters on it."""
    (ws.root / "motion" / "journey_only.yml").write_text(
        "version: 1\n"
        "triggers:\n"
        "  - {id: every_customer, kind: condition, mode: level, description: every customer,"
        " when: \"is_customer = 1\"}\n", encoding="utf-8")
    (ws.root / "motion" / "journeys" / "journey_only.yml").write_text(
        "version: 1\n"
        "journeys:\n"
        "  - id: trigger_entry\n"
        "    description: enters on a trigger no playbook uses\n"
        "    entry: {trigger: every_customer}\n"
        "    roles: [admin]\n"
        "    steps:\n"
        "      - {id: hold, type: wait, days: 30}\n", encoding="utf-8")
    plan = run_day(ws, DAY)
    fired = {f.account_id for f in plan.fires if f.trigger_id == "every_customer" and f.allowed}
    assert fired
    enrolled = {e.account_id for e in EnrollmentStore(open_store(ws).engine).all("trigger_entry")}
    assert enrolled and enrolled <= fired
