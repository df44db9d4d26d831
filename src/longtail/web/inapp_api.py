"""The in-app API a product calls from its pages (logic in longtail.channels.inapp).

    GET  /inapp/v1/messages?contact_id=C                  the contact's pending messages
    POST /inapp/v1/messages/{id}/{viewed|clicked|dismissed}?contact_id=C
    GET  /inapp/v1/longtail.js                            the snippet that renders them

The two API calls need the headers `X-Longtail-Key` (the workspace's publishable key) and
`X-Longtail-Contact-Token` (the product backend's HMAC of the contact id). Browsers call from the product's
origin, so the router answers CORS itself for the origins in its allow-list (an exact match of scheme, host
and port); it does it per route rather than with CORSMiddleware because the lead mounts this router into a
larger app whose other pages must not be cross-origin readable.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from importlib import resources
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import Engine

from longtail.channels.inapp import ACTIONS, InAppAuthError, InAppInbox, UnknownMessage, warehouse_landing
from longtail.settings import Workspace, signing_secret
from longtail.store.db import make_engine

PREFIX = "/inapp/v1"
ALLOWED_HEADERS = "Content-Type, X-Longtail-Key, X-Longtail-Contact-Token"
MAX_AGE = "600"
SNIPPET = "longtail-inapp.js"


def _snippet() -> bytes:
    return resources.files("longtail.channels").joinpath("static", SNIPPET).read_bytes()


def _real_now() -> datetime:
    return datetime.now(UTC)


def inapp_router(ws: Workspace, *, origins: Iterable[str] = (), engine: Engine | None = None,
                 now_fn: Callable[[], datetime] = _real_now) -> APIRouter:
    """The in-app routes for workspace `ws`; `origins` are the product origins allowed to call from a browser."""
    inbox = InAppInbox(engine or make_engine(ws.database_url), signing_secret(ws),
                       landing=warehouse_landing(ws.warehouse_url, ws.state_dir))
    allowed = frozenset(o.rstrip("/") for o in origins)
    router = APIRouter(prefix=PREFIX, tags=["in-app"])

    def cors(request: Request, methods: str) -> dict[str, str]:
        origin = request.headers.get("origin")
        if origin is None or origin not in allowed:
            return {}
        return {"Access-Control-Allow-Origin": origin, "Vary": "Origin", "Access-Control-Allow-Methods": methods,
                "Access-Control-Allow-Headers": ALLOWED_HEADERS, "Access-Control-Max-Age": MAX_AGE}

    def error(request: Request, methods: str, status: int, detail: str) -> JSONResponse:
        return JSONResponse({"detail": detail}, status_code=status, headers=cors(request, methods))

    @router.options("/messages")
    @router.options("/messages/{message_id}/{action}")
    def preflight(request: Request) -> Response:
        """CORS preflight: 204 with the allow headers for an allowed origin, 403 for any other."""
        headers = cors(request, "GET, POST, OPTIONS")
        return Response(status_code=204 if headers else 403, headers=headers)

    @router.get("/messages")
    def messages(request: Request, *, contact_id: Annotated[str, Query(min_length=1, max_length=200)],
                 x_longtail_key: Annotated[str, Header()] = "",
                 x_longtail_contact_token: Annotated[str, Header()] = "") -> Response:
        """The contact's pending in-app messages."""
        try:
            inbox.authenticate(x_longtail_key, contact_id, x_longtail_contact_token)
        except InAppAuthError as exc:
            return error(request, "GET", 401, str(exc))
        found = inbox.pending(contact_id, now_fn())
        return JSONResponse({"messages": [m.to_json() for m in found]}, headers=cors(request, "GET"))

    @router.post("/messages/{message_id}/{action}")
    def report(request: Request, message_id: str, action: str, *,
               contact_id: Annotated[str, Query(min_length=1, max_length=200)],
               x_longtail_key: Annotated[str, Header()] = "",
               x_longtail_contact_token: Annotated[str, Header()] = "") -> Response:
        """Record viewed, clicked or dismissed (at most once per message and action)."""
        if action not in ACTIONS:
            return error(request, "POST", 404, f"unknown action {action!r}; expected one of {', '.join(ACTIONS)}")
        try:
            inbox.authenticate(x_longtail_key, contact_id, x_longtail_contact_token)
            recorded = inbox.record(contact_id, message_id, action, now_fn())
        except InAppAuthError as exc:
            return error(request, "POST", 401, str(exc))
        except UnknownMessage as exc:
            return error(request, "POST", 404, str(exc))
        return JSONResponse({"recorded": recorded}, headers=cors(request, "POST"))

    @router.get("/longtail.js")
    def snippet() -> Response:
        """The embeddable snippet (see docs/journeys.md, "In-app messages")."""
        return Response(_snippet(), media_type="application/javascript",
                        headers={"Cache-Control": "public, max-age=300", "X-Content-Type-Options": "nosniff"})

    return router
