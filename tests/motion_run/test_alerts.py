"""Playbook alert steps are carried out: Slack posts through the outbox (once per day and account, to a real
HTTP server), log alerts as WARNING lines."""

from __future__ import annotations

import json
import logging
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from longtail.runner.alerts import plan_alerts, url_env
from longtail.runner.daily import open_store, run_day
from longtail.settings import Workspace, open_workspace
from longtail.store import tables
from longtail.store.outbox import message_key
from tests.journeys_webhook.test_webhook import Recorder, Server
from tests.motion_run.test_run import DAY, source  # noqa: F401  (the module-scoped simulated workspace)

AT = datetime(2025, 7, 1, 9, tzinfo=UTC)
STEP = {"day": "2025-07-01", "playbook": "pb", "account_id": "a1", "reason": "playbook pb on trigger t",
        "type": "alert", "channel": "cs-pooled", "message": "Quiet account <b>"}

PLAYBOOK = """\
playbooks:
  - id: quiet_alert
    objective: Tell the pooled channel about quiet accounts, and the log too
    trigger: usage_down_30
    steps:
      - {type: alert, message: "Usage fell 30%", channel: cs-pooled}
      - {type: alert, message: "Usage fell (log)"}
"""


@pytest.fixture
def ws(source: Path, tmp_path: Path) -> Workspace:  # noqa: F811
    shutil.copytree(source / "ws", tmp_path / "ws")
    return open_workspace(tmp_path / "ws")


def test_the_url_variable_is_named_after_the_channel() -> None:
    assert url_env("slack") == "LONGTAIL_SLACK_WEBHOOK_URL"
    assert url_env("cs-pooled") == "LONGTAIL_SLACK_WEBHOOK_URL_CS_POOLED"


def test_plan_alerts_posts_non_log_channels_and_keeps_log_ones_apart() -> None:
    other = {**STEP, "type": "journey", "journey": "j"}
    logged = {**STEP, "channel": "log", "account_id": "a2"}
    plan = plan_alerts([STEP, other, logged], {"a1": "Acme"}, AT)
    (post,) = plan.posts
    assert post.channel == "slack" and post.due_at == AT and post.account_id == "a1"
    assert post.key == message_key("alert", "pb", "a1", "cs-pooled", "2025-07-01")
    assert post.payload == {"text": "Quiet account <b> | account Acme (a1) | playbook pb",
                            "url_env": "LONGTAIL_SLACK_WEBHOOK_URL_CS_POOLED", "channel": "cs-pooled"}
    assert plan.logged == (logged,)
    again = plan_alerts([STEP], {}, AT).posts[0]
    assert again.key == post.key and "account a1 |" in again.payload["text"]  # no name: the id alone


def test_a_run_posts_each_alert_once_to_slack_and_logs_the_rest(ws: Workspace, monkeypatch: pytest.MonkeyPatch,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    (ws.root / "motion" / "alerts.yml").write_text(PLAYBOOK, encoding="utf-8")
    recorder = Recorder()
    with Server(recorder) as server:
        monkeypatch.setenv("LONGTAIL_SLACK_WEBHOOK_URL_CS_POOLED", server.url + "/pooled")
        store = open_store(ws)
        with caplog.at_level(logging.WARNING, logger="longtail.alerts"):
            first = run_day(ws, DAY, store=store)
        hits = sorted({h.account_id for h in first.hits if h.playbook_id == "quiet_alert"})
        assert hits, "the usage-drop trigger fires on this world's day"
        counts = first.counts()
        assert counts["alerts_posted"] == len(hits) == counts["alerts_logged"]
        assert counts["slack_sent"] >= len(hits)
        posted = sorted(json.loads(body)["text"] for path, _, body in recorder.requests if path == "/pooled")
        assert len(posted) == len(hits)
        assert all(t.startswith("Usage fell 30% | account ") and "playbook quiet_alert" in t for t in posted)
        named = [[a for a in hits if f"({a}) |" in t or f"account {a} |" in t] for t in posted]
        assert sorted(a for found in named for a in found) == hits  # each hit account in exactly one post
        logged = [r.getMessage() for r in caplog.records if r.name == "longtail.alerts"]
        assert len(logged) == len(hits) and all(m.startswith("alert: Usage fell (log) | account ") for m in logged)

        again = run_day(ws, DAY, store=store)  # the same day again: nothing posted twice
        assert again.counts()["alerts_posted"] == 0
        assert len([r for r in recorder.requests if r[0] == "/pooled"]) == len(hits)
    with store.engine.connect() as conn:
        rows = conn.execute(select(tables.outbox.c.status, tables.outbox.c.program)
                            .where(tables.outbox.c.channel == "slack")).all()
    assert len(rows) == len(hits) and {(r.status, r.program) for r in rows} == {("sent", "playbook:quiet_alert")}


def test_a_missing_url_variable_fails_the_post_without_losing_it(ws: Workspace,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    (ws.root / "motion" / "alerts.yml").write_text(PLAYBOOK, encoding="utf-8")
    monkeypatch.delenv("LONGTAIL_SLACK_WEBHOOK_URL_CS_POOLED", raising=False)
    store = open_store(ws)
    plan = run_day(ws, DAY, store=store)
    assert plan.counts()["alerts_posted"] > 0
    with store.engine.connect() as conn:
        rows = conn.execute(select(tables.outbox.c.status, tables.outbox.c.last_error)
                            .where(tables.outbox.c.channel == "slack")).all()
    assert rows and all(r.status == "failed" and "LONGTAIL_SLACK_WEBHOOK_URL_CS_POOLED" in r.last_error
                        for r in rows)
