"""Security: every non-public route refuses anonymous callers (routes enumerated, not hand-picked), keys and
their scopes, sessions and their cookies, CSRF on every unsafe route, login rate limiting, roles, escaping."""

from __future__ import annotations

import base64
import re
from typing import Annotated

import pytest
from fastapi import APIRouter, Depends, FastAPI
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from starlette.routing import Mount

from longtail.settings import Workspace
from longtail.store.db import make_engine
from longtail.store.users import ApiKey, UserStore
from longtail.web import create_app
from longtail.web.auth import PUBLIC_PATHS, SESSION_COOKIE, is_public, key_with_scope
from longtail.web.csrf import EXEMPT_PREFIXES
from tests.web.conftest import HOSTILE, NOW, PASSWORD, log_in, login_token

UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
HTML = {"accept": "text/html"}


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x", path)


def _routes(app: FastAPI) -> list[tuple[str, str]]:
    """(method, concrete path) of every route of the app, included routers flattened (FastAPI 0.165 wraps them)."""
    found = []
    for context in iter_route_contexts(app.routes):
        path = context.path or ""
        if isinstance(context.original_route, Mount):
            assert is_public(path), f"mounted app {path} is not public: authenticate it or list it"
            continue
        methods = context.methods or {"GET"}
        found.extend((m, _concrete(path)) for m in sorted(methods) if m not in ("HEAD", "OPTIONS"))
    return found


def _keys(ws: Workspace) -> UserStore:
    return UserStore(make_engine(ws.database_url), lambda: NOW)


def test_every_private_route_refuses_anonymous_callers(app: FastAPI, client: TestClient) -> None:
    checked = 0
    for method, path in _routes(app):
        if is_public(path):
            continue
        response = client.request(method, path, headers=HTML)
        redirect = response.status_code == 303 and response.headers["location"].startswith("/login")
        assert response.status_code == 401 or redirect, (method, path, response.status_code)
        checked += 1
    assert checked >= 15  # the enumeration found the worklist, CTA and API routes


def test_public_list_is_short_and_covers_login_and_health(client: TestClient) -> None:
    assert {"/login", "/healthz", "/static", "/v1"} <= set(PUBLIC_PATHS)
    assert not is_public("/api/accounts") and not is_public("/loginx") and is_public("/v1/batch")
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/static/app.css").status_code == 200


def test_every_unsafe_route_checks_csrf_for_a_session(app: FastAPI, client: TestClient) -> None:
    log_in(client, "admin@vendor.test")
    # The unsubscribe link is its own authority (its signed token; tests/web/test_email_links.py): exempt by design,
    # and the list of exemptions is pinned so that it cannot grow unnoticed.
    assert EXEMPT_PREFIXES == ("/u/",)
    unsafe = [(m, p) for m, p in _routes(app) if m in UNSAFE and p != "/login" and not p.startswith(EXEMPT_PREFIXES)]
    assert unsafe
    for method, path in unsafe:
        for headers in ({}, {"x-csrf-token": "forged"}):
            response = client.request(method, path, data={"csrf_token": "forged"} if headers else {}, headers=headers)
            assert response.status_code == 403, (method, path, response.status_code)


def test_form_with_the_right_token_passes_csrf(client: TestClient) -> None:
    token = log_in(client, "csm1@vendor.test")
    ok = client.post("/cta/cta_a1_low/start", data={"csrf_token": token})
    assert ok.status_code == 303
    other = TestClient(client.app, follow_redirects=False)
    other_token = log_in(other, "csm1@vendor.test")
    # A token from another session does not work with this one.
    assert client.post("/cta/cta_a2_urgent/start", data={"csrf_token": other_token}).status_code == 403


def test_login_needs_its_own_form_token(client: TestClient) -> None:
    response = client.post("/login", data={"email": "lead@vendor.test", "password": PASSWORD, "csrf_token": "x"})
    assert response.status_code == 403
    assert SESSION_COOKIE not in client.cookies


def test_session_cookie_flags(ws: Workspace) -> None:
    with TestClient(create_app(ws, clock=lambda: NOW, secure_cookies=True), base_url="https://testserver",
                    follow_redirects=False) as c:
        response = c.post("/login", data={"email": "lead@vendor.test", "password": PASSWORD,
                                          "csrf_token": login_token(c)})
    assert response.status_code == 303
    cookie = next(v for v in response.headers.get_list("set-cookie") if v.startswith(SESSION_COOKIE + "="))
    flags = {part.strip().lower() for part in cookie.split(";")}
    assert {"httponly", "secure", "samesite=lax", "path=/"} <= flags


