"""The worklist: selection and order (pure), the page and its filters, the CTA page, the moves and search."""

from __future__ import annotations

import html
import re
from dataclasses import replace
from datetime import date, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from longtail.core.motion.ctas import PRIORITIES, Cta, CtaTransitionError
from longtail.settings import Workspace
from longtail.store import tables
from longtail.store.db import make_engine, migrate
from longtail.store.motion import MotionStore, WorklistQuery, cta_row
from longtail.store.users import UserStore
from longtail.web.routes_worklist import DEFAULT_STATUSES, Filters, reassign, select_worklist, sort_key
from tests.web.conftest import NOW, log_in

DAY = date(2025, 4, 1)


def _cta(cta_id: str, *, priority: str = "medium", due: date = DAY, owner: str | None = None,
         status: str = "open", account: str = "a1", cta_type: str = "risk") -> Cta:
    return Cta(cta_id=cta_id, account_id=account, cta_type=cta_type, reason="r", playbook_id="p",  # type: ignore[arg-type]
               definition_hash="h", priority=priority, due=due, title="t", status=status,  # type: ignore[arg-type]
               owner_id=owner, created_on=DAY, updated_on=DAY, last_fired_on=DAY)


@given(st.lists(st.tuples(st.sampled_from(PRIORITIES), st.integers(0, 30)), max_size=12))
def test_sorted_by_priority_then_due(specs: list[tuple[str, int]]) -> None:
    ctas = [_cta(f"c{i}", priority=p, due=DAY + timedelta(days=d)) for i, (p, d) in enumerate(specs)]
    shown = select_worklist(ctas, Filters(view="all"), member_id=None, my_tiers=[], tiers={})
    ranks = [(-PRIORITIES.index(c.priority), c.due) for c in shown]
    assert ranks == sorted(ranks) and len(shown) == len(ctas)


def test_mine_pool_and_filters() -> None:
    ctas = [_cta("mine", owner="m1"), _cta("theirs_in_my_tier", owner="m2", account="a2"),
            _cta("unowned_other_tier", account="a3"), _cta("done_mine", owner="m1", status="done"),
            _cta("renewal", owner="m1", cta_type="renewal")]
    tiers = {"a1": "pooled", "a2": "pooled", "a3": "mid"}

    def ids(filters: Filters, my_tiers: list[str]) -> list[str]:
        return sorted(c.cta_id for c in select_worklist(ctas, filters, member_id="m1", my_tiers=my_tiers, tiers=tiers))

    assert ids(Filters(view="mine"), ["pooled"]) == ["mine", "renewal"]
    assert ids(Filters(view="pool"), ["pooled"]) == ["theirs_in_my_tier"]
    assert ids(Filters(view="pool"), []) == ["theirs_in_my_tier", "unowned_other_tier"]
    assert ids(Filters(view="mine", status="done"), []) == ["done_mine"]
    assert ids(Filters(view="all", cta_type="renewal"), []) == ["renewal"]
    assert ids(Filters(view="all", tier="mid"), []) == ["unowned_other_tier"]
    assert ids(Filters(view="all", owner="m2"), []) == ["theirs_in_my_tier"]
    assert sort_key(_cta("x", priority="urgent")) < sort_key(_cta("y", priority="low"))


def test_reassign_rules() -> None:
    cta = _cta("c", owner="m1")
    moved = reassign(cta, "m2", " overloaded ", DAY)
    assert (moved.owner_id, moved.owner_reason) == ("m2", "overloaded")
    for target, reason, which in (("m1", "x", cta), ("m2", " ", cta), ("m2", "x", _cta("d", status="done"))):
        with pytest.raises(CtaTransitionError):
            reassign(which, target, reason, DAY)


def _row_ids(html: str) -> list[str]:
    return re.findall(r'href="/cta/([^"]+)"', html)


def test_worklist_page_shows_my_ctas_in_order(client: TestClient) -> None:
    log_in(client, "csm1@vendor.test")
    page = client.get("/worklist")
    assert page.status_code == 200
    assert _row_ids(page.text) == ["cta_a2_urgent", "cta_a1_low"]  # urgent before high, whatever the due date
    assert "Beta Inc" in page.text and 'name="csrf_token"' in page.text
    pool = client.get("/worklist", params={"view": "pool"})
    assert _row_ids(pool.text) == ["cta_hostile"]  # csm1 covers the pooled tier; a3 is mid
    assert _row_ids(client.get("/worklist", params={"view": "all", "tier": "mid"}).text) == ["cta_a3_other"]
    assert _row_ids(client.get("/worklist", params={"view": "all", "type": "renewal"}).text) == ["cta_a2_urgent"]
    assert client.get("/worklist", params={"status": "nope"}).status_code == 400


