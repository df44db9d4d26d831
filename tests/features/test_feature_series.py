"""A series of dates (`feature_series`): each table equals the one computed alone, with the whole-history parts
(last activity, milestones) carried from date to date as a `HistoryState`."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import ibis
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from longtail.analytics.features import feature_series
from longtail.core.features import FeatureSet, feature_table, history_state, load_feature_defs
from tests.features.conftest import AS_OF, EVENTS, arrow, make_tables
from tests.features.test_properties import extra_event

DEFS = load_feature_defs("""
family_windows: [7, 28, 90]
features:
  - {name: core_users_14d, description: d, kind: active_users, family: core, window_days: 14}
  - {name: reporters_60d, description: d, kind: active_users, events: [report_shared, report_viewed],
     window_days: 60}
  - {name: logins_3d, description: d, kind: event_count, events: [login], window_days: 3}
""")
NO_MILESTONES = load_feature_defs("milestone_events: []\n")
# events over 200 days from 2024-11-01, of usage, system and milestone names (the default milestones)
days = st.lists(st.integers(0, 200).map(lambda n: date(2024, 11, 1) + timedelta(days=n)), min_size=1, max_size=6)


def _alone(con: ibis.BaseBackend, events: list[dict[str, Any]], dates: list[date], defs: FeatureSet,
           tz: str) -> list[tuple[date, pa.Table]]:
    tables = make_tables(events)
    return [(day, con.to_pyarrow(feature_table(tables, day, defs, tz=tz))) for day in sorted(set(dates))]


def _series(con: ibis.BaseBackend, events: list[dict[str, Any]], dates: list[date], defs: FeatureSet,
            tz: str) -> list[tuple[date, pa.Table]]:
    return list(feature_series(con, make_tables(events), dates, defs, tz=tz))


def _temporary_tables(con: ibis.BaseBackend) -> list[str]:
    rows = con.raw_sql("SELECT table_name FROM duckdb_tables() WHERE temporary").fetchall()
    return sorted(r[0] for r in rows)


def _assert_same(expected: list[tuple[date, pa.Table]], actual: list[tuple[date, pa.Table]]) -> None:
    assert [d for d, _ in actual] == [d for d, _ in expected]
    for (day, want), (_, got) in zip(expected, actual, strict=True):
        assert got.schema == want.schema, day
        assert got.to_pylist() == want.to_pylist(), day


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(extra=st.lists(extra_event, max_size=15), dates=days,
       tz=st.sampled_from(["UTC", "America/New_York", "Australia/Lord_Howe"]),
       defs=st.sampled_from([DEFS, NO_MILESTONES]))
def test_each_date_of_a_series_equals_the_date_alone(con: ibis.BaseBackend, extra: list[dict[str, Any]],
                                                     dates: list[date], tz: str, defs: FeatureSet) -> None:
    events = EVENTS + [{**e, "event_id": f"x{i}"} for i, e in enumerate(extra)]
    _assert_same(_alone(con, events, dates, defs, tz), _series(con, events, dates, defs, tz))
    assert _temporary_tables(con) == []


def test_the_hand_built_dates_agree_and_are_not_trivial(con: ibis.BaseBackend) -> None:
    dates = [AS_OF - timedelta(days=45), AS_OF, AS_OF - timedelta(days=7), AS_OF, AS_OF - timedelta(days=1)]
    expected = _alone(con, EVENTS, dates, DEFS, "Europe/Berlin")
    last = {r["account_id"]: r for r in expected[-1][1].to_pylist()}
    assert last["a1"]["milestones_reached"] == 2 and last["a1"]["days_since_admin_active"] is not None
    assert last["a1"]["core_users_14d"] > 0 and last["a1"]["active_users_28d"] > 0
    assert len(expected) == 4  # a repeated date is computed once
    _assert_same(expected, _series(con, EVENTS, dates, DEFS, "Europe/Berlin"))


def test_a_later_state_is_the_earlier_one_plus_the_events_in_between(con: ibis.BaseBackend) -> None:
    """The merge really reads the earlier state: a row found only there is kept, and the events before it are
    not read again."""
    tables = make_tables()
    first = history_state(tables, AS_OF - timedelta(days=30), DEFS)
    planted = first.contacts.union(ibis.memtable(arrow("events", [
        {"event_id": "p", "account_id": "a2", "contact_id": "ghost", "event": "login",
         "ts": datetime(2025, 1, 1, tzinfo=UTC)}])).select("account_id", "contact_id", last_ts="ts"))
    earlier = replace(first, contacts=planted)
    later = history_state(tables, AS_OF, DEFS, previous=earlier)
    rows = con.to_pyarrow(later.contacts).to_pylist()
    assert {"account_id": "a2", "contact_id": "ghost", "last_ts": datetime(2025, 1, 1, tzinfo=UTC)} in rows
    # an event before the earlier state's end, seen only now, is not read: the state already covers that time
    unread = {"event_id": "u", "account_id": "a2", "contact_id": "unread", "event": "login",
              "ts": first.until - timedelta(seconds=1)}
    again = history_state(make_tables([*EVENTS, unread]), AS_OF, DEFS, previous=earlier)
    assert "unread" not in {r["contact_id"] for r in con.to_pyarrow(again.contacts).to_pylist()}
    alone = con.to_pyarrow(history_state(tables, AS_OF, DEFS).contacts).to_pylist()
    key = ("account_id", "contact_id")
    assert sorted(rows, key=lambda r: tuple(str(r[k]) for k in key)) == sorted(
        [*alone, {"account_id": "a2", "contact_id": "ghost", "last_ts": datetime(2025, 1, 1, tzinfo=UTC)}],
        key=lambda r: tuple(str(r[k]) for k in key))


def test_a_state_must_belong_to_its_date(con: ibis.BaseBackend) -> None:
    tables = make_tables()
    state = history_state(tables, AS_OF, DEFS)
    with pytest.raises(ValueError, match="dates must ascend"):
        history_state(tables, AS_OF - timedelta(days=1), DEFS, previous=state)
    with pytest.raises(ValueError, match="not to the end of 2025-03-30"):
        feature_table(tables, AS_OF - timedelta(days=1), DEFS, state=state)
    with pytest.raises(ValueError, match="in America/New_York"):
        feature_table(tables, AS_OF, DEFS, tz="America/New_York", state=state)
    # another feature set may declare other milestones, in another order: its state does not fit
    with pytest.raises(ValueError, match="built for feature set"):
        feature_table(tables, AS_OF, NO_MILESTONES, state=state)
    with pytest.raises(ValueError, match="built for feature set"):
        history_state(tables, AS_OF + timedelta(days=1), NO_MILESTONES, previous=state)


def test_stopping_a_series_early_drops_its_temporary_tables(con: ibis.BaseBackend) -> None:
    series = feature_series(con, make_tables(), [AS_OF - timedelta(days=14), AS_OF - timedelta(days=7), AS_OF],
                            DEFS)
    day, table = next(series)
    assert day == AS_OF - timedelta(days=14) and table.num_rows > 0
    assert len(_temporary_tables(con)) == 2  # the last contact of each (account, contact), milestones
    series.close()
    assert _temporary_tables(con) == []


def test_an_empty_series_yields_nothing(con: ibis.BaseBackend) -> None:
    assert list(feature_series(con, make_tables(), [], DEFS)) == []
