"""The links inside longtail's emails (logic in longtail.channels.tracking); public, authenticated by their signature.

    GET  /t/c/{token}    a tracked link: records `clicked`, then redirects (302) to the signed URL
    GET  /t/o/{token}    the open pixel: records `opened`, answers a 1x1 GIF that is never cached
    GET  /u/{token}      the unsubscribe page: says who and asks to confirm (a GET never unsubscribes, because
                         mail scanners fetch links)
    POST /u/{token}      unsubscribes: the page's button, and RFC 8058 one-click (`List-Unsubscribe=One-Click`)

A bad or foreign token gets a 400 page (the pixel: a 400 with the GIF, so no broken image shows) and records
nothing. The redirect goes only to the URL inside the signature, so the endpoint cannot be used as an open
redirect.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import UTC, datetime
from html import escape

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import Engine

from longtail.channels.inapp import warehouse_landing
from longtail.channels.tokens import InvalidToken
from longtail.channels.tracking import EmailTracking, UnknownMessage, UnsafeLink
from longtail.settings import Workspace, signing_secret
from longtail.store.outbox import OutboxStore

PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
NO_STORE = {"Cache-Control": "no-store, max-age=0", "X-Robots-Tag": "noindex"}
MAX_TOKEN = 4_096  # a signed token is a few hundred characters; anything longer is refused before decoding


def _page(title: str, text: str, *, status: int = 200, form: str | None = None) -> HTMLResponse:
    button = (f'<form method="post" action="{escape(form)}"><button type="submit">Unsubscribe</button></form>'
              if form else "")
    body = (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" '
            f'content="width=device-width, initial-scale=1"><title>{escape(title)}</title></head>'
            f'<body style="font-family: sans-serif; max-width: 32rem; margin: 3rem auto"><h1>{escape(title)}</h1>'
            f"<p>{escape(text)}</p>{button}</body></html>")
    return HTMLResponse(body, status_code=status, headers=NO_STORE)


def _bad_link(exc: Exception) -> HTMLResponse:
    return _page("This link does not work", f"It may have been cut or changed ({exc}).", status=400)


def tracking_router(ws: Workspace, engine: Engine, now_fn: Callable[[], datetime]) -> APIRouter:
    """The tracking and unsubscribe routes for workspace `ws`."""
    tracking = EmailTracking(OutboxStore(engine), signing_secret(ws), warehouse_landing(ws.warehouse_url,
                                                                                        ws.state_dir))
    router = APIRouter(include_in_schema=False)

    def now() -> datetime:
        return now_fn().astimezone(UTC)

    @router.get("/t/c/{token}")
    def click(token: str) -> Response:
        try:
            _check(token)
            return RedirectResponse(tracking.click(token, now()), status_code=302, headers=NO_STORE)
        except (InvalidToken, UnknownMessage, UnsafeLink) as exc:
            return _bad_link(exc)

    @router.get("/t/o/{token}")
    def open_pixel(token: str) -> Response:
        try:
            _check(token)
            tracking.open(token, now())
        except (InvalidToken, UnknownMessage) as exc:
            return Response(PIXEL, media_type="image/gif", status_code=400, headers={**NO_STORE,
                                                                                     "X-Longtail-Error": str(exc)})
        return Response(PIXEL, media_type="image/gif", headers=NO_STORE)

    @router.get("/u/{token}", response_class=HTMLResponse)
    def unsubscribe_page(token: str) -> Response:
        try:
            _check(token)
            found = tracking.check_unsubscribe(token)
        except (InvalidToken, UnknownMessage) as exc:
            return _bad_link(exc)
        what = "these emails" if found.channel == "email" else f"messages on {found.channel}"
        return _page("Unsubscribe", f"Stop receiving {what}? You can ask your account team to turn them back on.",
                     form=f"/u/{token}")

    @router.post("/u/{token}", response_class=HTMLResponse)
    def unsubscribe(token: str) -> Response:
        try:
            _check(token)
            tracking.unsubscribe(token, now())
        except (InvalidToken, UnknownMessage) as exc:
            return _bad_link(exc)
        return _page("You are unsubscribed", "You will not receive these messages any more.")

    return router


def _check(token: str) -> None:
    if len(token) > MAX_TOKEN:
        raise InvalidToken(f"a link token has at most {MAX_TOKEN} characters")