def test_login_page_is_not_secure_cookie_when_disabled(client: TestClient) -> None:
    log_in(client, "lead@vendor.test")
    assert client.get("/worklist").status_code == 200


def test_wrong_password_then_rate_limit(client: TestClient) -> None:
    for _ in range(5):
        bad = client.post("/login", data={"email": "lead@vendor.test", "password": "nope-nope",
                                          "csrf_token": login_token(client)})
        assert bad.status_code == 401
        assert "Wrong email or password" in bad.text
    blocked = client.post("/login", data={"email": "lead@vendor.test", "password": PASSWORD,
                                          "csrf_token": login_token(client)})
    assert blocked.status_code == 429
    # Another account from the same address is not blocked by the first one's failures.
    log_in(client, "csm1@vendor.test")


def test_unknown_email_fails_like_a_wrong_password(client: TestClient) -> None:
    response = client.post("/login", data={"email": "nobody@vendor.test", "password": PASSWORD,
                                           "csrf_token": login_token(client)})
    assert response.status_code == 401 and "Wrong email or password" in response.text


def test_logout_revokes_the_session_server_side(client: TestClient) -> None:
    token = log_in(client, "lead@vendor.test")
    stolen = client.cookies[SESSION_COOKIE]
    assert client.post("/logout", data={"csrf_token": token}).status_code == 303
    thief = TestClient(client.app, follow_redirects=False, cookies={SESSION_COOKIE: stolen})
    assert thief.get("/worklist", headers=HTML).status_code == 303


def test_disabled_user_loses_access(ws: Workspace, client: TestClient) -> None:
    log_in(client, "csm2@vendor.test")
    _keys(ws).set_disabled("csm2@vendor.test", True, actor="test")
    assert client.get("/worklist", headers=HTML).status_code == 303
    assert client.get("/api/accounts").status_code == 401


def test_login_redirects_only_to_local_paths(client: TestClient) -> None:
    for target, expected in (("//evil.test/x", "/worklist"), ("https://evil.test", "/worklist"),
                             ("/cta/cta_a1_low", "/cta/cta_a1_low")):
        c = TestClient(client.app, follow_redirects=False)
        response = c.post("/login", data={"email": "lead@vendor.test", "password": PASSWORD, "next": target,
                                          "csrf_token": login_token(c)})
        assert response.headers["location"] == expected


# ---------------------------------------------------------------------------------------------- API keys


def test_read_key_reads_the_api_but_cannot_write(ws: Workspace, client: TestClient) -> None:
    key, _ = _keys(ws).create_key("read", "bi", actor="test")
    auth = {"authorization": f"Bearer {key}"}
    assert client.get("/api/accounts", headers=auth).json()["total"] == 4
    assert client.get("/openapi.json", headers=auth).status_code == 200
    created = client.post("/api/ctas", headers=auth, json={"account_id": "a1", "cta_type": "risk", "reason": "r",
                                                           "due": "2025-05-01", "title": "t"})
    assert created.status_code == 403


def test_ingest_key_cannot_read_and_bad_keys_are_refused(ws: Workspace, client: TestClient) -> None:
    store = _keys(ws)
    ingest, _ = store.create_key("ingest", "segment", actor="test")
    assert client.get("/api/accounts", headers={"authorization": f"Bearer {ingest}"}).status_code == 403
    assert client.get("/api/accounts", headers={"authorization": "Bearer lt_nope_nope"}).status_code == 401
    read, record = store.create_key("read", "old", actor="test")
    store.revoke_key(record.prefix, actor="test")
    assert client.get("/api/accounts", headers={"authorization": f"Bearer {read}"}).status_code == 401


def test_a_session_cookie_does_not_rescue_a_bad_key(client: TestClient) -> None:
    log_in(client, "lead@vendor.test")
    assert client.get("/api/accounts").status_code == 200
    assert client.get("/api/accounts", headers={"authorization": "Bearer wrong"}).status_code == 401


