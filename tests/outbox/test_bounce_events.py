"""SMTP hard bounces become `longtail.email.bounced` warehouse events, once per message, and the engagement
feature emails_bounced_28d counts them; a transient refusal lands nothing.

A real workspace (accounts loaded by the ordinary loader, SMTP settings pointing at a real aiosmtpd server that
answers 550 to `bounce*` recipients and 452 to `full*` ones) and the channel its settings give
(`email_channel`), as `longtail dispatch` and `longtail run` use it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from longtail.analytics.features import features_as_of
from longtail.channels.inapp import warehouse_landing
from longtail.channels.workspace import email_channel
from longtail.cli.main import app
from longtail.dispatch import dispatch
from longtail.ingest.loader import load_files
from longtail.settings import Workspace, init_workspace, open_workspace
from longtail.store.db import make_engine, migrate
from longtail.store.outbox import OutboxMessage, OutboxStore, message_key
from longtail.warehouse.events import Warehouse
from tests.outbox.helpers import Clock, SmtpServer

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
DAY = T0.date()


def _message(n: int, to: str, account: str) -> OutboxMessage:
    return OutboxMessage(message_key("journey", f"enr{n}", "step1", f"c{n}", T0.isoformat()), "email",
                         {"to": to, "subject": f"Hello {n}", "text": f"Hi {n}"}, T0, contact_id=f"c{n}",
                         account_id=account, program="onboarding")


BOUNCE = _message(1, "bounce@example.com", "a1")
FULL = _message(2, "full@example.com", "a2")
FINE = _message(3, "fine@example.com", "a2")


@pytest.fixture
def ws(tmp_path: Path, smtp_server: SmtpServer) -> Workspace:
    root = tmp_path / "ws"
    init_workspace(root)
    ws = open_workspace(root, email_channel="smtp", smtp_host="127.0.0.1", smtp_port=smtp_server.port,
                        smtp_starttls=False, email_from="cs@example.com")
    accounts = tmp_path / "accounts.csv"
    accounts.write_text("account_id,name\na1,Acme\na2,Beta\n", encoding="utf-8")
    result = load_files(ws, "accounts", [accounts], now=T0 - timedelta(days=1))
    assert result.rejected == 0
    return ws


@pytest.fixture
def store(ws: Workspace) -> OutboxStore:
    engine = make_engine(ws.database_url)
    migrate(engine)
    store = OutboxStore(engine)
    store.enqueue([BOUNCE, FULL, FINE], now=T0)
    return store


def _landed(ws: Workspace) -> list[dict[str, Any]]:
    wh = Warehouse(ws.warehouse_url, ws.state_dir)
    return [r for p in wh.landed() for r in pq.read_table(p).to_pylist()]


def _stored(ws: Workspace) -> list[dict[str, Any]]:
    """The warehouse's events after compaction (what the features read)."""
    wh = Warehouse(ws.warehouse_url, ws.state_dir)
    wh.compact()
    return [r for p in wh.parts() for r in pq.read_table(p).to_pylist()]


