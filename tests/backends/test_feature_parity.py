"""Features and health scores of a simulated world are identical on DuckDB, PostgreSQL and PySpark."""

from __future__ import annotations

import json
import math
from datetime import UTC, date, datetime
from typing import Any

import ibis
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from longtail.analytics.health_run import customers
from longtail.core.contract import LOAD_ORDER
from longtail.core.features import AnalyticTables, FeatureSet, feature_table, load_feature_defs
from longtail.core.health import HealthResult, default_scorecards, score_table
from longtail.ingest.loader import load_files
from longtail.settings import init_workspace
from longtail.warehouse.events import Warehouse
from tests.backends.conftest import BACKENDS
from tests.engagement_features.data import ENGAGEMENT_EVENTS, synthetic_engagement

pytestmark = [pytest.mark.postgres, pytest.mark.spark, pytest.mark.slow]

OTHERS = tuple(b for b in BACKENDS if b != "duckdb")
DATES = (date(2025, 4, 30), date(2025, 8, 20))
CUSTOM_YAML = """
family_windows: [7, 28, 90]
attributes: [goal, score, billing, missing]
features:
  - {name: reporters_60d, description: d, kind: active_users, family: reports, window_days: 60}
  - {name: logins_3d, description: d, kind: event_count, events: [login], window_days: 3}
  - {name: sticky_120d, description: d, kind: event_count, family: sticky, window_days: 120}
"""
FEATURE_TOLERANCE: dict[str, float] = {}
"""Columns allowed a relative difference above 1e-9 between backends (none: every backend is exact)."""


def _extra_attributes(accounts: pa.Table) -> pa.Table:
    """Numeric attributes (JSON numbers, numeric strings, junk, absent) next to the simulator's text ones."""
    shapes: list[dict[str, Any]] = [{"goal": 40, "score": "7.5"}, {"goal": 12.25}, {"score": "n/a", "goal": None},
                                    {"goal": "3e2", "score": -1}, {}]
    values = []
    for i, text in enumerate(accounts.column("attributes").to_pylist()):
        attrs = json.loads(text) if text else {}
        attrs.update(shapes[i % len(shapes)])
        values.append(json.dumps(attrs) if attrs else None)
    index = accounts.schema.get_field_index("attributes")
    return accounts.set_column(index, "attributes", pa.array(values, pa.string()))


@pytest.fixture(scope="module")
def tables(world: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> dict[str, pa.Table]:
    """The world loaded into a workspace, read back as the Arrow tables the engine's warehouse holds."""
    ws = init_workspace(tmp_path_factory.mktemp("parity-ws") / "ws")
    for kind in LOAD_ORDER:
        paths = sorted(world["dir"].glob(f"{kind}.parquet"))
        result = load_files(ws, kind, paths, now=datetime(2026, 1, 1, tzinfo=UTC))
        assert result.loaded > 0 and result.rejected == 0, kind
    out = {kind: pq.read_table(ws.tables_dir / f"{kind}.parquet")
           for kind in ("accounts", "subscriptions", "contacts", "tickets", "surveys")}
    out["accounts"] = _extra_attributes(out["accounts"])
    events = pa.concat_tables(pq.read_table(p) for p in Warehouse(ws.warehouse_url, ws.state_dir).parts())
    # The simulator sends no messages: add engagement events so the engagement features are really compared.
    accounts = sorted(set(out["accounts"].column("account_id").to_pylist()))[:60]
    engagement = synthetic_engagement(accounts, datetime(2025, 3, 1, tzinfo=UTC), 180)
    out["events"] = pa.concat_tables([events, pa.Table.from_pylist(
        [{name: row.get(name) for name in events.schema.names} for row in engagement], schema=events.schema)])
    return out


def _analytic(tables: dict[str, pa.Table]) -> AnalyticTables:
    return AnalyticTables(**{name: ibis.memtable(table) for name, table in tables.items()})


def _compute(con: ibis.BaseBackend, tables: dict[str, pa.Table], day: date, defs: FeatureSet,
             tz: str = "UTC") -> pa.Table:
    return con.to_pyarrow(feature_table(_analytic(tables), day, defs, tz=tz))


def _close(a: Any, b: Any, rel: float = 1e-9) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, float) or isinstance(b, float):
        return math.isclose(float(a), float(b), rel_tol=rel, abs_tol=1e-9)
    return bool(a == b)