def test_cta_page_shows_script_reason_inputs_and_account(client: TestClient) -> None:
    log_in(client, "csm1@vendor.test")
    page = client.get("/cta/cta_a1_low").text
    for needle in ("Ask what blocks them.", "usage drop", "events_28d", "Acme", "pooled", "1,200", "reason for a1",
                   "Send summary", 'action="/cta/cta_a1_low/snooze"'):
        assert needle in page, needle
    assert "/reassign" not in page  # a CSM is not offered the lead's move
    assert client.get("/cta/nope", headers={"accept": "text/html"}).status_code == 404


def test_done_from_the_worklist_records_actor_and_goes_back(ws: Workspace, client: TestClient) -> None:
    token = log_in(client, "csm1@vendor.test")
    response = client.post("/cta/cta_a1_low/done", data={"csrf_token": token, "note": "called them",
                                                         "next": "/worklist?view=mine"})
    assert response.status_code == 303 and response.headers["location"] == "/worklist?view=mine"
    motion = MotionStore(make_engine(ws.database_url))
    cta = motion.get_cta("cta_a1_low")
    assert cta is not None and (cta.status, cta.closed_on, cta.close_reason) == ("done", NOW.date(), "called them")
    assert motion.history("cta_a1_low")[-1]["actor"] == "m_csm1"
    assert UserStore(make_engine(ws.database_url)).audit_entries(object_id="cta_a1_low")[0]["action"] == "cta.done"
    assert "cta_a1_low" not in _row_ids(client.get("/worklist").text)


def test_snooze_needs_a_reason_and_a_later_day(ws: Workspace, client: TestClient) -> None:
    token = log_in(client, "csm1@vendor.test")
    refused = client.post("/cta/cta_a1_low/snooze", data={"csrf_token": token, "until": "2025-04-30", "reason": ""})
    assert refused.status_code == 409 and "needs a reason" in refused.text
    past = client.post("/cta/cta_a1_low/snooze", data={"csrf_token": token, "until": "2025-04-01", "reason": "x"})
    assert past.status_code == 409
    ok = client.post("/cta/cta_a1_low/snooze", data={"csrf_token": token, "until": "2025-04-30",
                                                     "reason": "on holiday"})
    assert ok.status_code == 303
    cta = MotionStore(make_engine(ws.database_url)).get_cta("cta_a1_low")
    assert cta is not None and (cta.status, cta.snoozed_until, cta.snooze_reason) == (
        "snoozed", date(2025, 4, 30), "on holiday")


def test_start_twice_is_a_conflict_not_a_crash(client: TestClient) -> None:
    token = log_in(client, "csm1@vendor.test")
    assert client.post("/cta/cta_a1_low/start", data={"csrf_token": token}).status_code == 303
    again = client.post("/cta/cta_a1_low/start", data={"csrf_token": token})
    assert again.status_code == 409 and "in_progress" in again.text


def test_lead_reassigns_to_a_team_member_only(ws: Workspace, client: TestClient) -> None:
    token = log_in(client, "lead@vendor.test")
    bad = client.post("/cta/cta_a3_other/reassign", data={"csrf_token": token, "owner_id": "ghost", "reason": "x"})
    assert bad.status_code == 409 and "not a member" in bad.text
    ok = client.post("/cta/cta_a3_other/reassign", data={"csrf_token": token, "owner_id": "m_csm1",
                                                         "reason": "csm2 is away"})
    assert ok.status_code == 303
    cta = MotionStore(make_engine(ws.database_url)).get_cta("cta_a3_other")
    assert cta is not None and (cta.owner_id, cta.owner_reason) == ("m_csm1", "csm2 is away")


def test_unknown_move_is_refused(client: TestClient) -> None:
    token = log_in(client, "lead@vendor.test")
    assert client.post("/cta/cta_a1_low/explode", data={"csrf_token": token}).status_code == 400


def test_search_finds_accounts_and_contacts(client: TestClient) -> None:
    log_in(client, "viewer@vendor.test")
    page = client.get("/search", params={"q": "acme"}).text
    assert 'href="/accounts/a1"' in page and "jo@acme.test" in page
    assert "No contact matches" in client.get("/search", params={"q": "gamma"}).text
    assert client.get("/").headers["location"] == "/worklist"


# ---------------------------------------------------------------------------------------------- SQL = reference


@pytest.fixture(scope="module")
def sql_store(tmp_path_factory: pytest.TempPathFactory) -> MotionStore:
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('wl') / 'state.db'}")
    migrate(engine)
    return MotionStore(engine)


_CTA_SPECS = st.lists(st.tuples(
    st.sampled_from(PRIORITIES), st.integers(0, 5), st.sampled_from([None, "m1", "m2"]),
    st.sampled_from(["open", "in_progress", "snoozed", "done", "cancelled"]), st.sampled_from(["a1", "a2", "a3", "a4"]),
    st.sampled_from(["risk", "renewal"]), st.sampled_from([None, "m1", "lead"])), max_size=25)
