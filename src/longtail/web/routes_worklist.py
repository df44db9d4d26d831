"""The worklist (cockpit): my CTAs and my pool's, one CTA with its script and context, the moves, and search.

The moves go through `perform`, shared with the JSON API: it checks the role, applies the validated move from
longtail.core.motion.ctas, saves it with its CTA log line (as `longtail ctas` does) and writes the audit log.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import Engine, func, or_, select

from longtail.analytics import health_store
from longtail.core.motion import ctas as core
from longtail.core.motion.ctas import Cta, CtaTransitionError
from longtail.errors import ConfigError
from longtail.store import tables
from longtail.store.entities import account_names
from longtail.store.motion import WorklistQuery
from longtail.store.users import User
from longtail.web.auth import WebState, can_reassign, can_work, require_user, web_state
from longtail.web.motion_cache import cached_motion
from longtail.web.templating import render

router = APIRouter(include_in_schema=False)
log = logging.getLogger(__name__)

VIEWS = ("mine", "pool", "all")
MOVES = ("start", "done", "snooze", "cancel", "reassign")
DEFAULT_STATUSES = frozenset({"open", "in_progress", "snoozed"})
PAGE_SIZE = 100  # rows per worklist page; the filters narrow the rest, the page links walk it
MAX_PAGE = 100_000
_RANK = {p: i for i, p in enumerate(core.PRIORITIES)}


# ---------------------------------------------------------------------------------------------- selection (pure)


@dataclass(frozen=True)
class Filters:
    view: str = "mine"
    status: str | None = None
    cta_type: str | None = None
    owner: str | None = None
    tier: str | None = None


def sort_key(cta: Cta) -> tuple[int, date, str]:
    """Most urgent priority first, then the soonest due date (id breaks ties so the order is stable)."""
    return (-_RANK[cta.priority], cta.due, cta.cta_id)


def select_worklist(ctas: Iterable[Cta], filters: Filters, *, member_id: str | None, my_tiers: Collection[str],
                    tiers: Mapping[str, str]) -> list[Cta]:
    """The CTAs a worklist shows, sorted.

    `mine`: owned by (or escalated to) the user. `pool`: the rest of the work in the tiers the user covers
    (every tier when the user covers none, e.g. a lead), owned by someone else or by nobody. Without a status
    filter, only workable CTAs show (open, in progress, snoozed).

    This is the specification: the page reads `MotionStore.worklist`, which does the same selection in SQL so
    that only one page of rows is read, and tests/web/test_worklist.py checks the two agree on SQLite and
    PostgreSQL.
    """
    mine = {member_id} if member_id else set()
    chosen = []
    for cta in ctas:
        wanted = DEFAULT_STATUSES if filters.status is None else {filters.status}
        if cta.status not in wanted:
            continue
        if filters.cta_type and cta.cta_type != filters.cta_type:
            continue
        if filters.owner and cta.owner_id != filters.owner:
            continue
        tier = tiers.get(cta.account_id)
        if filters.tier and tier != filters.tier:
            continue
        owned = cta.owner_id in mine or cta.escalated_to in mine
        if filters.view == "mine" and not owned:
            continue
        if filters.view == "pool" and (owned or (my_tiers and tier not in my_tiers)):
            continue
        chosen.append(cta)
    return sorted(chosen, key=sort_key)


def _tier_names(state: WebState) -> list[str]:
    """The tiers to filter by: those the motion declares (reading the names in use scans every account's
    open tier spell, 20+ ms at 100k accounts), or the stored ones when the motion declares none or cannot be
    read right now (a motion file being edited must not take the worklist down; the run reports the error)."""
    try:
        declared = list(cached_motion(state.ws).tier_names())
    except ConfigError as exc:
        log.warning("worklist: the motion cannot be read (%s); tiers listed from the store", exc)
        declared = []
    return declared or state.motion.tier_names()


def page_links(filters: Filters, page: int, total: int) -> dict[str, str]:
    """Links to the previous and next worklist pages (those that exist), keeping the filters."""
    params = {"view": filters.view, "status": filters.status, "type": filters.cta_type, "owner": filters.owner,
              "tier": filters.tier}
    kept = {k: v for k, v in params.items() if v}
    links = {}
    if page > 1:
        links["first"] = "/worklist?" + urlencode(kept)
        links["previous"] = "/worklist?" + urlencode({**kept, "page": min(page - 1, max(1, -(-total // PAGE_SIZE)))})
    if page * PAGE_SIZE < total:
        links["next"] = "/worklist?" + urlencode({**kept, "page": page + 1})
    return links


def reassign(cta: Cta, to_member: str, reason: str, on: date) -> Cta:
    """Give an active CTA to another member; the reason is kept as the owner reason."""
    if not cta.active:
        raise CtaTransitionError(f"cannot reassign CTA {cta.cta_id}: it is {cta.status}")
    if not reason.strip():
        raise CtaTransitionError("reassign needs a reason")
    if to_member == cta.owner_id:
        raise CtaTransitionError(f"CTA {cta.cta_id} is already owned by {to_member}")
    return replace(cta, owner_id=to_member, owner_reason=reason.strip(), updated_on=on)


# ---------------------------------------------------------------------------------------------- moves


@dataclass(frozen=True)
class Move:
    action: str
    note: str | None = None
    until: date | None = None
    reason: str | None = None
    owner_id: str | None = None


def load_cta(state: WebState, cta_id: str) -> Cta:
    cta = state.motion.get_cta(cta_id)
    if cta is None:
        raise HTTPException(404, f"no CTA {cta_id!r}")
    return cta


def perform(state: WebState, user: User, cta_id: str, move: Move) -> Cta:
    """Apply one move for `user`: 403 when their role may not, 409 when the CTA's state does not allow it."""
    if move.action not in MOVES:
        raise HTTPException(400, f"unknown action {move.action!r}; known: {', '.join(MOVES)}")
    cta = load_cta(state, cta_id)
    allowed = can_reassign(user) if move.action == "reassign" else can_work(user, cta)
    if not allowed:
        raise HTTPException(403, f"your role ({user.role}) may not {move.action} this CTA")
    day = state.today()
    follow = None
    detail: dict[str, Any] = {}
    try:
        if move.action == "start":
            new = core.start(cta, day)
        elif move.action == "done":
            new, request = core.complete(cta, day, move.note)
            follow = None if request is None else core.plan_follow_up(new, request, day)
            detail = {"note": move.note} if move.note else {}
        elif move.action == "snooze":
            if move.until is None:
                raise CtaTransitionError("snooze needs a day to wake up on")
            new = core.snooze(cta, move.until, move.reason or "", day)
            detail = {"until": move.until.isoformat(), "reason": new.snooze_reason}
        elif move.action == "cancel":
            new = core.cancel(cta, day, move.reason or "")
            detail = {"reason": new.close_reason}
        else:
            target = (move.owner_id or "").strip()
            if target not in team_members(state.motion.engine):
                raise CtaTransitionError(f"{target!r} is not a member of the team")
            new = reassign(cta, target, move.reason or "", day)
            detail = {"from": cta.owner_id, "to": target, "reason": new.owner_reason}
    except CtaTransitionError as exc:
        raise HTTPException(409, str(exc)) from exc
    state.motion.save_cta(new, move.action, user.actor, detail, follow_up=follow)
    state.users.audit(user.actor, f"cta.{move.action}", "cta", cta_id, detail)
    return new


