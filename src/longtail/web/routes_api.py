"""JSON API under /api/: accounts, contacts, health, CTAs, segments and metrics, plus /openapi.json and /docs.

Reads take a logged-in user or a read key; changes take a logged-in user (with the CSRF header) whose role
allows them. The response models make /openapi.json describe every answer.
"""

from __future__ import annotations

import math
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import Engine, distinct, func, or_, select

from longtail.analytics import health_store

# The retention computation lives with `longtail metrics`; reusing it keeps one definition of each metric.
from longtail.analytics.retention_run import compute
from longtail.core.motion import ctas as core
from longtail.core.motion.ctas import CreateCta, Cta, CtaRequest, InvalidCtaRequest
from longtail.errors import LongtailError
from longtail.store import tables
from longtail.store.users import User
from longtail.web.auth import Principal, api_reader, api_worker, web_state
from longtail.web.routes_worklist import Move, perform, sort_key
from longtail.web.templating import render

router = APIRouter(prefix="/api", tags=["api"])
meta = APIRouter(include_in_schema=False)

Reader = Annotated[Principal, Depends(api_reader)]
Worker = Annotated[User, Depends(api_worker)]
Limit = Annotated[int, Query(ge=1, le=1000, description="Page size.")]
Offset = Annotated[int, Query(ge=0, le=2**31 - 1, description="Rows to skip.")]


# ---------------------------------------------------------------------------------------------- models


class AccountOut(BaseModel):
    account_id: str
    name: str | None = None
    industry: str | None = None
    country: str | None = None
    employees: int | None = None
    parent_account_id: str | None = None
    created_at: str | None = None
    attributes: dict[str, Any] = Field(default_factory=dict)


class AccountPage(BaseModel):
    total: int
    items: list[AccountOut]


class AccountDetail(AccountOut):
    tier: str | None = None
    arr: float = Field(description="Sum of the ARR of the subscriptions active today.")
    health: HealthOut | None = None


class ContactOut(BaseModel):
    contact_id: str
    account_id: str
    email: str | None = None
    name: str | None = None
    role: str | None = None
    title: str | None = None


class ContactPage(BaseModel):
    total: int
    items: list[ContactOut]


class HealthOut(BaseModel):
    account_id: str
    as_of: date
    score: float
    band: str
    components: list[dict[str, Any]] = Field(default_factory=list)
    reasons: list[str] = Field(default_factory=list)
    path_to_green: list[dict[str, Any]] = Field(default_factory=list)
    change_7d: float | None = None
    change_30d: float | None = None


class HealthPoint(BaseModel):
    as_of: date
    score: float
    band: str


class CtaOut(BaseModel):
    cta_id: str
    account_id: str
    cta_type: str
    reason: str
    playbook_id: str
    priority: str
    due: date
    title: str
    script: str
    inputs: dict[str, Any]
    checklist: list[str]
    status: str
    owner_id: str | None
    owner_reason: str | None
    created_on: date
    updated_on: date
    snoozed_until: date | None
    snooze_reason: str | None
    escalated_to: str | None
    closed_on: date | None
    close_reason: str | None
    follow_up_of: str | None


class CtaCreate(BaseModel):
    account_id: str = Field(min_length=1)
    cta_type: Literal["risk", "renewal", "expansion", "onboarding", "advocacy", "lifecycle"]
    reason: str = Field(min_length=1, description="Why; with the account and type it is the CTA's dedupe key.")
    priority: Literal["low", "medium", "high", "urgent"] = "medium"
    due: date
    title: str = Field(min_length=1)
    script: str = ""
    checklist: list[str] = Field(default_factory=list)
    owner_id: str | None = Field(None, description="Default: the creator's team member id.")


class CtaTransition(BaseModel):
    action: Literal["start", "done", "snooze", "cancel", "reassign"]
    note: str | None = None
    until: date | None = Field(None, description="snooze: the day it wakes up.")
    reason: str | None = Field(None, description="snooze, cancel, reassign: why (required).")
    owner_id: str | None = Field(None, description="reassign: the new owner's member id.")


