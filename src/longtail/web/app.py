"""The application factory: `create_app(ws)` wires the stores, the routers, static files and error pages.

Mounting another router is one line in `create_app`: `app.include_router(module.router)`. Every route gets
the app-wide CSRF check; a router that serves anonymous paths adds them to `auth.PUBLIC_PATHS`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime
from urllib.parse import quote

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

import longtail
from longtail.settings import Workspace, open_workspace
from longtail.store.db import make_engine, migrate
from longtail.store.entities import EntityStore
from longtail.store.motion import MotionStore
from longtail.store.users import UserStore
from longtail.web import (
    inapp_api,
    ingest_api,
    routes_admin,
    routes_api,
    routes_auth,
    routes_pages,
    routes_worklist,
    tracking_api,
)
from longtail.web.auth import LoginLimiter, LoginRequired, WebState, api_reader, key_with_scope
from longtail.web.csrf import check_csrf
from longtail.web.templating import STATIC_DIR, render


def _utc_now() -> datetime:
    # The one place the web layer reads the clock; tests pass their own `clock`.
    return datetime.now(UTC)


def _wants_json(request: Request) -> bool:
    path = request.url.path
    return path.startswith(("/api/", "/v1/")) or path == "/openapi.json" or "text/html" not in request.headers.get(
        "accept", "")


async def _login_required(request: Request, exc: Exception) -> Response:
    """Pages send the visitor to the login form (and back afterwards); the API answers 401."""
    if _wants_json(request):
        return JSONResponse({"detail": "log in first"}, status_code=401)
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)


async def _http_error(request: Request, exc: Exception) -> Response:
    """JSON for API clients, a readable page for browsers."""
    assert isinstance(exc, StarletteHTTPException)
    if _wants_json(request):
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)
    return render(request, "error.html", {"status": exc.status_code, "detail": exc.detail},
                  status_code=exc.status_code)


def create_app(ws: Workspace, *, clock: Callable[[], datetime] | None = None,
               secure_cookies: bool = True) -> FastAPI:
    """The cockpit for workspace `ws`; `clock` (default: the system clock in UTC) dates sessions and CTA moves.

    `secure_cookies=False` only for plain-HTTP local use (`longtail serve` on 127.0.0.1) and tests.
    """
    now = clock or _utc_now
    engine = make_engine(ws.database_url)
    migrate(engine)
    app = FastAPI(title="longtail", version=longtail.__version__, docs_url=None, redoc_url=None, openapi_url=None,
                  dependencies=[Depends(check_csrf)])
    app.state.web = WebState(ws=ws, users=UserStore(engine, now), motion=MotionStore(engine, now),
                             entities=EntityStore(engine), clock=now, limiter=LoginLimiter(),
                             secure_cookies=secure_cookies)
    app.add_exception_handler(LoginRequired, _login_required)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(routes_auth.router)
    # Before the worklist router: its `/` (the worklist for everyone) and `/search` are superseded by the
    # pages router's role-aware landing and the views' search, and the first route that matches wins.
    app.include_router(routes_pages.router)
    app.include_router(routes_worklist.router)
    app.include_router(routes_admin.router)
    app.include_router(routes_api.router)
    app.include_router(routes_api.meta)
    app.include_router(ingest_api.ingest_router(ws, key_with_scope("ingest")))
    app.include_router(ingest_api.events_router(ws, api_reader))
    app.include_router(tracking_api.tracking_router(ws, engine, now))
    app.include_router(inapp_api.inapp_router(ws, origins=tuple(ws.settings.inapp_origins), engine=engine, now_fn=now))
    return app



SECURE_COOKIES_ENV = "LONGTAIL_SERVE_SECURE_COOKIES"


def app_from_environment() -> FastAPI:
    """The app for one of several server processes (`longtail serve --workers N`): each worker imports this
    factory and builds its own app for the workspace in LONGTAIL_WORKSPACE. Sessions, keys and the audit log
    live in the database, so any worker serves any session."""
    secure = os.environ.get(SECURE_COOKIES_ENV, "1") != "0"
    return create_app(open_workspace(None), secure_cookies=secure)