_FILTERS = st.builds(Filters, view=st.sampled_from(["mine", "pool", "all"]),
                     status=st.sampled_from([None, "open", "done"]), cta_type=st.sampled_from([None, "risk"]),
                     owner=st.sampled_from([None, "m1", "m2"]), tier=st.sampled_from([None, "pooled", "mid"]))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(specs=_CTA_SPECS, filters=_FILTERS, member=st.sampled_from([None, "m1"]),
       my_tiers=st.sampled_from([(), ("pooled",), ("pooled", "mid")]), limit=st.sampled_from([3, 500]))
def test_sql_worklist_equals_the_reference(sql_store: MotionStore, specs: list[tuple[Any, ...]], filters: Filters, *,
                                           member: str | None, my_tiers: tuple[str, ...], limit: int) -> None:
    """The page the database cuts is the pure selection's first `limit` rows, in the same order, tiers included
    (a4 has no tier: it is never in a pool restricted to tiers, nor under a tier filter)."""
    _check_sql_worklist(sql_store, specs, filters, member, my_tiers, limit)


def _check_sql_worklist(store: MotionStore, specs: list[tuple[Any, ...]], filters: Filters,  # noqa: PLR0917
                        member: str | None, my_tiers: tuple[str, ...], limit: int) -> None:
    ctas = [replace(_cta(f"c{i:02d}", priority=p, due=DAY + timedelta(days=d), owner=o, status=s, account=a,
                         cta_type=t), escalated_to=e) for i, (p, d, o, s, a, t, e) in enumerate(specs)]
    tiers = {"a1": "pooled", "a2": "pooled", "a3": "mid"}
    with store.engine.begin() as conn:
        conn.execute(tables.ctas.delete())
        conn.execute(tables.tier_history.delete())
        conn.execute(tables.tier_history.insert(), [{"account_id": a, "tier": t, "entered": DAY, "left": None,
                                                     "reason": "test"} for a, t in tiers.items()]
                     + [{"account_id": "a4", "tier": "mid", "entered": DAY - timedelta(days=9), "left": DAY,
                         "reason": "left its tier"}])
        if ctas:
            conn.execute(tables.ctas.insert(), [cta_row(c) for c in ctas])
    want = select_worklist(ctas, filters, member_id=member, my_tiers=my_tiers, tiers=tiers)
    page = store.worklist(WorklistQuery(
        statuses=DEFAULT_STATUSES if filters.status is None else frozenset({filters.status}), view=filters.view,
        cta_type=filters.cta_type, owner=filters.owner, tier=filters.tier, member_id=member, member_tiers=my_tiers,
        limit=limit))
    assert [c.cta_id for c in page.ctas] == [c.cta_id for c in want[:limit]]
    assert page.ctas == want[:limit] and page.total == len(want)
    assert page.tiers == {c.account_id: tiers[c.account_id] for c in page.ctas if c.account_id in tiers}


@pytest.fixture
def pg_store(pg_engine: Engine) -> MotionStore:
    migrate(pg_engine)
    return MotionStore(pg_engine)


@pytest.mark.postgres
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(specs=_CTA_SPECS, filters=_FILTERS, member=st.sampled_from([None, "m1"]),
       my_tiers=st.sampled_from([(), ("pooled",), ("pooled", "mid")]), limit=st.sampled_from([3, 500]))
def test_sql_worklist_equals_the_reference_on_postgres(pg_store: MotionStore, specs: list[tuple[Any, ...]],
                                                       filters: Filters, *, member: str | None,
                                                       my_tiers: tuple[str, ...], limit: int) -> None:
    """The same check on PostgreSQL: NULL owners, the CASE ranking and LIMIT must agree there too."""
    _check_sql_worklist(pg_store, specs, filters, member, my_tiers, limit)


def test_worklist_pages_keep_the_filters_and_the_order(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    log_in(client, "lead@vendor.test")
    everything = _row_ids(client.get("/worklist", params={"view": "all"}).text)
    assert len(everything) >= 3
    monkeypatch.setattr("longtail.web.routes_worklist.PAGE_SIZE", 2)
    first = client.get("/worklist", params={"view": "all"}).text
    assert _row_ids(first) == everything[:2] and f"{len(everything)} CTAs, showing 1–2" in first
    nxt = re.search(r'href="([^"]+)" rel="next"', first)
    assert nxt is not None and html.unescape(nxt.group(1)) == "/worklist?view=all&page=2"
    second = client.get(html.unescape(nxt.group(1))).text
    assert _row_ids(second) == everything[2:4] and 'rel="prev"' in second
    pooled = client.get("/worklist", params={"view": "all", "tier": "pooled", "page": 1}).text
    link = re.search(r'href="([^"]+)" rel="next"', pooled)
    assert link is None or "tier=pooled" in link.group(1)
    past = client.get("/worklist", params={"view": "all", "page": 50}).text
    assert _row_ids(past) == [] and "past the last CTA" in past
    for bad in ("0", "-1", "x", "1000001"):
        assert client.get("/worklist", params={"page": bad}).status_code == 422