class SegmentOut(BaseModel):
    segment_id: str
    members: int


class SegmentMembers(BaseModel):
    segment_id: str
    account_ids: list[str]


AccountDetail.model_rebuild()


def cta_out(cta: Cta) -> CtaOut:
    return CtaOut(**{name: getattr(cta, name) for name in CtaOut.model_fields if name not in ("inputs", "checklist")},
                  inputs=dict(cta.inputs), checklist=list(cta.checklist))


def _account(row: dict[str, Any]) -> AccountOut:
    created = row.get("created_at")
    return AccountOut(account_id=row["account_id"], name=row.get("name"), industry=row.get("industry"),
                      country=row.get("country"), employees=row.get("employees"),
                      parent_account_id=row.get("parent_account_id"),
                      created_at=None if created is None else created.isoformat(),
                      attributes=row.get("attributes") or {})


def _engine(request: Request) -> Engine:
    return web_state(request).motion.engine


# ---------------------------------------------------------------------------------------------- accounts, contacts


@router.get("/accounts", response_model=AccountPage)
def list_accounts(request: Request, _who: Reader, q: str | None = None, limit: Limit = 50,
                  offset: Offset = 0) -> AccountPage:
    """Accounts by name, optionally searched by id or name (case-insensitive substring)."""
    t = tables.accounts
    where = []
    if q and q.strip():
        text = q.strip().lower()
        where.append(or_(func.lower(t.c.account_id).contains(text, autoescape=True),
                         func.lower(t.c.name).contains(text, autoescape=True)))
    with _engine(request).connect() as conn:
        total = int(conn.execute(select(func.count()).select_from(t).where(*where)).scalar_one())
        rows = conn.execute(select(t).where(*where).order_by(t.c.name, t.c.account_id).limit(limit).offset(offset))
        items = [_account(dict(r)) for r in rows.mappings()]
    return AccountPage(total=total, items=items)


def _latest_health(request: Request, account_id: str, as_of: date | None) -> HealthOut | None:
    state = web_state(request)
    day = as_of or state.today()
    stored = [d for d in health_store.stored_dates(state.ws) if d <= day]
    row = health_store.read_account(state.ws, stored[-1], account_id) if stored else None
    return None if row is None else HealthOut(**{k: row[k] for k in HealthOut.model_fields if k in row})


@router.get("/accounts/{account_id}", response_model=AccountDetail, responses={404: {"description": "No such account"}})
def get_account(request: Request, account_id: str, _who: Reader) -> AccountDetail:
    """One account with its tier, current ARR and latest health."""
    state = web_state(request)
    day = state.today()
    s = tables.subscriptions
    with _engine(request).connect() as conn:
        row = conn.execute(select(tables.accounts).where(tables.accounts.c.account_id == account_id)).mappings().first()
        if row is None:
            raise HTTPException(404, f"no account {account_id!r}")
        arr = conn.execute(select(func.coalesce(func.sum(s.c.arr), 0)).where(
            s.c.account_id == account_id, s.c.start_date <= day,
            or_(s.c.end_date.is_(None), s.c.end_date > day))).scalar()
    base = _account(dict(row))
    tier = state.motion.current_tiers([account_id]).get(account_id)
    return AccountDetail(**base.model_dump(), tier=tier, arr=float(arr or 0),
                         health=_latest_health(request, account_id, None))


