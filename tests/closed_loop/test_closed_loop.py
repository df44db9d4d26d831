"""The closed loop end to end: outbox messages become interventions once, responses come back on the right
contact, simulated CSMs respect their capacity, the loop is deterministic, and outreach does not raise churn."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from longtail.channels.sim import sim_queue
from longtail.channels.workspace import email_channel
from longtail.dispatch import dispatch
from longtail.errors import ConfigError
from longtail.runner.closed_loop import ACTOR, run_closed_loop
from longtail.runner.daily import open_store, run_day
from longtail.runner.journeys import tick_instant
from longtail.settings import Workspace, copy_example, init_workspace
from longtail.store import tables
from longtail.store.outbox import OutboxStore
from tests.closed_loop.conftest import CAPACITY, CONFIG, LOOP, WARMUP, Looped, sim_workspace


def rows(ws: Workspace, table: Any) -> list[dict[str, Any]]:
    with open_store(ws).engine.connect() as conn:
        return [dict(r) for r in conn.execute(select(table)).mappings()]


def sent_messages(ws: Workspace) -> dict[str, dict[str, Any]]:
    return {r["id"]: r for r in rows(ws, tables.outbox)
            if r["status"] == "sent" and r["channel"] in ("email", "in_app")}


def test_the_loop_did_something(looped: Looped) -> None:
    totals = looped.summary.totals()
    assert len(looped.summary.days) == LOOP
    assert totals["messages_sent"] > 0 and totals["ctas_worked"] > 0 and totals["opened"] > 0
    assert [d.day for d in looped.summary.days] == [CONFIG.start + timedelta(days=WARMUP + i) for i in range(LOOP)]


def test_every_sent_message_becomes_exactly_one_intervention(looped: Looped) -> None:
    ws, summary = looped.ws, looped.summary
    sent = sent_messages(ws)
    events = [e for e in rows(ws, tables.engagement_events) if e["kind"] in ("delivered", "bounced")]
    answered = Counter(e["message_key"] for e in events)
    queued = {i.key for i in sim_queue(ws.state_dir).pending() if i.kind != "csm_task"}
    # Each message reached the world once (one delivered-or-bounced answer), or waits for the next day.
    assert set(answered) | queued == set(sent)
    assert not set(answered) & queued
    assert set(answered.values()) == {1}
    worked = sum(d.ctas_worked for d in summary.days)
    tasks_waiting = sum(1 for i in sim_queue(ws.state_dir).pending() if i.kind == "csm_task")
    assert sum(d.interventions for d in summary.days) == len(answered) + worked - tasks_waiting


def test_rerunning_the_last_day_sends_nothing_twice(looped: Looped) -> None:
    ws = looped.ws
    last = looped.summary.days[-1].day
    before_queue = sorted(i.key for i in sim_queue(ws.state_dir).pending())
    before_sent = set(sent_messages(ws))
    plan = run_day(ws, last)
    assert plan.dispatched.get("emails_sent", 0) == 0
    store = open_store(ws)
    again = dispatch(OutboxStore(store.engine), email_channel(ws), "again", lambda: tick_instant(last, "UTC"),
                     channel_name=None)
    assert again.sent == 0
    assert set(sent_messages(ws)) == before_sent
    assert sorted(i.key for i in sim_queue(ws.state_dir).pending()) == before_queue


def test_responses_come_back_on_the_contact_and_account_messaged(looped: Looped) -> None:
    ws = looped.ws
    sent = sent_messages(ws)
    events = rows(ws, tables.engagement_events)
    answers = [e for e in events if e["kind"] in ("delivered", "opened", "viewed", "clicked", "unsubscribed",
                                                   "bounced")]
    assert answers
    for e in answers:
        message = sent[e["message_key"]]
        assert (e["contact_id"], e["account_id"], e["channel"]) == (
            message["contact_id"], message["account_id"], message["channel"])
    kinds = Counter(e["kind"] for e in answers)
    assert kinds["opened"] + kinds["viewed"] == sum(d.opened for d in looped.summary.days)
    assert kinds["clicked"] == sum(d.clicked for d in looped.summary.days)
    # A click implies an open (or view) of the same message.
    opened = {e["message_key"] for e in answers if e["kind"] in ("opened", "viewed")}
    assert {e["message_key"] for e in answers if e["kind"] == "clicked"} <= opened


def test_simulated_csms_work_within_their_daily_capacity(looped: Looped) -> None:
    ws = looped.ws
    log = [r for r in rows(ws, tables.cta_log) if r["actor"] == ACTOR and r["action"] == "done"]
    assert log
    owners = {c.cta_id: c.owner_id for c in open_store(ws).list_ctas(status="done")}
    per_owner_day = Counter((owners[r["cta_id"]], r["on"]) for r in log)
    assert max(per_owner_day.values()) <= CAPACITY
    assert sum(per_owner_day.values()) == sum(d.ctas_worked for d in looped.summary.days)
    # Each worked CTA was worked once.
    assert len({r["cta_id"] for r in log}) == len(log)


def test_outreach_does_not_raise_churn_against_the_counterfactual(looped: Looped) -> None:
    assert looped.summary.churned_in_loop <= looped.alone.churned_in_loop
    assert looped.summary.churned_in_loop == sum(d.churned for d in looped.summary.days)


def test_the_loop_is_deterministic_for_a_seed(looped: Looped, tmp_path: Path) -> None:
    days = 5
    ws = sim_workspace(tmp_path / "ws")
    again = run_closed_loop(ws, CONFIG, warmup_days=WARMUP, loop_days=days, csm_capacity=CAPACITY)

    def plain(d: Any) -> dict[str, Any]:
        return {k: v for k, v in asdict(d).items() if k != "seconds"}

    assert [plain(d) for d in again.days] == [plain(d) for d in looped.summary.days[:days]]
    first = {k for k, r in sent_messages(looped.ws).items() if r["sent_at"] is not None
             and r["sent_at"].date() <= looped.summary.days[days - 1].day}
    assert set(sent_messages(ws)) == first


def test_the_loop_refuses_a_workspace_that_does_not_send_to_the_simulator(tmp_path: Path) -> None:
    ws = init_workspace(tmp_path / "plain")
    copy_example(ws)
    with pytest.raises(ConfigError, match="email_channel"):
        run_closed_loop(ws, CONFIG, warmup_days=WARMUP, loop_days=LOOP)
