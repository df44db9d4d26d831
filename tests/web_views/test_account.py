"""Account 360 numbers against independent computations on the same workspace."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import duckdb
import pyarrow.compute as pc
import pytest

from longtail.analytics.features import features_as_of
from longtail.analytics.health_store import read_account, read_day, stored_dates
from longtail.settings import Workspace
from longtail.store.entities import EntityStore
from longtail.store.motion import MotionStore
from longtail.web.views._shared import day_start, engine_of
from longtail.web.views.account import TIMELINE_DAYS, USAGE_WEEKS, account_view, history_days

from .conftest import DAY, DAYS, HOSTILE, HOSTILE_ID, note


@pytest.fixture(scope="module")
def busy(ws: Workspace) -> str:
    """A customer scored on DAY with a CTA (so the timeline has one of each kind the motion writes)."""
    scored = read_day(ws, DAY, ["account_id"])
    assert scored is not None
    ids = set(scored.column("account_id").to_pylist())
    ctas = [c for c in MotionStore(engine_of(ws)).list_ctas() if c.account_id in ids]
    assert ctas
    return sorted(ctas, key=lambda c: c.cta_id)[0].account_id


def test_header_matches_the_features_and_the_store(ws: Workspace, busy: str) -> None:
    view = account_view(ws, busy, DAY)
    assert view is not None
    row = next(r for r in features_as_of(ws, DAY).to_pylist() if r["account_id"] == busy)
    assert view.arr == pytest.approx(row["arr"]) and view.mrr == pytest.approx(row["mrr"])
    expected_renewal = None if row["days_to_renewal"] is None else DAY + timedelta(days=int(row["days_to_renewal"]))
    assert view.renewal_date == expected_renewal
    store = MotionStore(engine_of(ws))
    assert view.tier == store.current_tiers()[busy]
    segment_ids = sorted({s for s in ("new_customers", "low_usage", "promoters", "healthy_promoters", "at_risk",
                                      "digital_only", "pooled", "mid", "enterprise") if busy in store.membership(s)})
    assert list(view.segments) == segment_ids


def test_health_today_and_history_match_the_health_store(ws: Workspace, busy: str) -> None:
    view = account_view(ws, busy, DAY)
    assert view is not None and view.health is not None
    stored = read_account(ws, DAY, busy)
    assert stored is not None
    assert view.health.score == stored["score"] and view.health.band == stored["band"]
    assert [c.metric for c in view.health.components] == [c["metric"] for c in stored["components"]]
    assert sum(c.contribution or 0 for c in view.health.components) == pytest.approx(
        sum(c["contribution"] or 0 for c in stored["components"]))
    assert list(view.health.reasons) == stored["reasons"]
    expected = []
    for day in DAYS:
        table = read_day(ws, day, ["account_id", "score", "band"])
        assert table is not None
        found = table.filter(pc.equal(table.column("account_id"), busy)).to_pylist()
        if found:
            expected.append((day, found[0]["score"], found[0]["band"]))
    assert [(p.day, p.score, p.band) for p in view.history] == expected


def test_timeline_counts_match_each_source(ws: Workspace, busy: str) -> None:
    view = account_view(ws, busy, DAY, [note("called the champion")])
    assert view is not None
    kinds = [t.kind for t in view.timeline]
    ctas = [c for c in MotionStore(engine_of(ws)).list_ctas(account=busy) if c.created_on <= DAY]
    assert kinds.count("cta") == len(ctas) > 0
    since = day_start(DAY - timedelta(days=TIMELINE_DAYS))
    until = day_start(DAY + timedelta(days=1))
    tickets = [t for t in EntityStore(engine_of(ws)).rows("tickets") if t["account_id"] == busy
               and since <= _utc(t["opened_at"]) < until]
    assert kinds.count("ticket") == len(tickets)
    surveys = [s for s in EntityStore(engine_of(ws)).rows("surveys") if s["account_id"] == busy
               and since <= _utc(s["ts"]) < until]
    assert kinds.count("survey") == len(surveys)
    assert kinds.count("note") == 1
    assert [t.at for t in view.timeline] == sorted((t.at for t in view.timeline), reverse=True)


def test_weekly_usage_sums_to_the_accounts_events(ws: Workspace, busy: str) -> None:
    view = account_view(ws, busy, DAY)
    assert view is not None
    total = sum(int(t.title.split()[0].replace(",", "")) for t in view.timeline if t.kind == "usage")
    first = day_start(DAY - timedelta(weeks=USAGE_WEEKS))
    glob = str(ws.state_dir / "events" / "part-*.parquet")
    (expected,) = duckdb.connect().execute(
        f"select count(*) from read_parquet('{glob}') where account_id = ? and ts >= ? and ts < ?",
        [busy, first, day_start(DAY + timedelta(days=1))]).fetchall()[0]
    assert total == expected > 0


def test_contacts_are_the_accounts_contacts(ws: Workspace, busy: str) -> None:
    view = account_view(ws, busy, DAY)
    assert view is not None
    expected = {c["contact_id"] for c in EntityStore(engine_of(ws)).rows("contacts") if c["account_id"] == busy}
    assert {c.contact_id for c in view.contacts} == expected


def test_unknown_account_is_none_and_hostile_names_stay_text(ws: Workspace) -> None:
    assert account_view(ws, "no-such-account", DAY) is None
    assert account_view(ws, "' or 1=1 --", DAY) is None
    view = account_view(ws, HOSTILE_ID, DAY, [note(HOSTILE)])
    assert view is not None and view.name == HOSTILE
    assert view.health is None and view.arr == 0.0 and view.contacts[0].name == HOSTILE
    assert "no named CSM" in view.owner_reason


def test_history_days_step_back_weekly_and_keep_each_stored_day_once() -> None:
    stored = [date(2025, 1, d) for d in range(1, 31)]
    chosen = history_days(stored, date(2025, 1, 30), days=28, step=7)
    assert chosen == [date(2025, 1, 9), date(2025, 1, 16), date(2025, 1, 23), date(2025, 1, 30)]
    # Gaps: each stride takes the latest stored day at or before it, and a day is never taken twice.
    assert history_days([date(2025, 1, 5), date(2025, 1, 20)], date(2025, 1, 30), 28, 7) == [
        date(2025, 1, 5), date(2025, 1, 20)]
    assert history_days(stored, date(2024, 12, 1)) == []


def test_stored_dates_of_the_fixture(ws: Workspace) -> None:
    assert stored_dates(ws) == list(DAYS)


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value
