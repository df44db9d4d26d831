"""Log in, log out and the health check."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel

from longtail.store.users import User, new_token, verify_password
from longtail.web.auth import SESSION_COOKIE, SESSION_LIFETIME, client_ip, require_user, session_token, web_state
from longtail.web.csrf import LOGIN_COOKIE, new_login_token, same
from longtail.web.templating import render

router = APIRouter()


def safe_next(target: str | None) -> str:
    """Where to go after logging in: a local path only (an absolute URL would make an open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/worklist"
    return target


def _login_page(request: Request, *, error: str | None, email: str, next_: str, status_code: int) -> HTMLResponse:
    token = new_login_token()
    response = render(request, "login.html", {"error": error, "email": email, "next": next_, "login_token": token},
                      status_code=status_code)
    response.set_cookie(LOGIN_COOKIE, token, httponly=True, samesite="strict",
                        secure=web_state(request).secure_cookies, path="/login")
    return response


@router.get("/login", response_class=HTMLResponse, include_in_schema=False)
def login_form(request: Request, next: str | None = None) -> HTMLResponse:
    """The login form."""
    return _login_page(request, error=None, email="", next_=safe_next(next), status_code=200)


@router.post("/login", response_class=HTMLResponse, include_in_schema=False)
def login(request: Request, email: Annotated[str, Form()], password: Annotated[str, Form()],
          csrf_token: Annotated[str, Form()] = "", next: Annotated[str, Form()] = "/worklist") -> Response:
    """Check the password; on success start a session and go to `next`."""
    state = web_state(request)
    target = safe_next(next)
    if not same(csrf_token, request.cookies.get(LOGIN_COOKIE)):
        return _login_page(request, error="The form expired; please try again.", email=email, next_=target,
                           status_code=403)
    now, ip = state.clock(), client_ip(request)
    if state.limiter.blocked(email, ip, now):
        return _login_page(request, error="Too many failed attempts; wait 15 minutes and try again.",
                           email=email, next_=target, status_code=429)
    user = state.users.user_by_email(email)
    if user is None or user.disabled or not verify_password(user.password_hash, password):
        state.limiter.fail(email, ip, now)
        # One message for every failure, so the form does not reveal which emails have accounts.
        return _login_page(request, error="Wrong email or password.", email=email, next_=target, status_code=401)
    state.limiter.succeed(email, ip)
    token = new_token()
    state.users.create_session(user, token, now + SESSION_LIFETIME)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(SESSION_COOKIE, token, max_age=int(SESSION_LIFETIME.total_seconds()), httponly=True,
                        samesite="lax", secure=state.secure_cookies, path="/")
    response.delete_cookie(LOGIN_COOKIE, path="/login")
    return response


@router.post("/logout", include_in_schema=False)
def logout(request: Request, user: Annotated[User, Depends(require_user)]) -> RedirectResponse:
    """End the session (revoked server-side, so a copied cookie stops working too)."""
    token = session_token(request)
    if token:
        web_state(request).users.revoke_session(token, actor=user.actor)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


class Health(BaseModel):
    status: str


@router.get("/healthz", response_model=Health, tags=["meta"])
def healthz() -> Health:
    """Liveness check for load balancers (no authentication)."""
    return Health(status="ok")
