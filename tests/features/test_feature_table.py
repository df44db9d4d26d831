"""Exact values of every standard feature on hand-built tables (see conftest.py for the rows)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import ibis
import pytest

from longtail.core.features import load_feature_defs
from tests.features.conftest import AS_OF, Compute, arrow, d, make_tables, ts

YML = """
family_windows: [7, 28, 90]
attributes: [goal, score, segment]
features:
  - name: sticky_users_28d
    description: Contacts using core features in 28 days
    unit: users
    kind: active_users
    family: core
  - name: logins_14d
    description: Logins in 14 days
    unit: events
    kind: event_count
    events: [login]
    window_days: 14
"""

A1 = {
    "events_7d": 2, "events_28d": 4, "events_90d": 7, "events_prev_28d": 2, "events_change_pct": 100.0,
    "core_events_7d": 1, "core_events_28d": 2, "core_events_90d": 2,
    "admin_events_7d": 0, "admin_events_28d": 1, "admin_events_90d": 1,
    "reports_events_28d": 0, "reports_events_90d": 1,
    "integration_events_28d": 0, "integration_events_90d": 2,
    "sticky_events_90d": 0, "invites_events_90d": 0,
    "logins_7d": 1, "logins_28d": 1,
    "active_users_7d": 2, "active_users_28d": 3,
    "seats": 15, "seat_utilisation": 0.2,
    "feature_breadth_28d": 4,
    "days_since_last_activity": 0, "days_since_champion_active": 0, "days_since_admin_active": 27,
    "milestones_reached": 2, "days_to_first_value": 9,
    "tickets_open": 2, "tickets_opened_30d": 2, "tickets_high_priority_open": 2,
    "median_resolution_hours_90d": 396.0,
    "nps_latest": 9.0, "nps_change": 3.0, "csat_latest": 4.0,
    "days_to_renewal": 31, "tenure_days": 89, "mrr": 150.0, "arr": 1800.0, "is_customer": 1,
    "attr_goal": 40.0, "attr_score": 7.5, "attr_segment": None,
    "sticky_users_28d": 1, "logins_14d": 1,
}
A2 = {
    "events_7d": 0, "events_28d": 0, "events_90d": 0, "events_prev_28d": 0, "events_change_pct": None,
    "logins_7d": 0, "active_users_28d": 0, "seats": 0, "seat_utilisation": None, "feature_breadth_28d": 0,
    "days_since_last_activity": None, "days_since_champion_active": None, "days_since_admin_active": None,
    "milestones_reached": 0, "days_to_first_value": None,
    "tickets_open": 0, "tickets_opened_30d": 0, "tickets_high_priority_open": 0,
    "median_resolution_hours_90d": None, "nps_latest": 10.0, "nps_change": None, "csat_latest": None,
    "days_to_renewal": None, "tenure_days": 0, "mrr": 200.0, "arr": 2400.0, "is_customer": 1,
    "attr_goal": None, "sticky_users_28d": 0, "logins_14d": 0,
}


@pytest.fixture(scope="module")
def defs():  # type: ignore[no-untyped-def]
    return load_feature_defs(YML)


def test_columns_follow_the_feature_set(compute: Compute, defs) -> None:  # type: ignore[no-untyped-def]
    rows = compute(make_tables(), defs)
    first = next(iter(rows.values()))
    assert list(first) == ["account_id", "as_of", *defs.names]
    assert all(row["as_of"] == AS_OF for row in rows.values())


def test_rows_are_accounts_existing_on_the_date(compute: Compute, defs) -> None:  # type: ignore[no-untyped-def]
    rows = compute(make_tables(), defs)
    assert sorted(rows) == ["a1", "a2", "a4"]  # a3 is created at 00:00 the next day; a4 has no created_at
    assert rows["a4"]["tenure_days"] is None
    assert rows["a4"]["events_28d"] == 0
    assert rows["a4"]["is_customer"] == 0 and rows["a4"]["mrr"] == 0.0  # no subscription: a row, not a customer


@pytest.mark.parametrize(("account", "expected"), [("a1", A1), ("a2", A2)])
def test_exact_values(compute: Compute, defs, account: str, expected: dict[str, object]) -> None:  # type: ignore[no-untyped-def]
    row = compute(make_tables(), defs)[account]
    got = {name: row[name] for name in expected}
    assert got == pytest.approx(expected)


def test_time_zone_moves_the_day_boundaries(compute: Compute, defs) -> None:  # type: ignore[no-untyped-def]
    # New York is UTC-4 on 2025-03-31: the day ends at 04:00 UTC on 04-01, starts at 04:00 UTC.
    rows = compute(make_tables(), defs, tz="America/New_York")
    assert sorted(rows) == ["a1", "a2", "a3", "a4"]  # a3 (00:00 UTC 04-01) exists on 03-31 in New York
    a1 = rows["a1"]
    assert a1["logins_7d"] == 2  # e2 at 00:00 UTC 04-01 is 20:00 on 03-31 in New York
    assert a1["events_7d"] == 2  # e3 (00:00 UTC 03-25) is 20:00 on 03-24 local: outside the 7 days
    assert a1["nps_latest"] == 2.0  # r3 (00:00 UTC 04-01) is now the latest response


def test_a_later_date_sees_later_data(compute: Compute, defs) -> None:  # type: ignore[no-untyped-def]
    a1 = compute(make_tables(), defs, as_of=date(2025, 4, 1))["a1"]
    assert a1["logins_7d"] == 2
    assert a1["tickets_open"] == 2  # t2 closed at 00:00 04-01, t6 opened then: t1 and t6 open
    assert a1["seats"] == 115  # s4 started; s2 and s1 still running
    assert a1["days_since_last_activity"] == 0
    assert a1["tenure_days"] == 90
    assert a1["days_since_admin_active"] == 28


def test_empty_tables_give_no_rows(compute: Compute, defs) -> None:  # type: ignore[no-untyped-def]
    assert compute(make_tables(events=[]), defs)["a1"]["events_90d"] == 0


@pytest.mark.parametrize(
    "yml",
    [
        "milestone_events: []\nsystem_events: []\nlogin_events: []\nevent_families: {}\nhigh_priority: []\n",
        "milestone_events: [report_shared]\n",
        "features:\n  - {name: all_180d, description: d, kind: event_count, window_days: 180}\n",
    ],
)
def test_edge_configurations_run(compute: Compute, yml: str) -> None:
    defs = load_feature_defs(yml)
    a1 = compute(make_tables(), defs)["a1"]
    if "milestone_events: []" in yml:
        assert a1["milestones_reached"] == 0 and a1["days_to_first_value"] is None
        assert a1["events_7d"] == 3  # license_usage is no longer a system event
        assert a1["logins_7d"] == 0 and a1["tickets_high_priority_open"] == 0
    elif "report_shared" in yml:
        assert a1["milestones_reached"] == 1 and a1["days_to_first_value"] == 61
    else:
        assert a1["all_180d"] == 8  # every usage event up to the as-of date, e9 (2024-12-31) included


ONE_TERM = [  # a1: one term, end_date exclusive; a2: open-ended from 2025-03-31; a4: none at all
    {"subscription_id": "t1", "account_id": "a1", "start_date": d("2025-03-10"), "end_date": d("2025-03-31"),
     "mrr": 10.0, "quantity": 1},
    {"subscription_id": "t2", "account_id": "a2", "start_date": d("2025-03-31"), "end_date": None, "mrr": 5.0},
    {"subscription_id": "t3", "account_id": "a4", "start_date": d("2025-03-01"), "end_date": d("2025-03-01"),
     "mrr": 7.0},  # empty term (ends the day it starts): never active
]


@pytest.mark.parametrize(("as_of", "a1", "a2"), [
    (date(2025, 3, 9), 0, None),  # the day before the start (a2 is created on 2025-03-31: no row yet)
    (date(2025, 3, 10), 1, None),  # the start day counts
    (date(2025, 3, 30), 1, None),  # the last day of the term
    (date(2025, 3, 31), 0, 1),  # the end day does not (end_date is exclusive); a2 starts
    (date(2026, 1, 1), 0, 1),  # an open-ended subscription never ends
])
def test_is_customer_follows_the_active_subscriptions(compute: Compute, defs, as_of: date, a1: int,  # type: ignore[no-untyped-def]
                                                      a2: int | None) -> None:
    tables = replace(make_tables(), subscriptions=ibis.memtable(arrow("subscriptions", ONE_TERM)))
    rows = compute(tables, defs, as_of=as_of)
    got_a2 = rows["a2"]["is_customer"] if "a2" in rows else None
    assert (rows["a1"]["is_customer"], got_a2, rows["a4"]["is_customer"]) == (a1, a2, 0)
    assert (rows["a1"]["mrr"] > 0) == (a1 == 1), "is_customer agrees with the revenue of active subscriptions"


def test_system_events_count_for_milestones_but_not_activity(compute: Compute) -> None:
    """Milestones and activity come from one pass over every event, each aggregate with its own test."""
    events = [
        {"event_id": "x1", "account_id": "a1", "contact_id": "c1", "event": "login", "ts": ts("2025-03-31T12:00:00")},
        # c2 (admin) only has system events: a milestone, but no activity and no active user
        {"event_id": "x2", "account_id": "a1", "contact_id": "c2", "event": "account_activated",
         "ts": ts("2025-03-31T10:00:00")},
        {"event_id": "x3", "account_id": "a1", "contact_id": "c2", "event": "license_usage",
         "ts": ts("2025-03-29T00:00:00")},
        # inside 90 days, outside 28: counted in events_90d, not in breadth
        {"event_id": "x4", "account_id": "a1", "contact_id": "c1", "event": "report_viewed",
         "ts": ts("2025-02-01T00:00:00")},
    ]
    defs = load_feature_defs("milestone_events: [account_activated, report_viewed]\n")
    a1 = compute(make_tables(events=events), defs)["a1"]
    assert (a1["active_users_7d"], a1["active_users_28d"]) == (1, 1)
    assert (a1["days_since_last_activity"], a1["days_since_champion_active"], a1["days_since_admin_active"]) == (
        0, 0, None)
    assert (a1["milestones_reached"], a1["days_to_first_value"]) == (2, 31)
    assert (a1["feature_breadth_28d"], a1["events_28d"], a1["events_90d"]) == (1, 1, 2)
