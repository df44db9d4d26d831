"""Segment-compatible ingestion (`POST /v1/track|identify|group|page|screen|alias|batch`) and `GET /api/events`.

The routers take their auth dependencies as parameters (the app decides how keys are checked): a write key
sent as HTTP Basic `writeKey:` for ingestion, a read key or session for the events API.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from longtail.ingest.segment import MAX_BATCH_BYTES, MAX_MESSAGE_BYTES, MESSAGE_TYPES, PayloadError, read_request
from longtail.settings import Workspace
from longtail.store.tracking import EventFilter, Tracker, read_events
from longtail.warehouse.events import Warehouse

MAX_PAGE = 1000

_BODY_DOC = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"type": "object", "additionalProperties": True}}},
    }
}


async def _read_body(request: Request, limit: int) -> bytes:
    """The raw body, refusing (413) as soon as it exceeds `limit`, so a huge upload is never held in memory."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadError(413, f"the body is {declared} bytes; the limit is {limit // 1024} KB")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadError(413, f"the body is larger than {limit // 1024} KB")
        chunks.append(chunk)
    return b"".join(chunks)


def _handler(tracker: Tracker, kind: str | None) -> Callable[[Request], Any]:
    limit = MAX_BATCH_BYTES if kind == "batch" else MAX_MESSAGE_BYTES
    endpoint_kind = None if kind == "batch" else kind

    async def receive(request: Request) -> JSONResponse:
        received_at = datetime.now(UTC)
        try:
            body = await _read_body(request, limit)
            messages = read_request(body, request.headers.get("content-encoding"), endpoint_kind)
        except PayloadError as exc:
            raise HTTPException(exc.status, detail=exc.reason) from exc
        result = await run_in_threadpool(tracker.ingest, messages, received_at)
        return JSONResponse(result.as_dict())

    receive.__name__ = f"segment_{kind}"
    return receive


def ingest_router(ws: Workspace, authorize: Callable[..., Any]) -> APIRouter:
    """Segment's HTTP tracking API: every route requires `authorize` (which raises 401 for a bad write key).

    A 200 means the request is stored: events are on disk in the landing folder and contacts and accounts are
    committed. A 4xx carries a reason in `detail` and stores nothing.
    """
    tracker = Tracker(ws)
    router = APIRouter(prefix="/v1", tags=["ingestion"], dependencies=[Depends(authorize)])
    for kind in (*MESSAGE_TYPES, "batch"):
        router.add_api_route(
            f"/{kind}", _handler(tracker, kind), methods=["POST"], openapi_extra=_BODY_DOC,
            summary=f"Segment {kind} call" if kind != "batch" else "Segment batch of calls (max 500 KB)",
            responses={400: {"description": "malformed JSON or an invalid message (detail names its index)"},
                       401: {"description": "missing or unknown write key"},
                       413: {"description": "body over 500 KB (batch) / 32 KB (one call), or a message over 32 KB"}},
        )
    return router


class EventItem(BaseModel):
    event_id: str
    account_id: str
    contact_id: str | None
    event: str
    ts: datetime
    value: float | None
    properties: dict[str, Any] | None


class EventsPage(BaseModel):
    total: int
    items: list[EventItem]
    limit: int
    offset: int


def _utc(value: datetime | None) -> datetime | None:
    """A time without an offset in a query is UTC."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _item(row: dict[str, Any]) -> EventItem:
    text = row.get("properties")
    props = json.loads(text) if text else None
    return EventItem(**{**row, "properties": props if isinstance(props, dict) else None})


def events_router(ws: Workspace, authorize_read: Callable[..., Any]) -> APIRouter:
    """`GET /api/events`: landed and compacted events, each event_id once, newest first, paginated."""
    warehouse = Warehouse(ws.warehouse_url, ws.state_dir)
    router = APIRouter(prefix="/api", tags=["events"], dependencies=[Depends(authorize_read)])

    @router.get("/events", response_model=EventsPage, summary="Product events, filtered and paginated")
    def list_events(
        *,
        account_id: Annotated[str | None, Query(max_length=255)] = None,
        event: Annotated[str | None, Query(max_length=1024)] = None,
        since: Annotated[datetime | None, Query(description="inclusive; ISO 8601, UTC when without offset")] = None,
        until: Annotated[datetime | None, Query(description="exclusive; ISO 8601, UTC when without offset")] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
        offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    ) -> EventsPage:
        f = EventFilter(account_id, event, _utc(since), _utc(until), limit, offset)
        total, rows = read_events(warehouse, f)
        return EventsPage(total=total, items=[_item(r) for r in rows], limit=limit, offset=offset)

    return router
