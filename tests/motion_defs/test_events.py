"""Event signals on Ibis/DuckDB: window bounds (since exclusive, until inclusive) in a non-UTC zone."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import ibis
import pyarrow as pa
import pytest

from longtail.core.features import AnalyticTables
from longtail.core.motion.definitions import EventTrigger
from longtail.core.motion.events import Window, event_fires
from longtail.warehouse.entities import snapshot_schema
from longtail.warehouse.events import events_schema

NY = "America/New_York"  # UTC-5 in January: a New York day starts at 05:00 UTC
WINDOW = Window(since=date(2025, 1, 10), until=date(2025, 1, 12), tz=NY)
BEFORE = "2025-01-11T04:59:59"  # 23:59:59 on the `since` day in New York: outside
FIRST = "2025-01-11T05:00:00"  # 00:00:00 on the day after `since`: inside
LAST = "2025-01-13T04:59:59"  # 23:59:59 on the `until` day: inside
AFTER = "2025-01-13T05:00:00"  # the day after `until`: outside


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def table(kind: str, rows: list[dict[str, Any]]) -> ibis.Table:
    schema = events_schema() if kind == "events" else snapshot_schema(kind)
    return ibis.memtable(pa.Table.from_pylist([{n: r.get(n) for n in schema.names} for r in rows], schema=schema))


Rows = list[dict[str, Any]]


def tables(*, events: Rows | None = None, contacts: Rows | None = None, tickets: Rows | None = None,
           surveys: Rows | None = None) -> AnalyticTables:
    return AnalyticTables(events=table("events", events or []), accounts=table("accounts", []),
                          subscriptions=table("subscriptions", []), contacts=table("contacts", contacts or []),
                          tickets=table("tickets", tickets or []), surveys=table("surveys", surveys or []))


@pytest.fixture(scope="module")
def con() -> ibis.BaseBackend:
    return ibis.duckdb.connect()


def fires(con: ibis.BaseBackend, t: AnalyticTables, trigger: EventTrigger, window: Window = WINDOW,
          milestones: tuple[str, ...] = ()) -> dict[str, dict[str, Any]]:
    rows = con.to_pyarrow(event_fires(t, trigger, window, milestones)).to_pylist()
    return {r["account_id"]: r for r in rows}


def trig(event: str, **kw: Any) -> EventTrigger:
    return EventTrigger.model_validate({"id": "t", "kind": "event", "event": event, **kw})


def survey(rid: str, account: str, at: str, score: float, kind: str = "nps") -> dict[str, Any]:
    return {"response_id": rid, "account_id": account, "ts": ts(at), "kind": kind, "score": score}


SURVEYS = [
    survey("r1", "a1", BEFORE, 1),
    survey("r2", "a1", FIRST, 6),
    survey("r3", "a1", LAST, 2),
    survey("r4", "a2", AFTER, 0),
    survey("r5", "a3", "2025-01-12T12:00:00", 7),
    survey("r6", "a4", "2025-01-12T12:00:00", 1, kind="csat"),
    survey("r7", "a5", "2025-01-12T12:00:00", 6.5),
    survey("r8", "a6", BEFORE, 3),
]


def test_nps_detractor_window_and_threshold(con: ibis.BaseBackend) -> None:
    got = fires(con, tables(surveys=SURVEYS), trig("nps_detractor"))
    assert set(got) == {"a1"}
    assert got["a1"]["n"] == 2
    assert got["a1"]["first_at"] == ts(FIRST)
    assert float(got["a1"]["value"]) == 2


def test_nps_detractor_max_score_is_inclusive(con: ibis.BaseBackend) -> None:
    got = fires(con, tables(surveys=SURVEYS), trig("nps_detractor", max_score=7))
    assert set(got) == {"a1", "a3", "a5"}
    assert float(got["a3"]["value"]) == 7


def test_the_same_instants_in_utc_fall_differently(con: ibis.BaseBackend) -> None:
    utc = Window(since=date(2025, 1, 10), until=date(2025, 1, 12), tz="UTC")
    got = fires(con, tables(surveys=SURVEYS), trig("nps_detractor"), window=utc)
    assert set(got) == {"a1", "a6"}
    # In UTC, BEFORE (04:59 on the 11th) is inside and LAST (04:59 on the 13th) is outside.
    assert got["a1"]["n"] == 2
    assert got["a1"]["first_at"] == ts(BEFORE)


def test_consecutive_windows_see_each_event_once(con: ibis.BaseBackend) -> None:
    t = tables(surveys=SURVEYS)
    days = [Window(date(2025, 1, d - 1), date(2025, 1, d), NY) for d in range(9, 16)]
    total = sum(r["n"] for w in days for r in fires(con, t, trig("nps_detractor"), window=w).values())
    detractors_nps = [s for s in SURVEYS if s["kind"] == "nps" and s["score"] <= 6]
    assert total == len(detractors_nps)


def ticket(tid: str, account: str, at: str, priority: str) -> dict[str, Any]:
    return {"ticket_id": tid, "account_id": account, "opened_at": ts(at), "priority": priority}


TICKETS = [
    ticket("t1", "a1", FIRST, "urgent"),
    ticket("t2", "a1", LAST, "urgent"),
    ticket("t3", "a2", "2025-01-12T12:00:00", "high"),
    ticket("t4", "a3", BEFORE, "urgent"),
    ticket("t5", "a4", AFTER, "urgent"),
    ticket("t6", "a5", "2025-01-12T12:00:00", "normal"),
]


def test_ticket_escalated_default_priority_is_urgent(con: ibis.BaseBackend) -> None:
    got = fires(con, tables(tickets=TICKETS), trig("ticket_escalated"))
    assert set(got) == {"a1"}
    assert (got["a1"]["n"], got["a1"]["value"], got["a1"]["first_at"]) == (2, "t1", ts(FIRST))


def test_ticket_escalated_configured_priorities(con: ibis.BaseBackend) -> None:
    got = fires(con, tables(tickets=TICKETS), trig("ticket_escalated", priorities=["high", "urgent"]))
    assert set(got) == {"a1", "a2"}
    assert fires(con, tables(tickets=TICKETS), trig("ticket_escalated", priorities=["low"])) == {}


def test_ticket_escalated_priority_ignores_case(con: ibis.BaseBackend) -> None:
    """Priorities are not normalised on load; tickets_high_priority_open already compares them case-insensitively."""
    t = tables(tickets=[ticket("t1", "a1", FIRST, "Urgent"), ticket("t2", "a2", FIRST, "URGENT")])
    assert set(fires(con, t, trig("ticket_escalated"))) == {"a1", "a2"}


def event(eid: str, account: str, name: str, at: str) -> dict[str, Any]:
    return {"event_id": eid, "account_id": account, "event": name, "ts": ts(at)}


EVENTS = [
    event("e1", "a1", "first_project", "2025-01-05T12:00:00"),  # reached before the window
    event("e2", "a1", "first_project", "2025-01-12T12:00:00"),  # a repeat: not a milestone again
    event("e3", "a2", "first_project", FIRST),
    event("e4", "a2", "first_project", LAST),
    event("e5", "a3", "first_project", "2025-01-12T12:00:00"),
    event("e6", "a3", "invited_team", "2025-01-12T13:00:00"),
    event("e7", "a4", "invited_team", BEFORE),
    event("e8", "a5", "export_csv", FIRST),
    event("e9", "a5", "export_csv", LAST),
    event("e10", "a5", "export_csv", AFTER),
    event("e11", "a6", "login", FIRST),
]
MILESTONES = ("first_project", "invited_team")


def test_milestone_reached_counts_only_the_first_occurrence(con: ibis.BaseBackend) -> None:
    got = fires(con, tables(events=EVENTS), trig("milestone_reached"), milestones=MILESTONES)
    assert set(got) == {"a2", "a3"}
    assert (got["a2"]["n"], got["a2"]["first_at"], got["a2"]["value"]) == (1, ts(FIRST), "first_project")
    assert (got["a3"]["n"], got["a3"]["value"]) == (2, "first_project")


def test_milestone_reached_names_override_the_workspace_milestones(con: ibis.BaseBackend) -> None:
    got = fires(con, tables(events=EVENTS), trig("milestone_reached", names=["invited_team"]), milestones=MILESTONES)
    assert set(got) == {"a3"}
    assert got["a3"]["value"] == "invited_team"


def test_milestone_reached_without_milestones_fires_nothing(con: ibis.BaseBackend) -> None:
    assert fires(con, tables(events=EVENTS), trig("milestone_reached"), milestones=()) == {}


def test_product_event_counts_every_named_event_in_the_window(con: ibis.BaseBackend) -> None:
    got = fires(con, tables(events=EVENTS), trig("product_event", names=["export_csv", "invited_team"]),
                milestones=MILESTONES)
    assert set(got) == {"a3", "a5"}
    assert (got["a5"]["n"], got["a5"]["first_at"], got["a5"]["value"]) == (2, ts(FIRST), "export_csv")


def contact(cid: str, account: str, role: str, at: str | None) -> dict[str, Any]:
    return {"contact_id": cid, "account_id": account, "role": role, "created_at": ts(at) if at else None}


CONTACTS = [
    contact("c1", "a1", "champion", "2024-06-01T00:00:00"),
    contact("c2", "a1", "champion", "2025-01-12T12:00:00"),  # a1: new champion after an earlier one
    contact("c3", "a2", "champion", "2025-01-12T12:00:00"),  # a2: first champion ever: not a change
    contact("c4", "a3", "champion", "2024-06-01T00:00:00"),
    contact("c5", "a3", "admin", "2025-01-12T12:00:00"),  # a3: the new contact is not a champion
    contact("c6", "a4", "champion", None),
    contact("c7", "a4", "champion", "2025-01-12T12:00:00"),  # a4: the earlier champion has no date
    contact("c8", "a5", "champion", FIRST),
    contact("c9", "a5", "champion", LAST),  # a5: both in the window: neither is earlier
    contact("c10", "a6", "champion", BEFORE),  # on the `since` day: earlier
    contact("c11", "a6", "champion", FIRST),
    contact("c12", "a7", "champion", "2024-06-01T00:00:00"),
    contact("c13", "a7", "champion", AFTER),  # a7: after the window
]


def test_champion_changed_needs_an_earlier_champion(con: ibis.BaseBackend) -> None:
    got = fires(con, tables(contacts=CONTACTS), trig("champion_changed"))
    assert set(got) == {"a1", "a6"}
    assert (got["a1"]["n"], got["a1"]["value"]) == (1, "c2")
    assert (got["a6"]["first_at"], got["a6"]["value"]) == (ts(FIRST), "c11")


def test_window_instants() -> None:
    con = ibis.duckdb.connect()
    start, end = con.execute(WINDOW.start), con.execute(WINDOW.end)
    assert (start.isoformat()[:19], end.isoformat()[:19]) == ("2025-01-11T05:00:00", "2025-01-13T05:00:00")