def _bounced(events: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [e for e in events if e["event"] == "longtail.email.bounced"]


class Crash(BaseException):
    """The dispatcher dying (not an error it may handle)."""


def test_a_hard_bounce_lands_one_event_that_the_feature_counts(ws: Workspace, store: OutboxStore,
                                                               smtp_server: SmtpServer) -> None:
    counts = dispatch(store, email_channel(ws), "w", Clock(T0))
    assert (counts.sent, counts.bounced, counts.retried) == (1, 1, 1)
    [event] = _bounced(_stored(ws))
    assert event["event_id"] == f"{BOUNCE.key}:bounced"
    assert (event["account_id"], event["contact_id"], event["ts"]) == ("a1", "c1", T0)
    assert json.loads(event["properties"]) == {"message": BOUNCE.key, "journey": "onboarding"}
    # The 452 of full@ is transient: retried later, nothing landed for it (nor for the one delivered).
    assert [e["event_id"] for e in _stored(ws)] == [f"{BOUNCE.key}:bounced"]
    rows = {r["account_id"]: r for r in features_as_of(ws, DAY, scores=False).to_pylist()}
    assert rows["a1"]["emails_bounced_28d"] == 1
    assert rows["a2"]["emails_bounced_28d"] == 0
    # A re-run finds the bounced row failed: nothing claimed (full@ waits for its retry), nothing landed again.
    again = dispatch(store, email_channel(ws), "w", Clock(T0 + timedelta(seconds=30)))
    assert (again.claimed, again.bounced) == (0, 0)
    assert _landed(ws) == [] and len(_bounced(_stored(ws))) == 1


def test_a_dispatcher_dying_after_landing_lands_the_same_event_again(ws: Workspace, store: OutboxStore) -> None:
    land = warehouse_landing(ws.warehouse_url, ws.state_dir)

    def land_then_die(rows: Sequence[Mapping[str, Any]]) -> None:
        land(rows)
        raise Crash  # before the row is marked failed

    with pytest.raises(Crash):
        dispatch(store, email_channel(ws), "w1", Clock(T0), landing=land_then_die, lease_seconds=60)
    row = store.get(BOUNCE.key)
    assert row is not None and row.status == "sending" and store.events(BOUNCE.key) == []
    # Another dispatcher takes the row over once the lease expired: it bounces again and lands again.
    later = Clock(T0 + timedelta(minutes=5))
    counts = dispatch(store, email_channel(ws), "w2", later)
    assert counts.bounced == 1
    assert len(_bounced(_landed(ws))) == 2  # the same event_id twice ...
    assert [e["event_id"] for e in _bounced(_stored(ws))] == [f"{BOUNCE.key}:bounced"]  # ... kept once
    assert [e["kind"] for e in store.events(BOUNCE.key)] == ["bounced"]
    rows = {r["account_id"]: r for r in features_as_of(ws, DAY, scores=False).to_pylist()}
    assert (rows["a1"]["emails_bounced_28d"], rows["a2"]["emails_bounced_28d"]) == (1, 0)


def test_transient_refusals_land_nothing_even_when_they_give_up(ws: Workspace, store: OutboxStore) -> None:
    store.mark_suppressed(BOUNCE.key, "not part of this test")
    counts = dispatch(store, email_channel(ws), "w", Clock(T0), max_attempts=1)
    assert (counts.sent, counts.failed, counts.bounced) == (1, 1, 0)
    row = store.get(FULL.key)
    assert row is not None and row.status == "failed" and "452" in (row.last_error or "")
    assert _landed(ws) == []
    assert [e["kind"] for e in store.events(FULL.key)] == []


def test_without_a_landing_a_bounce_is_still_failed_and_suppressed(ws: Workspace, store: OutboxStore) -> None:
    channel = email_channel(ws)
    channel.bounce_landing = None  # type: ignore[attr-defined]  # e.g. `python -m longtail.dispatch`
    counts = dispatch(store, channel, "w", Clock(T0))
    assert counts.bounced == 1 and _landed(ws) == []
    assert store.suppressed([store.get(BOUNCE.key)])  # type: ignore[list-item]


def test_longtail_dispatch_lands_the_bounce(ws: Workspace, store: OutboxStore, monkeypatch: pytest.MonkeyPatch
                                           ) -> None:
    for name, value in (("EMAIL_CHANNEL", "smtp"), ("SMTP_HOST", ws.settings.smtp_host),
                        ("SMTP_PORT", str(ws.settings.smtp_port)), ("SMTP_STARTTLS", "false")):
        monkeypatch.setenv(f"LONGTAIL_{name}", value)
    result = CliRunner().invoke(app, ["dispatch", "--format", "json", "-w", str(ws.root)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["bounced"] == 1
    assert [e["event_id"] for e in _bounced(_landed(ws))] == [f"{BOUNCE.key}:bounced"]
    assert pa.array([e["ts"] for e in _landed(ws)]).type == pa.timestamp("us", tz="UTC")


def test_days_outside_the_window_do_not_count(ws: Workspace, store: OutboxStore) -> None:
    dispatch(store, email_channel(ws), "w", Clock(T0))
    _stored(ws)
    rows = {r["account_id"]: r for r in features_as_of(ws, DAY + timedelta(days=28), scores=False).to_pylist()}
    assert rows["a1"]["emails_bounced_28d"] == 0
    assert {r["account_id"] for r in features_as_of(ws, date(2026, 3, 29), scores=False).to_pylist()
            if r["emails_bounced_28d"] == 1} == {"a1"}