def _assert_same_features(expected: pa.Table, actual: pa.Table, backend: str) -> None:
    assert actual.column_names == expected.column_names, backend
    assert [str(t) for t in actual.schema.types] == [str(t) for t in expected.schema.types], backend
    assert actual.num_rows == expected.num_rows, backend
    assert actual.column("account_id").to_pylist() == expected.column("account_id").to_pylist(), backend
    ids = expected.column("account_id").to_pylist()
    problems = []
    for name in expected.column_names:
        rel = FEATURE_TOLERANCE.get(name, 1e-9)
        for account, a, b in zip(ids, expected.column(name).to_pylist(), actual.column(name).to_pylist(),
                                 strict=True):
            if not _close(a, b, rel):
                problems.append(f"{name} {account}: duckdb {a!r} {backend} {b!r}")
    assert not problems, f"{len(problems)} differences, e.g.\n" + "\n".join(problems[:20])


def _health_key(r: HealthResult) -> tuple[Any, ...]:
    return (r.account_id, r.as_of, r.band, r.raw_band, r.pending_band, r.pending_since, r.scorecard,
            r.scorecard_hash, r.reasons, r.green_reachable,
            tuple((c.metric, c.carried, c.score is None) for c in r.components),
            tuple((p.metric, p.strict, p.sentence) for p in r.path_to_green))


def _assert_same_scores(expected: list[HealthResult], actual: list[HealthResult], backend: str) -> None:
    assert len(actual) == len(expected), backend
    for a, b in zip(expected, actual, strict=True):
        assert _health_key(a) == _health_key(b), (backend, a.account_id)
        assert _close(a.score, b.score), (backend, a.account_id, a.score, b.score)
        for ca, cb in zip(a.components, b.components, strict=True):
            assert _close(ca.value, cb.value) and _close(ca.score, cb.score), (backend, a.account_id, ca, cb)
            assert _close(ca.contribution, cb.contribution), (backend, a.account_id, ca, cb)
        for pa_, pb in zip(a.path_to_green, b.path_to_green, strict=True):
            assert _close(pa_.current, pb.current) and _close(pa_.target, pb.target), (backend, a.account_id)


@pytest.fixture(scope="module")
def standard(tables: dict[str, pa.Table], connections: dict[str, ibis.BaseBackend]) -> dict[tuple[str, date], pa.Table]:
    defs = load_feature_defs(None)
    return {(b, day): _compute(connections[b], tables, day, defs) for b in BACKENDS for day in DATES}


@pytest.mark.parametrize("backend", OTHERS)
@pytest.mark.parametrize("day", DATES)
def test_standard_features_agree(standard: dict[tuple[str, date], pa.Table], backend: str, day: date) -> None:
    expected = standard["duckdb", day]
    assert expected.num_rows > 100
    for name in ("events_28d", "active_users_28d", "tickets_open", "nps_latest", "nps_change",
                 "median_resolution_hours_90d", "days_to_renewal", "days_since_champion_active",
                 "days_to_first_value", "seat_utilisation", "events_change_pct", "emails_opened_28d",
                 "emails_replied_28d", "inapp_viewed_28d", "email_open_rate_28d", "days_since_email_engagement"):
        assert expected.column(name).drop_null().to_pylist(), f"{name} is never set: not a real check"
    for name in ("emails_delivered_28d", "emails_opened_28d", "emails_clicked_28d", "emails_replied_28d",
                 "emails_unsubscribed_28d", "emails_bounced_28d", "inapp_viewed_28d", "inapp_dismissed_28d"):
        assert any(expected.column(name).to_pylist()), f"{name} is always 0: not a real check"
    assert set(expected.column("is_customer").to_pylist()) == {0, 1}, "customers and former customers both occur"
    _assert_same_features(expected, standard[backend, day], backend)


@pytest.mark.parametrize("backend", OTHERS)
@pytest.mark.parametrize("day", DATES)
def test_health_scores_agree(standard: dict[tuple[str, date], pa.Table], backend: str, day: date) -> None:
    cards = default_scorecards()
    expected = score_table(customers(standard["duckdb", day]), cards, {}, as_of=day)
    assert len({r.band for r in expected}) > 1, "one band for everyone is not a real check"
    assert len(expected) < standard["duckdb", day].num_rows, "former customers are not scored"
    _assert_same_scores(expected, score_table(customers(standard[backend, day]), cards, {}, as_of=day), backend)