@router.get("/contacts", response_model=ContactPage)
def list_contacts(request: Request, _who: Reader, account_id: str | None = None, q: str | None = None,
                  limit: Limit = 50, offset: Offset = 0) -> ContactPage:
    """Contacts, optionally of one account and searched by email or name."""
    t = tables.contacts
    where = []
    if account_id:
        where.append(t.c.account_id == account_id)
    if q and q.strip():
        text = q.strip().lower()
        where.append(or_(func.lower(t.c.email).contains(text, autoescape=True),
                         func.lower(t.c.name).contains(text, autoescape=True)))
    with _engine(request).connect() as conn:
        total = int(conn.execute(select(func.count()).select_from(t).where(*where)).scalar_one())
        rows = conn.execute(select(t).where(*where).order_by(t.c.contact_id).limit(limit).offset(offset)).mappings()
        items = [ContactOut(**{k: r[k] for k in ContactOut.model_fields}) for r in rows]
    return ContactPage(total=total, items=items)


# ---------------------------------------------------------------------------------------------- health


@router.get("/health/{account_id}", response_model=HealthOut, responses={404: {"description": "No stored health"}})
def current_health(request: Request, account_id: str, _who: Reader, as_of: date | None = None) -> HealthOut:
    """The account's health on the latest stored day up to `as_of` (default today)."""
    found = _latest_health(request, account_id, as_of)
    if found is None:
        raise HTTPException(404, f"no stored health for {account_id!r}")
    return found


@router.get("/health/{account_id}/history", response_model=list[HealthPoint])
def health_history(request: Request, account_id: str, _who: Reader,
                   start: Annotated[date | None, Query(alias="from")] = None,
                   end: Annotated[date | None, Query(alias="to")] = None) -> list[HealthPoint]:
    """Score and band per stored day between `from` and `to` (inclusive), oldest first."""
    ws = web_state(request).ws
    points = []
    for day in health_store.stored_dates(ws):
        if (start and day < start) or (end and day > end):
            continue
        row = health_store.read_account(ws, day, account_id)
        if row is not None:
            points.append(HealthPoint(as_of=day, score=row["score"], band=row["band"]))
    return points


# ---------------------------------------------------------------------------------------------- CTAs


@router.get("/ctas", response_model=list[CtaOut])
def list_ctas(request: Request, _who: Reader, status: str | None = None, owner: str | None = None,
              account: str | None = None) -> list[CtaOut]:
    """CTAs filtered by status, owner and account, most urgent first, then soonest due."""
    if status is not None and status not in core.STATUSES:
        raise HTTPException(400, f"status must be one of {', '.join(core.STATUSES)}")
    found = web_state(request).motion.list_ctas(status=status, owner=owner, account=account)
    return [cta_out(c) for c in sorted(found, key=sort_key)]


@router.get("/ctas/{cta_id}", response_model=CtaOut, responses={404: {"description": "No such CTA"}})
def get_cta(request: Request, cta_id: str, _who: Reader) -> CtaOut:
    cta = web_state(request).motion.get_cta(cta_id)
    if cta is None:
        raise HTTPException(404, f"no CTA {cta_id!r}")
    return cta_out(cta)


@router.post("/ctas", response_model=CtaOut, status_code=201,
             responses={409: {"description": "An active CTA with this key exists"}})
def create_cta(request: Request, body: CtaCreate, user: Worker) -> CtaOut:
    """Create a CTA by hand (playbook `manual`), owned by `owner_id` or the creator."""
    state = web_state(request)
    day = state.today()
    try:
        req = CtaRequest(account_id=body.account_id, cta_type=body.cta_type, reason=body.reason,
                         playbook_id="manual", definition_hash="manual", priority=body.priority, due=body.due,
                         title=body.title, script=body.script, checklist=tuple(body.checklist))
    except InvalidCtaRequest as exc:
        raise HTTPException(422, str(exc)) from exc
    if any(c.active and c.key == req.key for c in state.motion.list_ctas(account=body.account_id)):
        raise HTTPException(409, "an active CTA with this account, type and reason exists")
    cta_id = core.default_id(req, day)
    owner = body.owner_id or user.member_id
    counts = state.motion.apply_effects([CreateCta(cta_id, req, "open", f"created by {user.actor}")], day,
                                        owners={cta_id: (owner, f"created by {user.actor}")}, actor=user.actor)
    if counts.created == 0:
        raise HTTPException(409, f"CTA {cta_id} was already created today")
    state.users.audit(user.actor, "cta.create", "cta", cta_id, {"account_id": body.account_id, "owner_id": owner})
    created = state.motion.get_cta(cta_id)
    assert created is not None  # just created in a committed transaction
    return cta_out(created)


