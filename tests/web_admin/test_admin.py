"""The admin page: who may see it, adding users (one-time password that logs in), roles, disabling, API keys
(shown once, authenticate, revoke), CSRF, validation, audit lines and escaping."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from longtail.errors import UsageError
from longtail.settings import Workspace
from longtail.store.db import make_engine
from longtail.store.users import RoleNeeded, UserExists, UserStore, check_email
from tests.web.conftest import HOSTILE, NOW, log_in

ADMIN = "admin@vendor.test"
HTML = {"accept": "text/html"}
ESCAPED_HOSTILE = "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; O&#39;Brien &amp; &#34;Sons&#34;"


def _store(ws: Workspace) -> UserStore:
    return UserStore(make_engine(ws.database_url), lambda: NOW)


def _secret(html: str) -> str:
    match = re.search(r'id="shown-secret">([^<]+)</code>', html)
    assert match is not None, html
    return match.group(1)


def _id(ws: Workspace, email: str) -> int:
    user = _store(ws).user_by_email(email)
    assert user is not None
    return user.user_id


def _actions(ws: Workspace, object_id: str) -> list[tuple[str, str]]:
    return [(e["actor"], e["action"]) for e in _store(ws).audit_entries(object_id=object_id)]


# ---------------------------------------------------------------------------------------------- who may


def test_admin_sees_users_keys_and_the_nav_link(ws: Workspace, client: TestClient) -> None:
    _store(ws).create_key("ingest", "segment", actor="ops")
    log_in(client, ADMIN)
    page = client.get("/admin")
    assert page.status_code == 200
    for needle in ("csm1@vendor.test", "viewer@vendor.test", "Cam One", "m_csm1", "segment", "ingest",
                   '<a href="/admin" aria-current="page">Admin</a>', 'name="csrf_token"'):
        assert needle in page.text, needle
    # The admin just logged in, at the app clock's instant; the others never did.
    assert "2025-04-15 09:30 UTC" in page.text and "never" in page.text
    assert page.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("email", ["csm1@vendor.test", "lead@vendor.test", "viewer@vendor.test"])
def test_other_roles_are_refused(ws: Workspace, client: TestClient, email: str) -> None:
    token = log_in(client, email)
    assert client.get("/admin").status_code == 403
    assert client.get("/admin", headers=HTML).status_code == 403
    assert 'href="/admin"' not in client.get("/worklist").text
    posts = [("/admin/users", {"email": "x@vendor.test", "role": "admin"}),
             (f"/admin/users/{_id(ws, email)}/role", {"role": "admin"}),
             (f"/admin/users/{_id(ws, 'csm2@vendor.test')}/disable", {}),
             ("/admin/keys", {"scope": "read"})]
    for path, data in posts:
        assert client.post(path, data={**data, "csrf_token": token}).status_code == 403, path
    store = _store(ws)
    assert store.user_by_email("x@vendor.test") is None and store.list_keys() == []
    assert store.user_by_email(email).role != "admin"  # type: ignore[union-attr]


def test_anonymous_callers_go_to_login(client: TestClient) -> None:
    response = client.get("/admin", headers=HTML)
    assert response.status_code == 303 and response.headers["location"].startswith("/login")
    assert client.post("/admin/keys", data={"scope": "read"}).status_code == 401


# ---------------------------------------------------------------------------------------------- users


def test_a_new_user_gets_a_one_time_password_that_logs_in(ws: Workspace, client: TestClient) -> None:
    token = log_in(client, ADMIN)
    response = client.post("/admin/users", data={"email": " New.Person@Vendor.test ", "name": "New Person",
                                                  "role": "viewer", "csrf_token": token})
    assert response.status_code == 201, response.text
    assert response.headers["cache-control"] == "no-store"
    password = _secret(response.text)
    assert len(password) >= 16 and "new.person@vendor.test" in response.text
    assert password not in client.get("/admin").text  # shown once
    other = TestClient(client.app, follow_redirects=False)
    log_in(other, "new.person@vendor.test", password)
    assert other.get("/worklist").status_code == 200
    user = _store(ws).user_by_email("new.person@vendor.test")
    assert user is not None and (user.role, user.name, user.member_id) == ("viewer", "New Person", None)
    assert password not in str(user.password_hash)
    entries = _store(ws).audit_entries(object_type="user", object_id="new.person@vendor.test")
    assert (entries[-1]["actor"], entries[-1]["action"]) == (ADMIN, "user.add")
    assert entries[-1]["detail"] == {"role": "viewer", "member_id": None}


def test_a_team_member_fills_in_email_name_and_link(ws: Workspace, client: TestClient) -> None:
    store = _store(ws)
    with store.engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM users WHERE email = 'csm2@vendor.test'")
    token = log_in(client, ADMIN)
    response = client.post("/admin/users", data={"member_id": "m_csm2", "role": "csm", "csrf_token": token})
    assert response.status_code == 201, response.text
    user = store.user_by_email("csm2@vendor.test")
    assert user is not None and (user.member_id, user.name, user.role) == ("m_csm2", "Cy Two", "csm")


@pytest.mark.parametrize(("data", "status", "needle"), [
    ({"email": "not-an-email", "role": "viewer"}, 400, "is not an email address"),
    ({"email": "two@at@vendor.test", "role": "viewer"}, 400, "is not an email address"),
    ({"email": "sp ace@vendor.test", "role": "viewer"}, 400, "is not an email address"),
    ({"email": "x@vendor.test", "role": "boss"}, 400, "role must be one of"),
    ({"email": "x@vendor.test", "role": ""}, 400, "Choose a role"),
    ({"email": "CSM1@vendor.test", "role": "csm"}, 409, "already exists"),
    ({"email": "x@vendor.test", "role": "csm", "member_id": "m_ghost"}, 400, "no team member"),
    ({"role": "csm"}, 400, "give an email or a team member"),
    ({"email": "x@vendor.test", "role": "csm", "name": "n" * 201}, 400, "at most 200 characters"),
    ({"email": "x" * 300 + "@vendor.test", "role": "csm"}, 400, "at most 254 characters"),
    ({"email": "x@vendor.test", "role": "csm", "member_id": "m" * 100_000}, 400, "at most 255 characters"),
])
def test_refused_users_show_the_page_again(ws: Workspace, client: TestClient, data: dict[str, str], status: int,
                                           needle: str) -> None:
    token = log_in(client, ADMIN)
    before = len(_store(ws).list_users())
    response = client.post("/admin/users", data={**data, "csrf_token": token})
    assert response.status_code == status, response.text
    assert needle in response.text and 'role="alert"' in response.text
    assert 'id="shown-secret"' not in response.text
    assert len(_store(ws).list_users()) == before


def test_refused_form_keeps_what_was_typed(client: TestClient) -> None:
    token = log_in(client, ADMIN)
    response = client.post("/admin/users", data={"email": "bad", "name": "Kept Name", "role": "lead",
                                                  "member_id": "m_csm1", "csrf_token": token})
    assert response.status_code == 400
    assert 'value="Kept Name"' in response.text and '<option value="lead" selected>' in response.text
    assert '<option value="m_csm1" selected>' in response.text


def test_change_role_applies_at_once_and_is_audited(ws: Workspace, client: TestClient) -> None:
    csm = TestClient(client.app, follow_redirects=False)
    csm_token = log_in(csm, "csm1@vendor.test")
    reassign = {"csrf_token": csm_token, "owner_id": "m_csm1", "reason": "balance"}
    assert csm.post("/cta/cta_a3_other/reassign", data=reassign).status_code == 403
    token = log_in(client, ADMIN)
    response = client.post(f"/admin/users/{_id(ws, 'csm1@vendor.test')}/role", data={"role": "lead",
                                                                                     "csrf_token": token})
    assert response.status_code == 303 and response.headers["location"] == "/admin"
    assert csm.post("/cta/cta_a3_other/reassign", data=reassign).status_code == 303  # the same session, now a lead
    entry = _store(ws).audit_entries(object_type="user", object_id="csm1@vendor.test")[0]
    assert (entry["actor"], entry["action"], entry["detail"]) == (ADMIN, "user.role", {"from": "csm", "to": "lead"})


def test_role_change_errors(ws: Workspace, client: TestClient) -> None:
    token = log_in(client, ADMIN)
    me = _id(ws, ADMIN)
    mine = client.post(f"/admin/users/{me}/role", data={"role": "lead", "csrf_token": token})
    assert mine.status_code == 409 and "cannot take away your own admin role" in mine.text
    assert _store(ws).user_by_email(ADMIN).role == "admin"  # type: ignore[union-attr]
    bad = client.post(f"/admin/users/{_id(ws, 'viewer@vendor.test')}/role", data={"role": "root",
                                                                                 "csrf_token": token})
    assert bad.status_code == 400 and "role must be one of" in bad.text
    assert client.post("/admin/users/99999/role", data={"role": "csm", "csrf_token": token}).status_code == 404
    assert client.post("/admin/users/abc/role", data={"role": "csm", "csrf_token": token}).status_code == 422
    unchanged = client.post(f"/admin/users/{me}/role", data={"role": "admin", "csrf_token": token})
    assert unchanged.status_code == 303
    assert [a for _, a in _actions(ws, ADMIN)] == ["session.login", "user.add"]  # no line for a no-op


def test_disable_ends_sessions_and_enable_lets_them_back(ws: Workspace, client: TestClient) -> None:
    viewer = TestClient(client.app, follow_redirects=False)
    log_in(viewer, "viewer@vendor.test")
    token = log_in(client, ADMIN)
    target = _id(ws, "viewer@vendor.test")
    assert client.post(f"/admin/users/{target}/disable", data={"csrf_token": token}).status_code == 303
    assert viewer.get("/worklist", headers=HTML).status_code == 303  # logged out at once
    assert "disabled" in client.get("/admin").text
    assert client.post(f"/admin/users/{target}/enable", data={"csrf_token": token}).status_code == 303
    log_in(viewer, "viewer@vendor.test")
    assert [a for _, a in _actions(ws, "viewer@vendor.test")][:3] == ["session.login", "user.enable",
                                                                      "user.disable"]
    me = client.post(f"/admin/users/{_id(ws, ADMIN)}/disable", data={"csrf_token": token})
    assert me.status_code == 409 and "cannot disable yourself" in me.text


# ---------------------------------------------------------------------------------------------- API keys


def test_a_new_key_is_shown_once_reads_the_api_and_stops_when_revoked(ws: Workspace, client: TestClient) -> None:
    token = log_in(client, ADMIN)
    response = client.post("/admin/keys", data={"scope": "read", "label": "BI export", "csrf_token": token})
    assert response.status_code == 201, response.text
    assert response.headers["cache-control"] == "no-store"
    key = _secret(response.text)
    record = _store(ws).key_for(key)
    assert record is not None and (record.scope, record.name, record.created_by) == ("read", "BI export", ADMIN)
    assert key not in client.get("/admin").text and record.prefix in client.get("/admin").text
    machine = TestClient(client.app)
    assert machine.get("/api/accounts", headers={"authorization": f"Bearer {key}"}).status_code == 200
    revoked = client.post(f"/admin/keys/{record.prefix}/revoke", data={"csrf_token": token})
    assert revoked.status_code == 303
    assert machine.get("/api/accounts", headers={"authorization": f"Bearer {key}"}).status_code == 401
    assert _actions(ws, record.prefix) == [(ADMIN, "key.revoke"), (ADMIN, "key.create")]
    again = client.post(f"/admin/keys/{record.prefix}/revoke", data={"csrf_token": token})
    assert again.status_code == 409 and "already revoked" in again.text
    assert client.post("/admin/keys/nope/revoke", data={"csrf_token": token}).status_code == 404


def test_an_ingest_key_without_a_label_is_named_by_its_scope(ws: Workspace, client: TestClient) -> None:
    token = log_in(client, ADMIN)
    response = client.post("/admin/keys", data={"scope": "ingest", "csrf_token": token})
    assert response.status_code == 201
    record = _store(ws).key_for(_secret(response.text))
    assert record is not None and (record.scope, record.name) == ("ingest", "ingest key")


@pytest.mark.parametrize(("data", "needle"), [
    ({"scope": "write"}, "scope must be one of"),
    ({"scope": ""}, "scope must be one of"),
    ({"scope": "read", "label": "l" * 201}, "at most 200 characters"),
    ({"scope": "r" * 50_000}, "at most 16 characters"),
])
def test_refused_keys(ws: Workspace, client: TestClient, data: dict[str, str], needle: str) -> None:
    token = log_in(client, ADMIN)
    response = client.post("/admin/keys", data={**data, "csrf_token": token})
    assert response.status_code == 400 and needle in response.text
    assert _store(ws).list_keys() == []


# ---------------------------------------------------------------------------------------------- CSRF and escaping


def test_every_admin_post_needs_the_csrf_token(ws: Workspace, client: TestClient) -> None:
    log_in(client, ADMIN)
    prefix = _store(ws).create_key("read", "x", actor="t")[1].prefix
    viewer = _id(ws, "viewer@vendor.test")
    posts = [("/admin/users", {"email": "x@vendor.test", "role": "admin"}),
             (f"/admin/users/{viewer}/role", {"role": "admin"}), (f"/admin/users/{viewer}/disable", {}),
             (f"/admin/users/{viewer}/enable", {}), ("/admin/keys", {"scope": "read"}),
             (f"/admin/keys/{prefix}/revoke", {})]
    for path, data in posts:
        for token in (None, "forged"):
            sent = data if token is None else {**data, "csrf_token": token}
            assert client.post(path, data=sent).status_code == 403, (path, token)
    store = _store(ws)
    assert store.user_by_email("x@vendor.test") is None and len(store.list_keys()) == 1
    assert store.user_by_email("viewer@vendor.test").role == "viewer"  # type: ignore[union-attr]
    assert store.list_keys()[0].revoked_at is None


def test_hostile_strings_render_escaped(client: TestClient) -> None:
    token = log_in(client, ADMIN)
    added = client.post("/admin/users", data={"email": "h@vendor.test", "name": HOSTILE, "role": "viewer",
                                              "csrf_token": token})
    assert added.status_code == 201
    key = client.post("/admin/keys", data={"scope": "read", "label": HOSTILE, "csrf_token": token})
    assert key.status_code == 201
    refused = client.post("/admin/users", data={"email": '"><script>alert(2)</script>', "name": HOSTILE,
                                                "role": "viewer", "csrf_token": token})
    assert refused.status_code == 400
    for page in (added.text, key.text, refused.text, client.get("/admin").text):
        assert "<script>alert" not in page
    assert ESCAPED_HOSTILE in client.get("/admin").text
    assert "&lt;script&gt;alert(2)" in refused.text


# ---------------------------------------------------------------------------------------------- shared validation


def test_plan_user_rules(ws: Workspace) -> None:
    store = _store(ws)
    by_email = store.plan_user(email="Someone@Example.test", role="viewer")
    assert (by_email.email, by_email.member_id, by_email.name) == ("someone@example.test", None, None)
    with store.engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM users WHERE email = 'csm2@vendor.test'")
    linked = store.plan_user(email=" CSM2@vendor.test ", role="viewer")
    assert (linked.email, linked.member_id) == ("csm2@vendor.test", "m_csm2")
    from_team = store.plan_user(email=None, role=None, member_id="m_csm2")
    assert (from_team.email, from_team.role, from_team.name) == ("csm2@vendor.test", "csm", "Cy Two")
    with pytest.raises(RoleNeeded):
        store.plan_user(email="x@example.test", role=None)
    with pytest.raises(UserExists):
        store.plan_user(email="Lead@Vendor.test", role="lead")
    with pytest.raises(UserExists):
        store.add_user("lead@vendor.test", "lead")


@pytest.mark.parametrize("bad", ["", "@", "a@", "@b", "a b@c", "a@b@c", "a\x00@b", "a@b\nc", "x" * 250 + "@b.test"])
def test_check_email_refuses(bad: str) -> None:
    with pytest.raises(UsageError):
        check_email(bad)


def test_check_email_cleans() -> None:
    assert check_email("  Jo.Doe+cs@Vendor.TEST ") == "jo.doe+cs@vendor.test"
