"""Who is asking, and may they: sessions, API keys, roles and login rate limiting.

Two kinds of callers. People log in with a password and carry a server-side session in an HttpOnly cookie;
machines send an API key, `Authorization: Bearer KEY` (or HTTP Basic with the key as the user name, which is
what Segment's SDKs send). Keys have one scope: `read` keys may GET `/api/*`, `ingest` keys may only send
events. When an Authorization header is present the cookie is ignored, so a request is never half person,
half machine.

Roles (see docs/web.md): a viewer reads; a CSM also works (start, done, snooze) the CTAs they own and adds
notes; a lead also works and reassigns any CTA; an admin can do what a lead does and manages users and keys.
"""

from __future__ import annotations

import base64
import binascii
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from fastapi import HTTPException, Request

from longtail.core.motion.ctas import Cta
from longtail.settings import Workspace
from longtail.store.entities import EntityStore
from longtail.store.motion import MotionStore
from longtail.store.users import ApiKey, User, UserStore

SESSION_COOKIE = "lt_session"
SESSION_LIFETIME = timedelta(hours=12)

# Paths reachable without a session or key (prefixes match whole path segments). Ingestion (/v1) is listed
# because it authenticates with a write key inside its own router (`key_with_scope("ingest")`), and tracking
# and unsubscribe links because a recipient's mail client follows them without logging in; /inapp checks the
# product's own key and signed contact token (longtail.web.inapp_api). Routers that add
# such paths append them here; tests/web/test_security.py checks every other route refuses anonymous callers.
PUBLIC_PATHS: list[str] = ["/login", "/healthz", "/static", "/v1", "/inapp", "/t", "/u", "/unsubscribe"]

WORKER_ROLES = frozenset({"csm", "lead", "admin"})
LEAD_ROLES = frozenset({"lead", "admin"})


def is_public(path: str) -> bool:
    """Whether `path` is on the public list (equal to an entry, or below it)."""
    return any(path == p or path.startswith(p.rstrip("/") + "/") for p in PUBLIC_PATHS)


# ---------------------------------------------------------------------------------------------- app state


@dataclass
class WebState:
    """What every request handler shares: the workspace, the stores, the clock and the login limiter."""

    ws: Workspace
    users: UserStore
    motion: MotionStore
    entities: EntityStore
    clock: Callable[[], datetime]
    limiter: LoginLimiter
    secure_cookies: bool

    def today(self) -> date:
        """The business day now, in the workspace's time zone (the day CTA moves are recorded on)."""
        return self.clock().astimezone(ZoneInfo(self.ws.settings.timezone)).date()


def web_state(request: Request) -> WebState:
    state: WebState = request.app.state.web
    return state


# ---------------------------------------------------------------------------------------------- rate limiting


@dataclass
class LoginLimiter:
    """At most `max_failures` failed logins per (email, client IP) within `window`; then 429 until they age out.

    In memory and per process: a restart forgets, and several workers each count their own. That is enough
    to make online password guessing slow, and it needs no shared store.
    """

    max_failures: int = 5
    window: timedelta = timedelta(minutes=15)
    _failures: dict[tuple[str, str], deque[datetime]] = field(default_factory=dict)

    def _recent(self, key: tuple[str, str], now: datetime) -> deque[datetime]:
        times = self._failures.setdefault(key, deque())
        while times and times[0] <= now - self.window:
            times.popleft()
        return times

    def blocked(self, email: str, ip: str, now: datetime) -> bool:
        return len(self._recent((email.strip().lower(), ip), now)) >= self.max_failures

    def fail(self, email: str, ip: str, now: datetime) -> None:
        self._recent((email.strip().lower(), ip), now).append(now)

    def succeed(self, email: str, ip: str) -> None:
        self._failures.pop((email.strip().lower(), ip), None)


def client_ip(request: Request) -> str:
    # The direct peer only: trusting X-Forwarded-For would let a guesser pick a fresh "IP" per attempt.
    return request.client.host if request.client else "unknown"


# ---------------------------------------------------------------------------------------------- sessions


class LoginRequired(Exception):
    """No valid session: pages redirect to the login form, /api answers 401 (see the handler in app.py)."""


