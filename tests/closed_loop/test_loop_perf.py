"""What makes a loop day cheap must not change what it decides: the day-table cache, and the responses that
land as warehouse events."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from datetime import date, timedelta
from typing import Any

import pyarrow as pa
import pytest

from longtail.analytics import features as feature_tables
from longtail.channels.sim import QueuedItem
from longtail.core.featuredefs import DEFAULT_SYSTEM_EVENTS
from longtail.core.features import load_feature_defs
from longtail.runner.closed_loop import EMAIL_EVENT_PREFIX, engagement_event_name, response_kinds
from longtail.runner.daily import context, plan_day
from longtail.runner.frame import DayTables, data_version
from longtail.store import tables
from longtail.warehouse.events import Warehouse
from tests.closed_loop.conftest import Looped
from tests.closed_loop.test_closed_loop import rows

D = date(2025, 3, 10)


def table(n: int) -> pa.Table:
    return pa.table({"account_id": [f"a{i}" for i in range(n)]})


# ------------------------------------------------------------------------------------------------ DayTables


def test_a_cached_table_is_returned_only_for_its_day_and_data_version() -> None:
    cache = DayTables()
    cache.put(D, "v1", table(1))
    assert cache.get(D, "v1") is not None
    assert cache.get(D, "v2") is None  # the data changed: recompute
    assert cache.get(D - timedelta(days=1), "v1") is None


def test_a_new_data_version_forgets_every_table() -> None:
    cache = DayTables()
    cache.put(D, "v1", table(1))
    cache.put(D + timedelta(days=1), "v2", table(2))
    assert cache.get(D, "v2") is None
    assert cache.get(D + timedelta(days=1), "v2") is not None


def test_without_a_data_version_nothing_is_cached() -> None:
    cache = DayTables()
    cache.put(D, None, table(1))
    assert cache.get(D, None) is None


def test_advancing_keeps_only_the_day_before_the_loaded_day() -> None:
    cache = DayTables()
    for n in range(3):
        cache.put(D + timedelta(days=n), "v1", table(n))
    cache.advance("v2", D + timedelta(days=3))
    assert cache.get(D + timedelta(days=2), "v2") is not None
    assert cache.get(D + timedelta(days=1), "v2") is None and cache.get(D, "v2") is None
    cache.advance(None, D + timedelta(days=4))
    assert cache.tables == {}


def test_the_data_version_moves_with_the_event_parts_and_snapshots(looped: Looped) -> None:
    ws = looped.ws
    before = data_version(ws)
    assert before is not None and data_version(ws) == before
    part = ws.state_dir / "events" / "part-zz-test.parquet"
    part.write_bytes(b"x")
    try:
        assert data_version(ws) != before
    finally:
        part.unlink()
    assert data_version(ws) == before


# ------------------------------------------------------------------------------------------------ plan == run


def counting(monkeypatch: pytest.MonkeyPatch) -> list[date]:
    """Record the days whose features are computed (features_as_of is looked up on its module)."""
    calls: list[date] = []
    real: Callable[..., pa.Table] = feature_tables.features_as_of

    def spy(ws: Any, day: date, *args: Any, **kwargs: Any) -> pa.Table:
        calls.append(day)
        return real(ws, day, *args, **kwargs)

    monkeypatch.setattr(feature_tables, "features_as_of", spy)
    return calls


def plain(plan: Any) -> dict[str, Any]:
    return {"counts": plan.counts(), "fires": [asdict(f) for f in plan.fires],
            "effects": [repr(e) for e in plan.cta_effects], "owners": plan.owners}


def test_a_second_day_reuses_the_first_and_decides_the_same(looped: Looped,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    ws = looped.ws
    last = looped.summary.days[-1].day
    fresh = plain(plan_day(ws, last))
    calls = counting(monkeypatch)
    ctx = context(ws)
    plan_day(ws, last - timedelta(days=1), ctx=ctx)
    assert sorted(calls) == [last - timedelta(days=2), last - timedelta(days=1)]
    calls.clear()
    reused = plain(plan_day(ws, last, ctx=ctx))
    assert calls == [last]  # the day before came from the cache
    assert reused == fresh


# ------------------------------------------------------------------------------------------------ engagement


def test_every_email_response_lands_as_a_warehouse_event_on_its_contact(looped: Looped) -> None:
    ws = looped.ws
    answers = {e["event_id"]: e for e in rows(ws, tables.engagement_events)
               if e["channel"] == "email" and e["kind"] in ("delivered", "bounced", "opened", "clicked",
                                                             "replied", "unsubscribed")}
    assert answers
    wh = Warehouse(ws.warehouse_url, ws.state_dir)
    with wh.connect() as con:
        events = wh.events(con)
        landed = con.to_pyarrow(events.filter(events.event.startswith(EMAIL_EVENT_PREFIX))).to_pylist()
    by_id = {e["event_id"]: e for e in landed}
    assert len(by_id) == len(landed)  # each once
    assert set(by_id) == set(answers)
    for event_id, e in by_id.items():
        answer = answers[event_id]
        assert e["event"] == EMAIL_EVENT_PREFIX + answer["kind"]
        assert (e["contact_id"], e["account_id"]) == (answer["contact_id"], answer["account_id"])


def test_in_app_responses_land_as_the_product_actions_only() -> None:
    item = QueuedItem(key="k1", kind="in_app", detail="adoption", account_id="a", contact_id="c", channel="in_app")
    kinds = response_kinds(item, {"delivered": True, "opened": True, "clicked": True, "unsubscribed": False})
    assert kinds == ["delivered", "viewed", "clicked"]
    assert [engagement_event_name(item, k) for k in kinds] == [None, "longtail.inapp.viewed",
                                                               "longtail.inapp.clicked"]
    email = QueuedItem(key="k2", kind="email", detail="adoption", account_id="a", contact_id="c", channel="email")
    assert response_kinds(email, {"delivered": False, "opened": False, "clicked": False,
                                  "unsubscribed": False}) == ["bounced"]


def test_engagement_events_are_not_product_usage() -> None:
    names = {EMAIL_EVENT_PREFIX + k for k in ("delivered", "bounced", "opened", "clicked", "replied",
                                             "unsubscribed")}
    names |= {"longtail.inapp.viewed", "longtail.inapp.clicked", "longtail.inapp.dismissed"}
    assert names <= set(DEFAULT_SYSTEM_EVENTS)
    usage = next(d for d in load_feature_defs(None).features if d.name == "events_28d")
    assert names <= set(usage.params["events"]["exclude"])
