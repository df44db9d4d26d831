"""The admin page: users (add, change role, disable, enable) and API keys (create, revoke), for admins only.

What `longtail users` and `longtail keys` do on the command line, with the same validation
(`UserStore.plan_user`) and the same audit lines, written with the acting admin as actor. A new user's
one-time password and a new key are shown once, in the answer to the POST that made them (marked no-store);
only their hashes are kept. An admin cannot take away their own admin role or disable themselves, so the
workspace always keeps the admin who is acting.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from longtail.errors import UsageError
from longtail.store.tables import ID
from longtail.store.users import (
    MAX_EMAIL,
    MAX_NAME,
    ROLES,
    SCOPES,
    ApiKey,
    User,
    UserExists,
    check_role,
    hash_password,
    new_password,
)
from longtail.web.auth import require_role, web_state
from longtail.web.routes_worklist import team_members
from longtail.web.templating import render

router = APIRouter(include_in_schema=False)
require_admin = require_role("admin")

MAX_LABEL = 200
"""A key's label says what it is for, in a few words."""

# Form field -> the longest value accepted. Checked before anything else, so a megabyte in a field is a clear 400.
LIMITS: Mapping[str, int] = {"email": MAX_EMAIL, "name": MAX_NAME, "role": 16, "member_id": ID, "scope": 16,
                             "label": MAX_LABEL}


@dataclass(frozen=True)
class UserRow:
    """A user as the page lists them: never the password hash."""

    user_id: int
    email: str
    name: str | None
    role: str
    member_id: str | None
    disabled: bool
    last_login: datetime | None
    is_me: bool


@dataclass(frozen=True)
class Shown:
    """A secret shown once: a new user's password or a new API key, and what it belongs to."""

    kind: str  # "password" or "key"
    secret: str
    subject: str


