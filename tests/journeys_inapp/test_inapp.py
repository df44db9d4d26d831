"""In-app messages: fetch (pending = due, not expired, not closed), delivery on first fetch, engagement at most
once per (message, action), landing as product events, and the contact token."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from sqlalchemy import Engine

from longtail.channels.inapp import (
    InAppAuthError,
    InAppInbox,
    UnknownMessage,
    contact_key,
    contact_token,
    publishable_key,
    warehouse_landing,
)
from longtail.core.journeys.engine import SendMessage
from longtail.store.db import make_engine, migrate
from longtail.store.outbox import OutboxMessage, OutboxStore
from tests.journeys.helpers import T0 as J0
from tests.journeys.helpers import facts, load_one, start, tick

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SECRET = "workspace-signing-secret-0123456789"


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'state.db'}")
    migrate(engine)
    yield engine
    engine.dispose()


class Landed:
    def __init__(self) -> None:
        self.rows: list[Mapping[str, Any]] = []

    def __call__(self, rows: Sequence[Mapping[str, Any]]) -> None:
        self.rows.extend(rows)


def message(key: str, *, contact: str = "c1", due: datetime = T0, expires_days: float | None = None,
            status: str = "pending") -> OutboxMessage:
    payload = {"title": f"Title {key}", "body": "<b>Body</b>", "cta_label": "Go", "cta_url": "https://x.test/go",
               "step": "banner", "expires_days": expires_days}
    return OutboxMessage(key, "in_app", payload, due, contact_id=contact, account_id="a1", program="j",
                         status=status)


def test_keys_are_derived_and_distinct() -> None:
    pk = publishable_key(SECRET)
    assert pk.startswith("pk_") and len(pk) == 35 and SECRET not in pk
    assert contact_key(SECRET) not in (SECRET, pk)
    assert contact_token(contact_key(SECRET), "c1") != contact_token(contact_key(SECRET), "c2")
    assert publishable_key(SECRET + "x") != pk


def test_authentication_needs_the_key_and_a_token_for_that_contact(engine: Engine) -> None:
    inbox = InAppInbox(engine, SECRET)
    token = contact_token(contact_key(SECRET), "c1")
    inbox.authenticate(publishable_key(SECRET), "c1", token)
    with pytest.raises(InAppAuthError, match="publishable"):
        inbox.authenticate("pk_wrong", "c1", token)
    with pytest.raises(InAppAuthError, match="contact token"):
        inbox.authenticate(publishable_key(SECRET), "c2", token)
    with pytest.raises(InAppAuthError, match="contact token"):
        inbox.authenticate(publishable_key(SECRET), "c1", contact_token(SECRET, "c1"))  # signed with the wrong key


def test_pending_is_due_not_expired_not_closed_and_only_the_contacts_own(engine: Engine) -> None:
    store = OutboxStore(engine)
    store.enqueue([message("due"), message("later", due=T0 + timedelta(hours=2)),
                   message("old", due=T0 - timedelta(days=3), expires_days=2), message("other", contact="c2"),
                   message("held", status="held"), message("second", contact="c1")], now=T0)
    inbox = InAppInbox(engine, SECRET)
    assert [m.id for m in inbox.pending("c1", T0)] == ["due", "second"]
    store.suppress(reason="opted out of in-app", at=T0, contact_id="c2", channel="in_app")
    assert inbox.pending("c2", T0) == []
    assert store.counts("in_app")["suppressed"] == 1
    inbox.record("c1", "second", "dismissed", T0)
    later = inbox.pending("c1", T0 + timedelta(hours=3))
    assert [m.id for m in later] == ["due", "later"]
    assert later[0].expires_at == T0 + timedelta(days=14)
    assert later[0].to_json()["body"] == "<b>Body</b>"  # data, not markup: the snippet uses textContent


def test_first_fetch_delivers_once(engine: Engine) -> None:
    store = OutboxStore(engine)
    store.enqueue([message("m1")], now=T0)
    inbox = InAppInbox(engine, SECRET)
    inbox.pending("c1", T0)
    inbox.pending("c1", T0 + timedelta(minutes=5))
    row = store.get("m1")
    assert row is not None and row.status == "sent"
    assert sorted(e["kind"] for e in store.events("m1")) == ["delivered", "sent"]  # once, not per fetch


def test_engagement_is_recorded_at_most_once_and_landed(engine: Engine) -> None:
    store = OutboxStore(engine)
    store.enqueue([message("m1"), message("theirs", contact="c2")], now=T0)
    landed = Landed()
    inbox = InAppInbox(engine, SECRET, landing=landed)
    assert inbox.record("c1", "m1", "viewed", T0) is True
    assert inbox.record("c1", "m1", "viewed", T0 + timedelta(seconds=1)) is False
    assert inbox.record("c1", "m1", "clicked", T0) is True
    assert [r["event"] for r in landed.rows] == ["longtail.inapp.viewed", "longtail.inapp.clicked"]
    assert landed.rows[0]["event_id"] == "m1:viewed" and landed.rows[0]["account_id"] == "a1"
    assert sorted(e["kind"] for e in store.events("m1")) == ["clicked", "viewed"]
    with pytest.raises(UnknownMessage):
        inbox.record("c1", "theirs", "viewed", T0)  # another contact's message
    with pytest.raises(UnknownMessage):
        inbox.record("c1", "nope", "viewed", T0)
    with pytest.raises(UnknownMessage, match="unknown action"):
        inbox.record("c1", "m1", "liked", T0)
    assert inbox.pending("c1", T0) == []  # clicked: no longer pending


def test_warehouse_landing_writes_events_of_the_contract(tmp_path: Path) -> None:
    land = warehouse_landing(f"duckdb:///{tmp_path / 'w.duckdb'}", tmp_path)
    land([{"event_id": "m1:viewed", "account_id": "a1", "contact_id": "c1", "event": "longtail.inapp.viewed",
           "ts": T0, "value": None, "properties": "{}"}])
    (file,) = (tmp_path / "landing" / "events").glob("events-*.parquet")
    rows = pq.read_table(file).to_pylist()
    assert rows[0]["event"] == "longtail.inapp.viewed" and rows[0]["ts"] == T0


def test_in_app_step_carries_its_expiry() -> None:
    journey, conditions = load_one("""
version: 1
journeys:
  - id: tip
    steps:
      - {id: banner, type: in_app, title: Try reports, body: They save time, expires_days: 3}
""")
    (effect,) = tick(start(journey, holdout=False), journey, conditions, facts(J0)).effects
    assert isinstance(effect, SendMessage)
    assert (effect.channel, effect.expires_days, effect.title) == ("in_app", 3, "Try reports")