def test_custom_features_and_time_zone_agree(tables: dict[str, pa.Table],
                                             connections: dict[str, ibis.BaseBackend]) -> None:
    """Custom windows, active users and JSON attributes, with days that end at local midnight."""
    defs = load_feature_defs(CUSTOM_YAML)
    day = date(2025, 6, 15)
    results = {b: _compute(connections[b], tables, day, defs, tz="America/New_York") for b in BACKENDS}
    expected = results["duckdb"]
    assert expected.column_names[-7:] == ["reporters_60d", "logins_3d", "sticky_120d", "attr_goal", "attr_score",
                                          "attr_billing", "attr_missing"]
    assert set(expected.column("attr_goal").to_pylist()) >= {40.0, 12.25, 300.0, None}
    assert set(expected.column("attr_score").to_pylist()) >= {7.5, -1.0, None}
    assert set(expected.column("attr_billing").to_pylist()) == {None}
    for backend in OTHERS:
        _assert_same_features(expected, results[backend], backend)


def _edge_tables() -> AnalyticTables:
    """The hand-built boundary cases of tests/features plus a few more that tell backends apart."""
    from tests.features import conftest as hand

    def at(text: str) -> datetime:
        return datetime.fromisoformat(text).replace(tzinfo=UTC)

    accounts = [*hand.ACCOUNTS, {"account_id": "a5", "created_at": at("2025-03-20T12:00:00.900"),
                                 "attributes": json.dumps({"goal": "12", "score": True, "segment": 3})}]
    contacts = [*hand.CONTACTS, {"contact_id": "c5", "account_id": "a5", "role": "champion"}]
    events = [
        *hand.EVENTS,
        *ENGAGEMENT_EVENTS,  # window edges, repeated opens of one message, a JSON null message key
        # the last half second of the as-of day, a milestone before creation, a tie on the same instant
        {"event_id": "x1", "account_id": "a5", "contact_id": "c5", "event": "login",
         "ts": at("2025-03-31T23:59:59.700")},
        {"event_id": "x2", "account_id": "a5", "contact_id": "c5", "event": "user_invited",
         "ts": at("2025-03-18T06:30:00.250")},
        {"event_id": "x3", "account_id": "a5", "contact_id": None, "event": "report_shared",
         "ts": at("2025-03-18T06:30:00.250")},
    ]
    tickets = [*hand.TICKETS,
               {"ticket_id": "x4", "account_id": "a5", "opened_at": at("2025-03-21T10:00:00.999"),
                "closed_at": at("2025-03-21T11:00:00.001"), "priority": "HIGH"},
               {"ticket_id": "x5", "account_id": "a5", "opened_at": at("2025-03-22T10:00:00"),
                "closed_at": at("2025-03-25T10:00:00.5"), "priority": None}]
    surveys = [*hand.SURVEYS,
               {"response_id": "x6", "account_id": "a5", "ts": at("2025-03-25T10:00:00"), "kind": "nps", "score": 3.0},
               {"response_id": "x7", "account_id": "a5", "ts": at("2025-03-25T10:00:00"), "kind": "nps", "score": 8.0}]
    # a5's only term ends on 2025-03-31 (exclusive): a customer on 03-30, a former customer on 03-31
    subscriptions = [*hand.SUBSCRIPTIONS,
                     {"subscription_id": "x8", "account_id": "a5", "start_date": date(2025, 3, 20),
                      "end_date": date(2025, 3, 31), "mrr": 20.0, "quantity": 2}]
    rows = {"accounts": accounts, "contacts": contacts, "events": events, "tickets": tickets, "surveys": surveys,
            "subscriptions": subscriptions}
    return AnalyticTables(**{kind: ibis.memtable(hand.arrow(kind, data)) for kind, data in rows.items()})


@pytest.mark.parametrize(("day", "tz"), [(date(2025, 3, 31), "UTC"), (date(2025, 3, 30), "Europe/Berlin"),
                                         (date(2025, 1, 1), "Pacific/Auckland")])
def test_edge_cases_agree(connections: dict[str, ibis.BaseBackend], day: date, tz: str) -> None:
    """Boundary cases (last second of a day, sub-second times, nulls, ties, DST) give the same row everywhere."""
    defs = load_feature_defs("attributes: [goal, score, segment]\n")
    results = {b: connections[b].to_pyarrow(feature_table(_edge_tables(), day, defs, tz=tz)) for b in BACKENDS}
    assert results["duckdb"].num_rows >= 2
    for backend in OTHERS:
        _assert_same_features(results["duckdb"], results[backend], backend)


