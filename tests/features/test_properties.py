"""Properties: more usage never lowers a usage feature; the same date always gives the same table."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import ibis
import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from longtail.core.features import feature_table, load_feature_defs
from tests.features.conftest import AS_OF, EVENTS, make_tables

DEFS = load_feature_defs("features:\n  - {name: core_users_14d, description: d, kind: active_users, family: core,"
                         " window_days: 14}\n")
COUNTS = [f.name for f in DEFS.features if f.kind in ("event_count", "active_users", "breadth", "milestones")]
RECENCY = ["days_since_last_activity", "days_since_champion_active", "days_since_admin_active"]
NAMES = ["login", "project_created", "report_shared", "integration_connected", "license_usage", "custom_thing",
         "settings_updated", "user_invited"]
START = datetime(2024, 11, 1, tzinfo=UTC)

extra_event = st.fixed_dictionaries({
    "account_id": st.sampled_from(["a1", "a2", "a3", "a4", "zz"]),
    "contact_id": st.sampled_from([None, "c1", "c2", "c3", "c4", "c9"]),
    "event": st.sampled_from(NAMES),
    "ts": st.integers(0, 200 * 86_400).map(lambda s: START + timedelta(seconds=s)),
})


_BEFORE: dict[str, dict[str, Any]] = {}


def _rows(con: ibis.BaseBackend, events: list[dict[str, Any]], as_of: date = AS_OF) -> dict[str, dict[str, Any]]:
    table = con.to_pyarrow(feature_table(make_tables(events), as_of, DEFS))
    return {r["account_id"]: r for r in table.to_pylist()}


@settings(max_examples=10, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(extra=st.lists(extra_event, min_size=1, max_size=12))
def test_more_usage_never_lowers_a_usage_feature(con: ibis.BaseBackend, extra: list[dict[str, Any]]) -> None:
    if not _BEFORE:
        _BEFORE.update(_rows(con, EVENTS))
    before = _BEFORE
    added = [{**e, "event_id": f"x{i}"} for i, e in enumerate(extra)]
    after = _rows(con, EVENTS + added)
    assert before.keys() == after.keys()
    for account, old in before.items():
        new = after[account]
        for name in COUNTS:
            assert new[name] >= old[name], (account, name)
        for name in RECENCY:
            if old[name] is not None:
                assert new[name] is not None and new[name] <= old[name], (account, name)
        for name in ("tenure_days", "seats", "mrr", "tickets_open", "nps_latest", "is_customer"):
            assert new[name] == old[name]


@settings(max_examples=3, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(extra=st.lists(extra_event, max_size=20), as_of=st.dates(date(2024, 12, 1), date(2025, 6, 1)),
       seed=st.randoms(use_true_random=False))
def test_replaying_a_date_gives_the_same_table(con: ibis.BaseBackend, extra: list[dict[str, Any]], as_of: date,
                                               seed: Any) -> None:
    events = EVENTS + [{**e, "event_id": f"x{i}"} for i, e in enumerate(extra)]
    shuffled = list(events)
    seed.shuffle(shuffled)
    expr = feature_table(make_tables(events), as_of, DEFS)
    first = con.to_pyarrow(expr)
    again = con.to_pyarrow(expr)  # the same expression executed again
    reordered = con.to_pyarrow(feature_table(make_tables(shuffled), as_of, DEFS))  # rebuilt, rows reordered
    assert isinstance(first, pa.Table)
    assert first.equals(again)
    assert first.equals(reordered)