class FormError(Exception):
    """A refused form: the page again with `message`, answered with `status` (400 bad input, 409 conflict)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def check_lengths(fields: Mapping[str, str]) -> None:
    for field, value in fields.items():
        limit = LIMITS[field]
        if len(value) > limit:
            raise FormError(f"The {field.replace('_', ' ')} can be at most {limit:,} characters; "
                            f"this one has {len(value):,}.")


def user_rows(users: list[User], last_logins: Mapping[int, datetime], me: User) -> list[UserRow]:
    return [UserRow(u.user_id, u.email, u.name, u.role, u.member_id, u.disabled, last_logins.get(u.user_id),
                    u.user_id == me.user_id) for u in users]


def _page(request: Request, me: User, *, error: str | None = None, shown: Shown | None = None,
          form: Mapping[str, str] | None = None, status_code: int = 200) -> HTMLResponse:
    state = web_state(request)
    keys: list[ApiKey] = state.users.list_keys()
    response = render(request, "pages/admin.html", {
        "users": user_rows(state.users.list_users(), state.users.last_logins(), me),
        "keys": sorted(keys, key=lambda k: (k.revoked_at is not None, -k.key_id)),
        "team": team_members(state.motion.engine), "roles": ROLES, "scopes": SCOPES, "error": error,
        "shown": shown, "form": dict(form or {}), "limits": LIMITS,
    }, status_code=status_code)
    # A page that may carry a one-time secret must not be kept by the browser or a proxy.
    response.headers["Cache-Control"] = "no-store"
    return response


def _target(request: Request, user_id: int) -> User:
    found = web_state(request).users.user_by_id(user_id)
    if found is None:
        raise HTTPException(404, f"no user {user_id}")
    return found


# ---------------------------------------------------------------------------------------------- page


@router.get("/admin", response_class=HTMLResponse)
def admin_page(request: Request, me: Annotated[User, Depends(require_admin)]) -> HTMLResponse:
    """Users (role, team member, active or disabled, last login) and API keys (prefix, scope, label, revoked)."""
    return _page(request, me)


# ---------------------------------------------------------------------------------------------- users


@router.post("/admin/users", response_class=HTMLResponse)
def add_user(request: Request, me: Annotated[User, Depends(require_admin)], *,
             email: Annotated[str, Form()] = "", name: Annotated[str, Form()] = "",
             role: Annotated[str, Form()] = "", member_id: Annotated[str, Form()] = "") -> HTMLResponse:
    """Add a user with a random one-time password, shown once on the page this answers with (201)."""
    state = web_state(request)
    form = {"email": email, "name": name, "role": role, "member_id": member_id}
    try:
        check_lengths(form)
        if not role.strip():
            raise FormError(f"Choose a role ({', '.join(ROLES)}).")
        plan = state.users.plan_user(email=email.strip() or None, role=role.strip(), name=name.strip() or None,
                                     member_id=member_id.strip() or None)
        password = new_password()
        user = state.users.add_user(plan.email, plan.role, name=plan.name, member_id=plan.member_id,
                                    password_hash=hash_password(password), actor=me.actor)
    except FormError as exc:
        return _page(request, me, error=exc.message, form=form, status_code=exc.status)
    except UserExists as exc:
        return _page(request, me, error=f"Not added: {exc}.", form=form, status_code=409)
    except UsageError as exc:
        return _page(request, me, error=f"Not added: {exc}.", form=form, status_code=400)
    return _page(request, me, shown=Shown("password", password, user.email), status_code=201)


@router.post("/admin/users/{user_id}/role", response_class=HTMLResponse)
def change_role(request: Request, user_id: int, me: Annotated[User, Depends(require_admin)], *,
                role: Annotated[str, Form()] = "") -> Response:
    """Give a user another role. An admin may not take away their own admin role (409)."""
    target = _target(request, user_id)
    try:
        check_lengths({"role": role})
        new = check_role(role.strip())
        if target.user_id == me.user_id and new != "admin":
            raise FormError("You cannot take away your own admin role; ask another admin to do it.", 409)
    except FormError as exc:
        return _page(request, me, error=exc.message, status_code=exc.status)
    except UsageError as exc:
        return _page(request, me, error=f"Role not changed: {exc}.", status_code=400)
    if new != target.role:
        web_state(request).users.set_role(target.email, new, actor=me.actor)
    return RedirectResponse("/admin", status_code=303)


def _set_disabled(request: Request, me: User, user_id: int, disabled: bool) -> Response:
    target = _target(request, user_id)
    if disabled and target.user_id == me.user_id:
        return _page(request, me, error="You cannot disable yourself; ask another admin to do it.", status_code=409)
    if target.disabled != disabled:
        web_state(request).users.set_disabled(target.email, disabled, actor=me.actor)
    return RedirectResponse("/admin", status_code=303)


@router.post("/admin/users/{user_id}/disable", response_class=HTMLResponse)
def disable_user(request: Request, user_id: int, me: Annotated[User, Depends(require_admin)]) -> Response:
    """Disable a user: they cannot log in, and their sessions end now."""
    return _set_disabled(request, me, user_id, True)


@router.post("/admin/users/{user_id}/enable", response_class=HTMLResponse)
def enable_user(request: Request, user_id: int, me: Annotated[User, Depends(require_admin)]) -> Response:
    """Let a disabled user log in again (with the password they had)."""
    return _set_disabled(request, me, user_id, False)


# ---------------------------------------------------------------------------------------------- API keys


@router.post("/admin/keys", response_class=HTMLResponse)
def create_key(request: Request, me: Annotated[User, Depends(require_admin)], *,
               scope: Annotated[str, Form()] = "", label: Annotated[str, Form()] = "") -> HTMLResponse:
    """Create an API key of scope ingest or read; the key is shown once on the page this answers with (201)."""
    form = {"scope": scope, "label": label}
    try:
        check_lengths(form)
        clean = scope.strip()
        key, record = web_state(request).users.create_key(clean, label.strip() or f"{clean} key", actor=me.actor)
    except FormError as exc:
        return _page(request, me, error=exc.message, form=form, status_code=exc.status)
    except UsageError as exc:
        return _page(request, me, error=f"No key created: {exc}.", form=form, status_code=400)
    return _page(request, me, shown=Shown("key", key, f"{record.scope} key {record.prefix} ({record.name})"),
                 status_code=201)


@router.post("/admin/keys/{prefix}/revoke", response_class=HTMLResponse)
def revoke_key(request: Request, prefix: str, me: Annotated[User, Depends(require_admin)]) -> Response:
    """Revoke an API key: requests with it are refused from now on (404 unknown, 409 already revoked)."""
    state = web_state(request)
    found = next((k for k in state.users.list_keys() if k.prefix == prefix), None)
    if found is None:
        raise HTTPException(404, f"no API key with prefix {prefix!r}")
    try:
        if found.revoked_at is not None:
            raise UsageError(f"the key {prefix} was already revoked")
        state.users.revoke_key(prefix, actor=me.actor)
    except UsageError as exc:  # revoked before us, here or by another admin at the same moment
        return _page(request, me, error=f"Not revoked: {exc}.", status_code=409)
    return RedirectResponse("/admin", status_code=303)