def test_key_with_scope_accepts_segment_basic_auth(ws: Workspace) -> None:
    app = create_app(ws, clock=lambda: NOW, secure_cookies=False)
    router = APIRouter()

    @router.post("/v1/echo")
    def echo(key: Annotated[ApiKey, Depends(key_with_scope("ingest"))]) -> dict[str, str]:
        return {"prefix": key.prefix}

    app.include_router(router)
    ingest, record = _keys(ws).create_key("ingest", "segment", actor="test")
    basic = base64.b64encode(f"{ingest}:".encode()).decode()
    with TestClient(app) as c:
        assert c.post("/v1/echo", headers={"authorization": f"Basic {basic}"}).json() == {"prefix": record.prefix}
        assert c.post("/v1/echo", headers={"authorization": f"Bearer {ingest}"}).status_code == 200
        assert c.post("/v1/echo").status_code == 401
        assert c.post("/v1/echo", headers={"authorization": "Basic !!!"}).status_code == 401
        read, _ = _keys(ws).create_key("read", "bi", actor="test")
        assert c.post("/v1/echo", headers={"authorization": f"Bearer {read}"}).status_code == 403


# ---------------------------------------------------------------------------------------------- roles


@pytest.mark.parametrize(("email", "cta_id", "action", "expected"), [
    ("viewer@vendor.test", "cta_a1_low", "start", 403),
    ("csm2@vendor.test", "cta_a1_low", "start", 403),  # owned by csm1
    ("csm1@vendor.test", "cta_a1_low", "start", 303),
    ("csm1@vendor.test", "cta_a3_other", "reassign", 403),
    ("lead@vendor.test", "cta_a3_other", "start", 303),  # a lead works any CTA
    ("lead@vendor.test", "cta_a3_other", "reassign", 303),
    ("admin@vendor.test", "cta_a3_other", "reassign", 303),
])
def test_roles_on_cta_moves(client: TestClient, email: str, cta_id: str, action: str, expected: int) -> None:
    token = log_in(client, email)
    data = {"csrf_token": token, "owner_id": "m_csm1", "reason": "balance the load"}
    assert client.post(f"/cta/{cta_id}/{action}", data=data).status_code == expected


def test_viewer_cannot_change_through_the_api(client: TestClient) -> None:
    token = log_in(client, "viewer@vendor.test")
    response = client.post("/api/ctas/cta_a1_low/transition", json={"action": "start"},
                           headers={"x-csrf-token": token})
    assert response.status_code == 403


def test_every_mutation_is_audited_with_its_actor(ws: Workspace, client: TestClient) -> None:
    token = log_in(client, "lead@vendor.test")
    client.post("/cta/cta_a3_other/reassign", data={"csrf_token": token, "owner_id": "m_csm1", "reason": "leave"})
    entries = _keys(ws).audit_entries(object_type="cta", object_id="cta_a3_other")
    assert [(e["actor"], e["action"]) for e in entries] == [("m_lead", "cta.reassign")]
    assert entries[0]["detail"] == {"from": "m_csm2", "to": "m_csm1", "reason": "leave"}
    logins = _keys(ws).audit_entries(object_type="user", object_id="lead@vendor.test")
    assert logins[0]["action"] == "session.login"


# ---------------------------------------------------------------------------------------------- escaping


@pytest.mark.parametrize("path", ["/cta/cta_hostile", "/search?q=script", "/worklist?view=all"])
def test_hostile_account_names_render_escaped(client: TestClient, path: str) -> None:
    log_in(client, "lead@vendor.test")
    page = client.get(path)
    assert page.status_code == 200
    assert "<script>alert" not in page.text
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; O&#39;Brien &amp; &#34;Sons&#34;" in page.text


def test_hostile_notes_render_escaped(ws: Workspace, client: TestClient) -> None:
    _keys(ws).add_note("hostile", "m_csm1", HOSTILE + ' <img src=x onerror="alert(1)">')
    log_in(client, "lead@vendor.test")
    page = client.get("/cta/cta_hostile").text
    assert "<img src=x" not in page and "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in page


def test_hostile_search_query_is_escaped(client: TestClient) -> None:
    log_in(client, "lead@vendor.test")
    page = client.get("/search", params={"q": '"><script>alert(2)</script>'}).text
    assert "<script>alert(2)" not in page
