"""The JSON API: accounts, contacts, health, CTAs (list, create, transition), segments, metrics and the docs."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from longtail.settings import Workspace
from longtail.store.db import make_engine
from longtail.store.users import UserStore
from tests.web.conftest import NOW, log_in


@pytest.fixture
def reader(ws: Workspace, client: TestClient) -> TestClient:
    key, _ = UserStore(make_engine(ws.database_url), lambda: NOW).create_key("read", "tests", actor="test")
    client.headers["authorization"] = f"Bearer {key}"
    return client


def test_accounts_list_search_and_page(reader: TestClient) -> None:
    everything = reader.get("/api/accounts").json()
    assert everything["total"] == 4 and [a["name"] for a in everything["items"]][1:3] == ["Acme", "Beta Inc"]
    found = reader.get("/api/accounts", params={"q": "BETA"}).json()
    assert found["total"] == 1 and found["items"][0]["account_id"] == "a2"
    page = reader.get("/api/accounts", params={"limit": 1, "offset": 1}).json()
    assert page["total"] == 4 and [a["account_id"] for a in page["items"]] == ["a1"]
    assert reader.get("/api/accounts", params={"limit": 0}).status_code == 422
    # LIKE wildcards in the search are literal characters.
    assert reader.get("/api/accounts", params={"q": "%"}).json()["total"] == 0


def test_account_detail_has_tier_arr_and_health(reader: TestClient) -> None:
    detail = reader.get("/api/accounts/a1").json()
    assert (detail["name"], detail["tier"], detail["arr"]) == ("Acme", "pooled", 1200.0)
    assert detail["health"]["band"] == "red" and detail["health"]["reasons"] == ["reason for a1"]
    assert reader.get("/api/accounts/a3").json()["health"] is None
    assert reader.get("/api/accounts/nope").status_code == 404


def test_contacts(reader: TestClient) -> None:
    assert reader.get("/api/contacts").json()["total"] == 2
    of_a1 = reader.get("/api/contacts", params={"account_id": "a1"}).json()
    assert [c["email"] for c in of_a1["items"]] == ["jo@acme.test"]
    assert reader.get("/api/contacts", params={"q": "max"}).json()["items"][0]["contact_id"] == "c2"


def test_health_current_and_history(reader: TestClient) -> None:
    current = reader.get("/api/health/a2").json()
    assert (current["as_of"], current["score"], current["band"]) == ("2025-04-14", 71.5, "yellow")
    assert reader.get("/api/health/a2", params={"as_of": "2025-04-13"}).status_code == 404
    assert reader.get("/api/health/a2/history").json() == [{"as_of": "2025-04-14", "score": 71.5, "band": "yellow"}]
    assert reader.get("/api/health/a2/history", params={"from": "2025-04-15"}).json() == []


def test_ctas_list_filtered_and_sorted(reader: TestClient) -> None:
    rows = reader.get("/api/ctas").json()
    assert rows[0]["cta_id"] == "cta_a2_urgent"
    mine = reader.get("/api/ctas", params={"owner": "m_csm1"}).json()
    assert {r["cta_id"] for r in mine} == {"cta_a1_low", "cta_a2_urgent"}
    assert reader.get("/api/ctas/cta_a1_low").json()["inputs"] == {"events_28d": 3, "seats": 10}
    assert reader.get("/api/ctas", params={"status": "weird"}).status_code == 400


def test_create_and_transition_ctas_with_a_session(ws: Workspace, client: TestClient) -> None:
    token = log_in(client, "csm1@vendor.test")
    headers = {"x-csrf-token": token}
    body = {"account_id": "a3", "cta_type": "expansion", "reason": "asked about seats", "due": "2025-04-30",
            "title": "Talk seats", "priority": "high"}
    created = client.post("/api/ctas", json=body, headers=headers)
    assert created.status_code == 201, created.text
    cta = created.json()
    assert (cta["owner_id"], cta["status"], cta["playbook_id"]) == ("m_csm1", "open", "manual")
    assert client.post("/api/ctas", json=body, headers=headers).status_code == 409  # same key, still active
    moved = client.post(f"/api/ctas/{cta['cta_id']}/transition", json={"action": "snooze", "until": "2025-04-20",
                                                                       "reason": "wait for budget"}, headers=headers)
    assert moved.status_code == 200 and moved.json()["status"] == "snoozed"
    conflict = client.post(f"/api/ctas/{cta['cta_id']}/transition", json={"action": "snooze", "until": "2025-04-10",
                                                                          "reason": "x"}, headers=headers)
    assert conflict.status_code == 409
    audit = UserStore(make_engine(ws.database_url)).audit_entries(object_id=cta["cta_id"])
    assert [e["action"] for e in audit] == ["cta.snooze", "cta.create"]
    assert client.post("/api/ctas/nope/transition", json={"action": "start"}, headers=headers).status_code == 404


def test_segments(reader: TestClient) -> None:
    assert reader.get("/api/segments").json() == [{"segment_id": "seg_smb", "members": 2}]
    assert reader.get("/api/segments/seg_smb").json() == {"segment_id": "seg_smb", "account_ids": ["a1", "a2"]}


def test_metrics(reader: TestClient) -> None:
    rows = reader.get("/api/metrics", params={"from": "2025-01-01", "to": "2025-04-01"}).json()
    assert len(rows) == 1
    assert rows[0]["n_start"] == 4 and rows[0]["start_mrr"] == 410 and rows[0]["grr"] == 1
    assert reader.get("/api/metrics", params={"from": "2025-04-01", "to": "2025-01-01"}).status_code == 422


def test_openapi_and_docs_describe_the_api(client: TestClient) -> None:
    log_in(client, "viewer@vendor.test")
    spec = client.get("/openapi.json").json()
    assert {"/api/accounts", "/api/ctas", "/api/ctas/{cta_id}/transition", "/api/metrics"} <= set(spec["paths"])
    assert "/worklist" not in spec["paths"]
    assert "AccountPage" in spec["components"]["schemas"]
    docs = client.get("/docs")
    assert docs.status_code == 200 and "/api/health/{account_id}/history" in docs.text
