"""The in-app HTTP API: authentication, fetch, reports, CORS for allowed origins only, and the snippet."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from longtail.channels.inapp import contact_key, contact_token, publishable_key
from longtail.settings import Settings, Workspace, signing_secret
from longtail.store.db import make_engine, migrate
from longtail.store.outbox import OutboxMessage, OutboxStore
from longtail.web.inapp_api import inapp_router

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SECRET = "workspace-signing-secret-0123456789"
ORIGIN = "https://app.example.com"


@pytest.fixture
def client(tmp_path: Path) -> TestClient:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'state.db'}",
                        warehouse_url=f"duckdb:///{tmp_path / 'w.duckdb'}", unsubscribe_secret=SECRET)
    ws = Workspace(tmp_path, settings)
    engine = make_engine(ws.database_url)
    migrate(engine)
    OutboxStore(engine).enqueue([OutboxMessage("m1", "in_app", {"title": "<i>Hi</i>", "body": "Try reports",
                                                                "cta_label": "Go", "cta_url": "https://x.test"},
                                               T0, contact_id="c1", account_id="a1", program="j")], now=T0)
    app = FastAPI()
    app.include_router(inapp_router(ws, origins=[ORIGIN + "/"], engine=engine, now_fn=lambda: T0))
    assert signing_secret(ws) == SECRET
    return TestClient(app)


def _headers(contact: str = "c1", **extra: str) -> dict[str, str]:
    return {"X-Longtail-Key": publishable_key(SECRET),
            "X-Longtail-Contact-Token": contact_token(contact_key(SECRET), contact), **extra}


def test_fetch_and_report_with_cors(client: TestClient) -> None:
    got = client.get("/inapp/v1/messages", params={"contact_id": "c1"}, headers=_headers(Origin=ORIGIN))
    assert got.status_code == 200
    assert got.headers["access-control-allow-origin"] == ORIGIN
    (m,) = got.json()["messages"]
    assert (m["id"], m["title"], m["cta_url"]) == ("m1", "<i>Hi</i>", "https://x.test")
    first = client.post("/inapp/v1/messages/m1/viewed", params={"contact_id": "c1"}, headers=_headers())
    again = client.post("/inapp/v1/messages/m1/viewed", params={"contact_id": "c1"}, headers=_headers())
    assert (first.json(), again.json()) == ({"recorded": True}, {"recorded": False})
    assert "access-control-allow-origin" not in first.headers  # no Origin, no CORS headers
    client.post("/inapp/v1/messages/m1/dismissed", params={"contact_id": "c1"}, headers=_headers())
    after = client.get("/inapp/v1/messages", params={"contact_id": "c1"}, headers=_headers())
    assert after.json() == {"messages": []}


def test_bad_credentials_unknown_messages_and_actions(client: TestClient) -> None:
    wrong_key = client.get("/inapp/v1/messages", params={"contact_id": "c1"},
                           headers={**_headers(), "X-Longtail-Key": "pk_nope"})
    assert wrong_key.status_code == 401
    other = client.get("/inapp/v1/messages", params={"contact_id": "c2"}, headers=_headers("c1"))
    assert other.status_code == 401
    assert client.get("/inapp/v1/messages", params={"contact_id": "c1"}).status_code == 401  # no headers
    theirs = client.post("/inapp/v1/messages/m1/viewed", params={"contact_id": "c2"}, headers=_headers("c2"))
    assert theirs.status_code == 404
    assert client.post("/inapp/v1/messages/m1/liked", params={"contact_id": "c1"},
                       headers=_headers()).status_code == 404
    assert client.get("/inapp/v1/messages", headers=_headers()).status_code == 422  # contact_id missing


def test_preflight_allows_listed_origins_only(client: TestClient) -> None:
    ok = client.options("/inapp/v1/messages/m1/viewed",
                        headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST"})
    assert ok.status_code == 204
    assert ok.headers["access-control-allow-origin"] == ORIGIN
    assert "X-Longtail-Contact-Token" in ok.headers["access-control-allow-headers"]
    evil = client.options("/inapp/v1/messages", headers={"Origin": "https://evil.example",
                                                          "Access-Control-Request-Method": "GET"})
    assert evil.status_code == 403 and "access-control-allow-origin" not in evil.headers
    denied = client.get("/inapp/v1/messages", params={"contact_id": "c1"},
                        headers=_headers(Origin="https://evil.example"))
    assert "access-control-allow-origin" not in denied.headers


def test_snippet_is_served_and_never_uses_inner_html(client: TestClient) -> None:
    got = client.get("/inapp/v1/longtail.js")
    assert got.status_code == 200
    assert got.headers["content-type"].startswith("application/javascript")
    code = got.text
    assert "textContent" in code and "X-Longtail-Contact-Token" in code
    assert not re.search(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(", code)