def session_token(request: Request) -> str | None:
    """The raw session token from the cookie, unless the request authenticates with a header instead."""
    if "authorization" in request.headers:
        return None
    return request.cookies.get(SESSION_COOKIE) or None


def optional_user(request: Request) -> User | None:
    """The logged-in user, or None (cached on the request)."""
    if hasattr(request.state, "user"):
        cached: User | None = request.state.user
        return cached
    token = session_token(request)
    user = web_state(request).users.session_user(token) if token else None
    request.state.user = user
    return user


def require_user(request: Request) -> User:
    """Dependency: the logged-in user, or LoginRequired."""
    user = optional_user(request)
    if user is None:
        raise LoginRequired
    return user


def require_role(*roles: str) -> Callable[[Request], User]:
    """Dependency factory: a logged-in user whose role is one of `roles`, else 403."""
    allowed = frozenset(roles)

    def dependency(request: Request) -> User:
        user = require_user(request)
        if user.role not in allowed:
            needed = " or ".join(sorted(allowed))
            raise HTTPException(403, f"your role ({user.role}) may not do this; it needs {needed}")
        return user

    return dependency


# ---------------------------------------------------------------------------------------------- API keys


@dataclass(frozen=True)
class Principal:
    """Who makes an API call: a logged-in user or an API key."""

    user: User | None = None
    key: ApiKey | None = None

    @property
    def actor(self) -> str:
        if self.user is not None:
            return self.user.actor
        assert self.key is not None  # a Principal always holds one of the two
        return self.key.actor


def presented_key(request: Request) -> str | None:
    """The API key in the Authorization header: `Bearer KEY`, or `Basic base64(KEY:)` as Segment sends it."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer" and value:
        return value
    if scheme.lower() == "basic" and value:
        try:
            decoded = base64.b64decode(value, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        name, _, _password = decoded.partition(":")
        return name or None
    return None


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(401, detail, headers={"WWW-Authenticate": 'Bearer realm="longtail"'})


def key_with_scope(scope: str) -> Callable[[Request], ApiKey]:
    """Dependency factory: a valid, unrevoked API key of `scope` (401 without a valid key, 403 for another scope)."""

    def dependency(request: Request) -> ApiKey:
        raw = presented_key(request)
        if raw is None:
            raise _unauthorized("an API key is required (Authorization: Bearer KEY)")
        key = web_state(request).users.key_for(raw)
        if key is None:
            raise _unauthorized("unknown or revoked API key")
        if key.scope != scope:
            raise HTTPException(403, f"this key has scope {key.scope!r}; this needs scope {scope!r}")
        return key

    return dependency


_read_key = key_with_scope("read")


def api_reader(request: Request) -> Principal:
    """Dependency for GET /api/*: a logged-in user (any role) or a read key."""
    if "authorization" in request.headers:
        return Principal(key=_read_key(request))
    user = optional_user(request)
    if user is None:
        raise _unauthorized("log in or send a read API key")
    return Principal(user=user)


def api_worker(request: Request) -> User:
    """Dependency for /api mutations: a logged-in user who may work CTAs (keys never mutate CTAs)."""
    if "authorization" in request.headers:
        raise HTTPException(403, "API keys are read-only here; changes need a logged-in user")
    user = optional_user(request)
    if user is None:
        raise _unauthorized("log in to make changes")
    if user.role not in WORKER_ROLES:
        raise HTTPException(403, f"your role ({user.role}) is read-only")
    return user


# ---------------------------------------------------------------------------------------------- permissions


def can_work(user: User, cta: Cta) -> bool:
    """Start, complete, snooze: a CSM on CTAs they own (or that were escalated to them); leads and admins on any."""
    if user.role in LEAD_ROLES:
        return True
    mine = user.member_id is not None and user.member_id in (cta.owner_id, cta.escalated_to)
    return user.role == "csm" and mine


def can_reassign(user: User) -> bool:
    return user.role in LEAD_ROLES


def can_write_notes(user: User) -> bool:
    return user.role in WORKER_ROLES


def can_admin(user: User) -> bool:
    return user.role == "admin"
