"""Cross-site request forgery protection.

Every state-changing request made with a session cookie must carry a CSRF token, in the form field
`csrf_token` or the `X-CSRF-Token` header. The token is bound to the session: an HMAC of the session token,
so it needs no storage and dies with the session, and another site cannot compute it because the cookie is
HttpOnly. Requests with an Authorization header carry no cookie authority (see auth.py), so they need no token.

The login form has no session yet: it uses a double-submit token (a random cookie echoed in the form).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from fastapi import HTTPException, Request

from longtail.web.auth import session_token

FIELD = "csrf_token"
HEADER = "x-csrf-token"
LOGIN_COOKIE = "lt_login_csrf"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
# Paths that check a token of their own before a session exists.
EXEMPT_PATHS = frozenset({"/login"})
# The unsubscribe link's signed token is its own authority (a forged request needs the token, and whoever has it
# may unsubscribe anyway); a recipient who is also logged in to the cockpit must still be able to click it.
EXEMPT_PREFIXES = ("/u/",)


def token_for(session: str) -> str:
    """The CSRF token of a session."""
    return hmac.new(session.encode(), b"longtail-csrf", hashlib.sha256).hexdigest()


def request_token(request: Request) -> str | None:
    """The CSRF token of the request's session, for templates (None without a session cookie)."""
    session = session_token(request)
    return None if session is None else token_for(session)


def new_login_token() -> str:
    return secrets.token_urlsafe(24)


def same(a: str | None, b: str | None) -> bool:
    """Constant-time comparison that treats a missing value as a mismatch."""
    return bool(a) and bool(b) and hmac.compare_digest(str(a), str(b))


async def check_csrf(request: Request) -> None:
    """App-wide dependency: refuse (403) an unsafe request made with a session cookie but without its token."""
    if (request.method not in UNSAFE_METHODS or request.url.path in EXEMPT_PATHS
            or request.url.path.startswith(EXEMPT_PREFIXES)):
        return
    session = session_token(request)
    if session is None:
        return  # no cookie authority: an anonymous or API-key request, which auth checks on its own
    sent = request.headers.get(HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(FORM_TYPES):
        value = (await request.form()).get(FIELD)
        sent = value if isinstance(value, str) else None
    if not same(sent, token_for(session)):
        raise HTTPException(403, "missing or wrong CSRF token; reload the page and try again")
