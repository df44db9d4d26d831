"""The read-mostly cockpit pages: Account 360 (with notes), portfolio, segments, playbooks, journeys and search.

The page data comes from `longtail.web.views` (plain functions of the workspace and a day); this module only
picks the day, checks who may do what, and renders.

Which day a page shows (`as_of`):

* Portfolio, segments and playbooks show the latest day with stored health up to today (the app clock's
  date in the workspace time zone), or today when nothing is stored yet: they summarise what the daily run
  computed, and the last day it wrote is the day on which bands, memberships and hits all agree.
* The account page is dated today, so notes and CTA moves made today are on its timeline; its health is the
  latest stored day up to today, labelled with that day.
* The journey report is as of now (the app clock's instant): it reads only the operational store, which is
  always current.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from longtail.analytics import health_store
from longtail.analytics.connect import workspace_feature_defs
from longtail.core.journeys.lift import Difference
from longtail.errors import UsageError
from longtail.runner import backtest_store
from longtail.runner.journey_report import JourneyStats, journey_report
from longtail.runner.journeys import workspace_journeys
from longtail.store.entities import account_names
from longtail.store.users import Note, User
from longtail.web.auth import LEAD_ROLES, WebState, can_write_notes, require_user, web_state
from longtail.web.motion_cache import cached_motion
from longtail.web.routes_worklist import team_members
from longtail.web.templating import render
from longtail.web.views import charts
from longtail.web.views._shared import account_link
from longtail.web.views.account import account_view
from longtail.web.views.motion_pages import playbooks_view, segments_view
from longtail.web.views.portfolio import portfolio_view
from longtail.web.views.search import search as search_hits

router = APIRouter(include_in_schema=False)

MAX_NOTE_CHARS = 5000
"""A note is a few paragraphs; a longer text is a paste accident (the form's textarea has the same limit)."""



# ---------------------------------------------------------------------------------------------- days and motion


def page_day(state: WebState) -> date:
    """The day the dashboards show: the latest stored health day up to today, else today."""
    today = state.today()
    stored = [d for d in health_store.stored_dates(state.ws) if d <= today]
    return max(stored) if stored else today


# ---------------------------------------------------------------------------------------------- home and search


def landing_for(user: User) -> str:
    """Where `/` sends `user`: leads and admins judge the motion from the portfolio; CSMs work from their
    worklist, and so do viewers, who follow the team's queue read-only."""
    return "/portfolio" if user.role in LEAD_ROLES else "/worklist"


@router.get("/")
def home(user: Annotated[User, Depends(require_user)]) -> RedirectResponse:
    """Each role's landing page (see `landing_for`)."""
    return RedirectResponse(landing_for(user), status_code=303)


@router.get("/search", response_class=HTMLResponse)
def search(request: Request, user: Annotated[User, Depends(require_user)], q: str = "") -> HTMLResponse:
    """The global search box: accounts by id or name, then contacts by name, email or id."""
    hits = search_hits(web_state(request).ws, q)
    return render(request, "pages/search.html", {"q": q, "hits": hits})


# ---------------------------------------------------------------------------------------------- account 360


@dataclass(frozen=True)
class PageNote:
    """A stored note as the account view wants it (`text`), with the author's name when they are on the team."""

    at: datetime
    author: str
    text: str


def page_notes(notes: Sequence[Note], names: dict[str, str]) -> list[PageNote]:
    return [PageNote(n.at, names.get(n.author, n.author), n.body) for n in notes]


def _account_page(request: Request, user: User, account_id: str, *, note_error: str | None = None,
                  note_text: str = "", status_code: int = 200) -> HTMLResponse:
    state = web_state(request)
    team = team_members(state.motion.engine)
    notes = page_notes(state.users.notes_for(account_id), team)
    attribute = cached_motion(state.ws).team.routing.named_csm_attribute
    view = account_view(state.ws, account_id, state.today(), notes, named_csm_attribute=attribute)
    if view is None:
        raise HTTPException(404, f"no account {account_id!r}")
    return render(request, "pages/account.html", {
        "view": view, "sparkline": charts.health_sparkline(view.history), "can_add_note": can_write_notes(user),
        "note_error": note_error, "note_text": note_text, "max_note": MAX_NOTE_CHARS,
    }, status_code=status_code)


@router.get("/accounts/{account_id}", response_class=HTMLResponse)
def account_page(request: Request, account_id: str, user: Annotated[User, Depends(require_user)]) -> HTMLResponse:
    """Account 360: money, owner, health and its reasons, the merged timeline, contacts, journeys and notes."""
    return _account_page(request, user, account_id)


@router.post("/accounts/{account_id}/notes", response_class=HTMLResponse)
def add_note(request: Request, account_id: str, user: Annotated[User, Depends(require_user)], *,
             text: Annotated[str, Form()] = "") -> Response:
    """Add a note (CSMs, leads, admins); the store writes the audit line in the same transaction."""
    if not can_write_notes(user):
        raise HTTPException(403, f"your role ({user.role}) may not add notes")
    state = web_state(request)
    if not account_names(state.motion.engine, [account_id]):
        raise HTTPException(404, f"no account {account_id!r}")
    error = None
    if len(text) > MAX_NOTE_CHARS:
        error = f"A note can be at most {MAX_NOTE_CHARS:,} characters; this one has {len(text):,}. Shorten it."
    else:
        try:
            state.users.add_note(account_id, user.actor, text)
        except UsageError as exc:
            error = f"Not saved: {exc}."
    if error is not None:
        # The page again, with the text kept, so nothing typed is lost.
        return _account_page(request, user, account_id, note_error=error, note_text=text[:MAX_NOTE_CHARS],
                             status_code=400)
    return RedirectResponse(account_link(account_id) + "#timeline-h", status_code=303)


# ---------------------------------------------------------------------------------------------- dashboards


@router.get("/portfolio", response_class=HTMLResponse)
def portfolio(request: Request, user: Annotated[User, Depends(require_user)]) -> HTMLResponse:
    """Retention, health bands over time, the book by tier and segment, coverage, leading and lagging indicators."""
    state = web_state(request)
    view = portfolio_view(state.ws, page_day(state))
    pictures = {"retention": charts.retention_chart(view.months), "bands": charts.bands_chart(view.bands)}
    return render(request, "pages/portfolio.html", {"view": view, "charts": pictures})


@router.get("/segments", response_class=HTMLResponse)
def segments(request: Request, user: Annotated[User, Depends(require_user)]) -> HTMLResponse:
    """Every segment: its definition, members, their ARR and recent entries and exits."""
    state = web_state(request)
    return render(request, "pages/segments.html", {"view": segments_view(state.ws, page_day(state))})


@router.get("/playbooks", response_class=HTMLResponse)
def playbooks(request: Request, user: Annotated[User, Depends(require_user)]) -> HTMLResponse:
    """Every playbook: definition, fires, measured success rate, and the latest kept backtest."""
    state = web_state(request)
    view = playbooks_view(state.ws, page_day(state), backtest_store.latest(state.ws))
    return render(request, "pages/playbooks.html", {"view": view})


# ---------------------------------------------------------------------------------------------- journeys


@dataclass(frozen=True)
class IntervalMarks:
    """Where to draw a lift and its interval on a bar centred on zero, as percentages of the bar's width."""

    low: float
    high: float
    point: float
    zero: float = 50.0


def interval_marks(diff: Difference) -> IntervalMarks:
    """Place `diff` on a symmetric scale just wider than its interval, so narrow intervals stay visible."""
    span = max(abs(diff.low), abs(diff.high), 0.05) * 1.1

    def at(value: float) -> float:
        return round(50.0 + 50.0 * value / span, 2)

    return IntervalMarks(at(diff.low), at(diff.high), at(diff.estimate))


@dataclass(frozen=True)
class JourneyCard:
    stats: JourneyStats
    marks: IntervalMarks | None


def journey_cards(stats: Sequence[JourneyStats]) -> list[JourneyCard]:
    return [JourneyCard(s, interval_marks(s.lift.difference) if s.lift and s.lift.difference else None)
            for s in stats]


@router.get("/journeys", response_class=HTMLResponse)
def journeys(request: Request, user: Annotated[User, Depends(require_user)]) -> HTMLResponse:
    """Per journey: entries, the funnel per step, exits, and the goal's lift over the holdout with its interval."""
    state = web_state(request)
    now = state.clock().astimezone(UTC)
    # Only the definitions: the contacts a run needs (journey_context) would be read on every request.
    found = workspace_journeys(state.ws, cached_motion(state.ws), workspace_feature_defs(state.ws).names)
    stats = journey_report(state.motion.engine, found[0].journeys if found else {}, now)
    values: dict[str, Any] = {"cards": journey_cards(stats), "as_of": now}
    return render(request, "pages/journeys.html", values)