# ---------------------------------------------------------------------------------------------- store reads


def team_members(engine: Engine) -> dict[str, str]:
    """member_id -> display name, for every member of the team table."""
    t = tables.team_members
    with engine.connect() as conn:
        return {r.member_id: r.name or r.member_id for r in conn.execute(select(t.c.member_id, t.c.name))}


def member_tiers(engine: Engine, member_id: str | None) -> list[str]:
    if member_id is None:
        return []
    t = tables.team_members
    with engine.connect() as conn:
        value = conn.execute(select(t.c.tiers).where(t.c.member_id == member_id)).scalar()
    return [str(v) for v in value] if isinstance(value, list) else []


def account_context(state: WebState, account_id: str) -> dict[str, Any]:
    """What a CSM needs beside a CTA: the account row, tier, ARR, latest health, open CTAs and recent notes."""
    engine = state.motion.engine
    day = state.today()
    with engine.connect() as conn:
        row = conn.execute(select(tables.accounts).where(tables.accounts.c.account_id == account_id)).mappings().first()
        s = tables.subscriptions
        arr = conn.execute(select(func.coalesce(func.sum(s.c.arr), 0)).where(
            s.c.account_id == account_id, s.c.start_date <= day,
            or_(s.c.end_date.is_(None), s.c.end_date > day))).scalar()
    stored = [d for d in health_store.stored_dates(state.ws) if d <= day]
    health = health_store.read_account(state.ws, stored[-1], account_id) if stored else None
    open_ctas = [c for c in state.motion.list_ctas(account=account_id) if c.active]
    return {"account": dict(row) if row is not None else {"account_id": account_id, "name": None},
            "tier": state.motion.current_tiers([account_id]).get(account_id), "arr": float(arr or 0), "health": health,
            "open_ctas": sorted(open_ctas, key=sort_key), "notes": state.users.notes_for(account_id)[:5]}