def test_edge_case_values() -> None:
    """What the boundary rows must be (on DuckDB; the test above makes the others agree)."""
    table = ibis.duckdb.connect().to_pyarrow(feature_table(_edge_tables(), date(2025, 3, 31),
                                                           load_feature_defs("attributes: [goal, score]\n")))
    rows = {r["account_id"]: r for r in table.to_pylist()}
    assert {a: r["is_customer"] for a, r in rows.items()} == {"a1": 1, "a2": 1, "a4": 0, "a5": 0}
    row = rows["a5"]
    assert row["days_since_last_activity"] == 0  # 23:59:59.7 is still the as-of day
    assert row["days_to_first_value"] == -3  # 2.25 days before creation: floor, not truncation
    assert row["median_resolution_hours_90d"] == pytest.approx((3600 + 3 * 86400) / 2 / 3600)  # whole seconds
    assert row["nps_latest"] == 8.0 and row["nps_change"] == 5.0  # same instant: the larger response_id is later
    assert row["tickets_high_priority_open"] == 0 and row["attr_goal"] == 12.0 and row["attr_score"] is None


EMPTY_VOCABULARIES = """
system_events: []
milestone_events: []
high_priority: []
login_events: []
event_families: {none: []}
features:
  - {name: nothing_28d, description: d, kind: event_count, events: [], window_days: 28}
  - {name: nobody_7d, description: d, kind: active_users, events: [], window_days: 7}
"""


def test_empty_vocabularies_agree(connections: dict[str, ibis.BaseBackend]) -> None:
    """Constant-false filters (empty event lists) compile and count zero everywhere."""
    from tests.features.conftest import make_tables

    defs = load_feature_defs(EMPTY_VOCABULARIES)
    day = date(2025, 3, 31)
    results = {b: connections[b].to_pyarrow(feature_table(make_tables(), day, defs)) for b in BACKENDS}
    assert set(results["duckdb"].column("nothing_28d").to_pylist()) == {0}
    for backend in OTHERS:
        _assert_same_features(results["duckdb"], results[backend], backend)


_SESSION_ZONE = {
    "postgres": lambda con, zone: con.raw_sql(f"SET TIME ZONE '{zone}'"),
    "pyspark": lambda con, zone: con._session.conf.set("spark.sql.session.timeZone", zone),
}


@pytest.mark.parametrize("backend", OTHERS)
def test_server_time_zone_does_not_matter(standard: dict[tuple[str, date], pa.Table], tables: dict[str, pa.Table],
                                          connections: dict[str, ibis.BaseBackend], backend: str) -> None:
    """Instants are instants: a session in another time zone computes the same features.

    Not DuckDB: Ibis compiles epoch_seconds() there as EPOCH(CAST(ts AS TIMESTAMP)), which reads the session
    zone; Ibis sets it to UTC on connect and the engine never changes it (docs/features.md, Backends).
    """
    day = DATES[0]
    con = connections[backend]
    _SESSION_ZONE[backend](con, "America/Los_Angeles")
    try:
        table = _compute(con, tables, day, load_feature_defs(None))
    finally:
        _SESSION_ZONE[backend](con, "UTC")
    _assert_same_features(standard["duckdb", day], table, backend)


def test_a_series_of_dates_agrees_with_each_date_alone(tables: dict[str, pa.Table],
                                                       connections: dict[str, ibis.BaseBackend]) -> None:
    """`feature_series` (whole-history parts carried from date to date as temporary tables, or cached DataFrames
    on Spark) gives every backend each date's table as DuckDB computes it alone."""
    from longtail.analytics.features import feature_series

    defs = load_feature_defs(CUSTOM_YAML)
    dates = [date(2025, 4, 16), date(2025, 5, 14), date(2025, 6, 15)]
    alone = {day: _compute(connections["duckdb"], tables, day, defs, tz="America/New_York") for day in dates}
    assert alone[dates[-1]].column("milestones_reached").to_pylist() != alone[dates[0]].column(
        "milestones_reached").to_pylist(), "milestones carried from date to date must change to be a real check"
    for backend in BACKENDS:
        series = list(feature_series(connections[backend], _analytic(tables), dates, defs, tz="America/New_York"))
        assert [day for day, _ in series] == dates, backend
        for day, table in series:
            _assert_same_features(alone[day], table, f"{backend} series {day}")
