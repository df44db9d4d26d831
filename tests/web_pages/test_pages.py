"""The cockpit pages through the app: who sees what, 404s, notes (CSRF, roles, limits, audit), escaping,
the landing page per role, the day the dashboards show, and the journeys page."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st

from longtail.core.journeys.lift import lift, newcombe
from longtail.runner.journey_report import JourneyStats, StepFunnel
from longtail.settings import Workspace, copy_example
from longtail.store.db import make_engine
from longtail.store.users import UserStore
from longtail.web import create_app
from longtail.web.routes_pages import MAX_NOTE_CHARS, interval_marks, journey_cards, page_day
from longtail.web.templating import templates
from tests.web.conftest import HOSTILE, NOW, USERS, log_in

assert USERS["csm1@vendor.test"] == ("csm", "m_csm1")  # the CSM below is member m_csm1 (Cam One)

EMAIL = {"viewer": "viewer@vendor.test", "csm": "csm1@vendor.test", "lead": "lead@vendor.test",
         "admin": "admin@vendor.test"}
ESCAPED_HOSTILE = "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; O&#39;Brien &amp; &#34;Sons&#34;"
PAGES = {
    "/accounts/a1": "Acme",
    "/portfolio": "Leading and lagging indicators",
    "/segments": "Segments",
    "/playbooks": "Playbooks",
    "/journeys": "No journeys are defined",
    "/search?q=acme": "jo@acme.test",
}


def _store(ws: Workspace) -> UserStore:
    return UserStore(make_engine(ws.database_url), lambda: NOW)


@pytest.mark.parametrize("role", ["viewer", "csm", "lead", "admin"])
def test_every_page_renders_for_every_role(client: TestClient, role: str) -> None:
    log_in(client, EMAIL[role])
    for path, text in PAGES.items():
        page = client.get(path)
        assert page.status_code == 200, (role, path, page.text[:300])
        assert text in page.text, (role, path)
        assert '<nav aria-label="Main">' in page.text
    account = client.get("/accounts/a1").text
    # Only roles that may write notes get the form.
    assert ('class="note-form"' in account) == (role != "viewer")


def test_account_page_shows_health_on_the_latest_stored_day(client: TestClient) -> None:
    log_in(client, EMAIL["viewer"])
    page = client.get("/accounts/a1").text
    # The clock says 2025-04-15; health was stored for 2025-04-14 and is shown with its own day.
    assert "band-red" in page and "Components on 2025-04-14" in page and "reason for a1" in page
    assert "<svg" in page and "Call about usage drop" in page  # sparkline and the CTA on the timeline


def test_unknown_account_is_a_404_page(client: TestClient) -> None:
    token = log_in(client, EMAIL["lead"])
    page = client.get("/accounts/nope", headers={"accept": "text/html"})
    assert page.status_code == 404 and "no account &#39;nope&#39;" in page.text and "<h1>404</h1>" in page.text
    note = client.post("/accounts/nope/notes", data={"text": "hello", "csrf_token": token})
    assert note.status_code == 404


def test_a_csm_adds_a_note_which_is_audited_and_shown(ws: Workspace, client: TestClient) -> None:
    token = log_in(client, EMAIL["csm"])
    response = client.post("/accounts/a1/notes", data={"text": "  Spoke to Jo: <b>renewal</b> looks fine.  ",
                                                       "csrf_token": token})
    assert response.status_code == 303 and response.headers["location"] == "/accounts/a1#timeline-h"
    notes = _store(ws).notes_for("a1")
    assert [(n.author, n.body) for n in notes] == [("m_csm1", "Spoke to Jo: <b>renewal</b> looks fine.")]
    audit = _store(ws).audit_entries(object_type="account", object_id="a1")
    assert [(a["actor"], a["action"], a["detail"]["note_id"]) for a in audit] == [
        ("m_csm1", "note.add", notes[0].note_id)]
    page = client.get("/accounts/a1").text
    # The author's team name, the text escaped, on the timeline as a note.
    assert "Note by Cam One" in page and "&lt;b&gt;renewal&lt;/b&gt;" in page and 'tl-item tl-note' in page


def test_note_needs_csrf_and_a_writing_role(ws: Workspace, app: FastAPI, client: TestClient) -> None:
    log_in(client, EMAIL["csm"])
    assert client.post("/accounts/a1/notes", data={"text": "no token"}).status_code == 403
    assert client.post("/accounts/a1/notes", data={"text": "bad", "csrf_token": "forged"}).status_code == 403
    with TestClient(app, follow_redirects=False) as other:
        viewer = log_in(other, EMAIL["viewer"])
        refused = other.post("/accounts/a1/notes", data={"text": "viewer note", "csrf_token": viewer},
                             headers={"accept": "text/html"})
    assert refused.status_code == 403 and "may not add notes" in refused.text
    assert _store(ws).notes_for("a1") == []


def test_empty_and_too_long_notes_are_refused_with_the_text_kept(ws: Workspace, client: TestClient) -> None:
    token = log_in(client, EMAIL["lead"])
    empty = client.post("/accounts/a1/notes", data={"text": "   ", "csrf_token": token})
    assert empty.status_code == 400 and "Not saved: a note needs some text" in empty.text
    long_text = "x" * (MAX_NOTE_CHARS + 1)
    refused = client.post("/accounts/a1/notes", data={"text": long_text, "csrf_token": token})
    assert refused.status_code == 400
    assert f"at most {MAX_NOTE_CHARS:,} characters; this one has {MAX_NOTE_CHARS + 1:,}" in refused.text
    assert "x" * MAX_NOTE_CHARS + "</textarea>" in refused.text  # what was typed is kept (up to the limit)
    assert _store(ws).notes_for("a1") == []
    exact = client.post("/accounts/a1/notes", data={"text": "y" * MAX_NOTE_CHARS, "csrf_token": token})
    assert exact.status_code == 303 and len(_store(ws).notes_for("a1")) == 1


def test_hostile_names_and_notes_render_escaped(ws: Workspace, client: TestClient) -> None:
    token = log_in(client, EMAIL["lead"])
    payload = HOSTILE + ' <img src=x onerror="alert(1)">'
    assert client.post("/accounts/hostile/notes", data={"text": payload, "csrf_token": token}).status_code == 303
    for path in ("/accounts/hostile", "/search?q=script", "/portfolio"):
        page = client.get(path).text
        assert "<script>alert" not in page and "<img src=x" not in page, path
    account = client.get("/accounts/hostile").text
    assert ESCAPED_HOSTILE in account and "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in account
    query = client.get("/search", params={"q": '"><script>alert(2)</script>'}).text
    assert "<script>alert(2)" not in query and "&lt;script&gt;alert(2)" in query


def test_search_groups_accounts_and_contacts(client: TestClient) -> None:
    log_in(client, EMAIL["viewer"])
    page = client.get("/search", params={"q": "beta"}).text
    assert 'href="/accounts/a2"' in page and "max@beta.test" in page
    gamma = client.get("/search", params={"q": "gamma"}).text
    assert 'href="/accounts/a3"' in gamma and "No contact matches" in gamma
    assert "No account matches" in client.get("/search", params={"q": "zzz"}).text
    assert "Type an account name" in client.get("/search").text


@pytest.mark.parametrize(("role", "target"), [("lead", "/portfolio"), ("admin", "/portfolio"),
                                               ("csm", "/worklist"), ("viewer", "/worklist")])
def test_landing_page_per_role(client: TestClient, role: str, target: str) -> None:
    log_in(client, EMAIL[role])
    assert client.get("/").headers["location"] == target


def test_dashboards_show_the_latest_stored_day_up_to_today(ws: Workspace) -> None:
    stored = date(2025, 4, 14)
    for now, expected in ((NOW, stored), (datetime(2025, 4, 14, 23, 0, tzinfo=UTC), stored),
                          (datetime(2025, 4, 13, 12, 0, tzinfo=UTC), date(2025, 4, 13))):
        app = create_app(ws, clock=lambda now=now: now, secure_cookies=False)  # type: ignore[misc]
        assert page_day(app.state.web) == expected


def test_journeys_page_lists_the_example_journeys(ws: Workspace, client: TestClient) -> None:
    copy_example(ws)
    log_in(client, EMAIL["viewer"])
    page = client.get("/journeys")
    assert page.status_code == 200
    ids = ("onboarding_welcome", "onboarding_webinar_invite", "we_noticed", "renewal_value_summary")
    assert all(f">{i}</h2>" in page.text for i in ids)
    # Nobody entered yet: a journey with a goal and a holdout says "not enough data" instead of a number.
    assert 'class="not-enough"' in page.text and "not enough data: 0 treated" in page.text
    assert 'class="ci"' not in page.text


def _stats(journey_id: str, treated: int, converted: int, held: int, held_converted: int) -> JourneyStats:
    funnel = (StepFunnel("welcome", "email", treated + held, treated, treated // 2, treated // 4),
              StepFunnel("pause", "wait", treated))
    return JourneyStats(journey_id, treated + held, treated + held, treated, held, {"active": treated + held}, {},
                        funnel, {}, "events_28d > 10", lift(treated, converted, held, held_converted))


def test_journeys_template_shows_funnel_lift_interval_and_not_enough_data() -> None:
    cards = journey_cards([_stats("big", 400, 120, 100, 20), _stats("tiny", 5, 1, 2, 0)])
    html = templates.get_template("pages/journeys.html").render(
        cards=cards, as_of=datetime(2025, 4, 15, 9, 30, tzinfo=UTC), user=None, nav=(), path="/journeys",
        csrf_token="")
    big, tiny = html.split('id="j-2"')
    diff = newcombe(120, 400, 20, 100)
    assert "Lift +10.0 points" in big and f"{diff.low * 100:+.1f} to {diff.high * 100:+.1f}" in big
    assert 'class="ci"' in big and "treated accounts convert more" in big
    assert re.search(r"welcome</th><td>email</td><td class=\"num\">500</td>", big)
    assert 'class="ci"' not in tiny and "not enough data: 5 treated and 2 held-out accounts" in tiny


@given(st.integers(1, 300), st.integers(1, 300), st.data())
def test_interval_marks_stay_on_the_bar_in_order(n1: int, n2: int, data: st.DataObject) -> None:
    diff = newcombe(data.draw(st.integers(0, n1)), n1, data.draw(st.integers(0, n2)), n2)
    marks = interval_marks(diff)
    assert 0 <= marks.low <= marks.point <= marks.high <= 100
    assert marks.zero == 50.0
    assert (marks.point > 50) == (diff.estimate > 0) or diff.estimate == 0