# ---------------------------------------------------------------------------------------------- pages


def _blank(value: str | None) -> str | None:
    return value.strip() or None if value is not None else None


@router.get("/worklist", response_class=HTMLResponse)
def worklist(request: Request, user: Annotated[User, Depends(require_user)], *, view: str = "mine",
             status: str | None = None, type: str | None = None,
             owner: str | None = None, tier: str | None = None,
             page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1) -> HTMLResponse:
    """My CTAs or the pool's, filtered by status, type, owner and tier from the query string, a page at a time."""
    state = web_state(request)
    filters = Filters(view=view if view in VIEWS else "mine", status=_blank(status), cta_type=_blank(type),
                      owner=_blank(owner), tier=_blank(tier))
    if filters.status is not None and filters.status not in core.STATUSES:
        raise HTTPException(400, f"status must be one of {', '.join(core.STATUSES)}")
    engine = state.motion.engine
    found = state.motion.worklist(WorklistQuery(
        statuses=DEFAULT_STATUSES if filters.status is None else frozenset({filters.status}), view=filters.view,
        cta_type=filters.cta_type, owner=filters.owner, tier=filters.tier, member_id=user.member_id,
        member_tiers=tuple(member_tiers(engine, user.member_id)), limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE))
    shown = found.ctas
    return render(request, "worklist.html", {
        "filters": filters, "rows": shown, "total": found.total, "tiers": found.tiers,
        "first": (page - 1) * PAGE_SIZE + 1, "pages": page_links(filters, page, found.total),
        "names": account_names(engine, sorted({c.account_id for c in shown})), "team": team_members(engine),
        "views": VIEWS, "statuses": core.STATUSES, "types": core.CTA_TYPES, "tier_names": _tier_names(state),
        "today": state.today(), "can_work": {c.cta_id: can_work(user, c) for c in shown},
    })


def _cta_page(request: Request, user: User, cta: Cta, *, error: str | None = None,
              status_code: int = 200) -> HTMLResponse:
    state = web_state(request)
    return render(request, "cta.html", {
        "cta": cta, "history": state.motion.history(cta.cta_id), "context": account_context(state, cta.account_id),
        "team": team_members(state.motion.engine), "may_work": can_work(user, cta), "may_reassign": can_reassign(user),
        "error": error, "today": state.today(),
    }, status_code=status_code)


@router.get("/cta/{cta_id}", response_class=HTMLResponse)
def cta_page(request: Request, cta_id: str, user: Annotated[User, Depends(require_user)]) -> HTMLResponse:
    """One CTA: its script and checklist, why it fired (reason and inputs), its history and the account."""
    return _cta_page(request, user, load_cta(web_state(request), cta_id))


def _parse_day(value: str | None) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise HTTPException(400, f"not a date (YYYY-MM-DD): {value!r}") from None


@router.post("/cta/{cta_id}/{action}", response_class=HTMLResponse)
def cta_move(request: Request, cta_id: str, action: str, user: Annotated[User, Depends(require_user)], *,
             note: Annotated[str | None, Form()] = None, until: Annotated[str | None, Form()] = None,
             reason: Annotated[str | None, Form()] = None, owner_id: Annotated[str | None, Form()] = None,
             next: Annotated[str | None, Form()] = None) -> Response:
    """A move from a form: start, done, snooze (until + reason), cancel (reason) or reassign (owner_id + reason)."""
    state = web_state(request)
    try:
        perform(state, user, cta_id, Move(action, note=_blank(note), until=_parse_day(until), reason=reason,
                                          owner_id=owner_id))
    except HTTPException as exc:
        if exc.status_code not in (400, 409):
            raise
        return _cta_page(request, user, load_cta(state, cta_id), error=str(exc.detail), status_code=exc.status_code)
    target = next if next and next.startswith("/worklist") else f"/cta/{cta_id}"
    return RedirectResponse(target, status_code=303)