@router.post("/ctas/{cta_id}/transition", response_model=CtaOut,
             responses={403: {"description": "Role not allowed"}, 409: {"description": "State does not allow it"}})
def transition_cta(request: Request, cta_id: str, body: CtaTransition, user: Worker) -> CtaOut:
    """Start, complete, snooze, cancel or reassign a CTA (send the session's X-CSRF-Token header)."""
    move = Move(body.action, note=body.note, until=body.until, reason=body.reason, owner_id=body.owner_id)
    return cta_out(perform(web_state(request), user, cta_id, move))


# ---------------------------------------------------------------------------------------------- segments, metrics


@router.get("/segments", response_model=list[SegmentOut])
def list_segments(request: Request, _who: Reader) -> list[SegmentOut]:
    """Every segment with recorded membership and its current member count."""
    t = tables.segment_membership
    query = (select(t.c.segment_id, func.count(distinct(t.c.account_id)).filter(t.c.left.is_(None)))
             .group_by(t.c.segment_id).order_by(t.c.segment_id))
    with _engine(request).connect() as conn:
        return [SegmentOut(segment_id=s, members=int(n or 0)) for s, n in conn.execute(query)]


@router.get("/segments/{segment_id}", response_model=SegmentMembers)
def segment_members(request: Request, segment_id: str, _who: Reader) -> SegmentMembers:
    """The accounts currently in a segment."""
    return SegmentMembers(segment_id=segment_id, account_ids=sorted(web_state(request).motion.membership(segment_id)))


@router.get("/metrics", response_model=list[dict[str, Any]])
def metrics(request: Request, _who: Reader, *, start: Annotated[date, Query(alias="from")],
            end: Annotated[date, Query(alias="to")],
            by: Annotated[str | None, Query(min_length=1, max_length=200, description="Break down by this account "
                                            "column or by tier / segment.")] = None,
            monthly: bool = False) -> list[dict[str, Any]]:
    """Logo and MRR retention over [from, to), as `longtail metrics --format json` computes it."""
    if end <= start:
        raise HTTPException(422, "`to` must be after `from`")
    try:
        rows = compute(web_state(request).ws.root, start, end, by, monthly)
    except LongtailError as exc:
        raise HTTPException(422, str(exc)) from exc
    return [{k: _jsonable(v) for k, v in row.items()} for row in rows]


def _jsonable(value: Any) -> Any:
    """Dates as YYYY-MM-DD; NaN and infinities (a rate over zero accounts) as null."""
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


# ---------------------------------------------------------------------------------------------- docs


@meta.get("/openapi.json")
def openapi(request: Request, _who: Reader) -> JSONResponse:
    """The OpenAPI document (behind login like everything else it describes)."""
    return JSONResponse(request.app.openapi())


@meta.get("/docs", response_class=HTMLResponse)
def docs(request: Request, _who: Reader) -> HTMLResponse:
    """The API reference, rendered here from the OpenAPI document (no third-party viewer or CDN)."""
    spec = request.app.openapi()
    operations = [{"method": method.upper(), "path": path, "summary": op.get("summary", ""),
                   "description": op.get("description", ""),
                   "parameters": [p.get("name", "") for p in op.get("parameters", [])],
                   "body": "requestBody" in op}
                  for path, item in spec.get("paths", {}).items() for method, op in item.items()]
    return render(request, "docs.html", {"operations": operations, "title": spec.get("info", {}).get("title", "")})
