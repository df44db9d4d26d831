"""The ingestion routes and GET /api/events through TestClient: storage, attribution, dedupe and refusals."""

from __future__ import annotations

import gzip
import json
from typing import Any

from fastapi.testclient import TestClient

from longtail.settings import Workspace
from longtail.store.db import make_engine
from longtail.store.entities import EntityStore
from longtail.warehouse.events import Warehouse

from .conftest import READ_KEY, WRITE_KEY, basic

TS = "2026-03-01T10:00:00Z"


def track(mid: str, user: str | None = "u1", event: str = "report_viewed", **extra: Any) -> dict[str, Any]:
    msg: dict[str, Any] = {"type": "track", "messageId": mid, "event": event, "timestamp": TS, **extra}
    if user is not None:
        msg["userId"] = user
    return msg


def events(client: TestClient, **params: Any) -> dict[str, Any]:
    r = client.get("/api/events", params=params, headers={"Authorization": f"Bearer {READ_KEY}"})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def store(ws: Workspace) -> EntityStore:
    return EntityStore(make_engine(ws.database_url))


def test_batch_stores_group_identify_and_attributed_tracks(client: TestClient, workspace: Workspace) -> None:
    batch = [
        {"type": "identify", "userId": "u1", "messageId": "i1",
         "traits": {"email": "ana@acme.test", "firstName": "Ana", "lastName": "Lee", "role": "Admin", "beta": True}},
        {"type": "group", "userId": "u1", "groupId": "acme", "messageId": "g1",
         "traits": {"name": "Acme", "plan": "pro", "employees": 40, "address": {"country": "DE"}}},
        track("t1", properties={"report": "health", "value": 2.5}),
        track("t2", user="u2"),
    ]
    r = client.post("/v1/batch", json={"batch": batch, "sentAt": TS})
    assert r.status_code == 200, r.text
    assert r.json() | {"notes": []} == {"success": True, "received": 4, "events": 2, "unattributed": 1,
                                        "contacts": 1, "accounts": 1, "notes": []}
    s = store(workspace)
    [contact] = s.rows("contacts")
    assert (contact["contact_id"], contact["account_id"], contact["name"], contact["role"]) == ("u1", "acme", "Ana Lee",
                                                                                                  "admin")
    assert contact["attributes"] == {"beta": True}
    [account] = s.rows("accounts")
    assert (account["name"], account["employees"], account["country"]) == ("Acme", 40, "DE")
    assert account["attributes"]["plan"] == "pro"
    page = events(client)
    by_id = {e["event_id"]: e for e in page["items"]}
    assert page["total"] == 2
    assert by_id["t1"]["account_id"] == "acme"
    assert by_id["t1"]["value"] == 2.5
    assert by_id["t1"]["properties"] == {"report": "health", "value": 2.5}
    assert by_id["t2"]["account_id"] == "unattributed"


def test_a_retried_batch_is_counted_once_before_and_after_compaction(client: TestClient,
                                                                     workspace: Workspace) -> None:
    batch = {"batch": [track(f"m{i}") for i in range(5)]}
    for _ in range(3):
        assert client.post("/v1/batch", json=batch).status_code == 200
    assert events(client)["total"] == 5
    wh = Warehouse(workspace.warehouse_url, workspace.state_dir)
    assert len(wh.landed()) == 3
    wh.compact()
    assert client.post("/v1/batch", json=batch).status_code == 200  # a retry arriving after compaction
    assert events(client)["total"] == 5
    wh.compact()
    assert wh.count() == 5
    assert events(client)["total"] == 5


def test_attribution_context_group_then_latest_group_then_unattributed(client: TestClient) -> None:
    client.post("/v1/group", json={"userId": "u1", "groupId": "old", "messageId": "g1"})
    client.post("/v1/group", json={"userId": "u1", "groupId": "new", "messageId": "g2"})
    r = client.post("/v1/batch", json={"batch": [
        track("a"),
        track("b", context={"groupId": "explicit"}),
        track("c", user=None, anonymousId="anon-9"),
        {"type": "group", "userId": "u1", "groupId": "newest", "messageId": "g3"},
        track("d"),
    ]})
    assert r.status_code == 200
    assert r.json()["unattributed"] == 1
    got = {e["event_id"]: e for e in events(client)["items"]}
    assert {k: v["account_id"] for k, v in got.items()} == {"a": "new", "b": "explicit", "c": "unattributed",
                                                            "d": "newest"}
    assert got["c"]["properties"] == {"anonymous_id": "anon-9"}


def test_identify_before_group_keeps_traits_and_a_partial_group_keeps_fields(client: TestClient,
                                                                             workspace: Workspace) -> None:
    client.post("/v1/identify", json={"userId": "u7", "traits": {"email": "x@y.test", "title": "CFO"}})
    [contact] = store(workspace).rows("contacts")
    assert (contact["account_id"], contact["email"]) == ("unattributed", "x@y.test")
    client.post("/v1/group", json={"userId": "u7", "groupId": "acc", "traits": {"name": "Acc", "industry": "retail"}})
    client.post("/v1/group", json={"userId": "u7", "groupId": "acc", "traits": {"name": "Acc GmbH"}})
    [contact] = store(workspace).rows("contacts")
    assert (contact["account_id"], contact["email"], contact["title"]) == ("acc", "x@y.test", "CFO")
    [account] = store(workspace).rows("accounts")
    assert (account["name"], account["industry"]) == ("Acc GmbH", "retail")


def test_single_call_endpoints(client: TestClient) -> None:
    assert client.post("/v1/group", json={"userId": "u1", "groupId": "g"}).status_code == 200
    assert client.post("/v1/track", json={"userId": "u1", "event": "e", "messageId": "x1"}).status_code == 200
    assert client.post("/v1/page", json={"userId": "u1", "name": "Home", "messageId": "p1"}).status_code == 200
    assert client.post("/v1/screen", json={"userId": "u1", "name": "Main", "messageId": "s1"}).status_code == 200
    assert client.post("/v1/alias", json={"userId": "u9", "previousId": "u1"}).status_code == 200
    assert client.post("/v1/track", json={"userId": "u9", "event": "e", "messageId": "x2"}).status_code == 200
    got = {e["event_id"]: e for e in events(client)["items"]}
    assert {k: (v["event"], v["account_id"]) for k, v in got.items()} == {
        "x1": ("e", "g"), "p1": ("page_viewed", "g"), "s1": ("screen_viewed", "g"), "x2": ("e", "g")}
    assert got["p1"]["properties"] == {"name": "Home"}


def test_gzip_bodies_are_accepted(client: TestClient) -> None:
    body = gzip.compress(json.dumps({"batch": [track("z1")]}).encode())
    r = client.post("/v1/batch", content=body, headers={"Content-Encoding": "gzip",
                                                        "Content-Type": "application/json"})
    assert r.status_code == 200, r.text
    assert events(client)["total"] == 1


def _refused(client: TestClient, status: int, fragment: str, **kwargs: Any) -> None:
    r = client.post(kwargs.pop("path", "/v1/batch"), **kwargs)
    assert r.status_code == status, r.text
    assert fragment in r.json()["detail"]


def test_malformed_and_hostile_payloads_get_a_reason_and_store_nothing(client: TestClient) -> None:
    ok = track("ok")
    _refused(client, 400, "malformed JSON", content=b'{"batch": [')
    _refused(client, 400, "malformed JSON", content=b"\xff\xfe{}")
    _refused(client, 400, "JSON object", content=b"[1, 2]")
    _refused(client, 400, "`batch` list", json={"batch": {"type": "track"}})
    _refused(client, 400, "message 1: unknown type 'purchase'", json={"batch": [ok, {"type": "purchase"}]})
    _refused(client, 400, "message 2 (track): needs a userId or an anonymousId",
             json={"batch": [ok, ok, track("x", user=None)]})
    _refused(client, 400, "message 0 (track): event", json={"batch": [{"type": "track", "userId": "u"}]})
    _refused(client, 400, "message 0 (group): groupId", json={"batch": [{"type": "group", "userId": "u"}]})
    _refused(client, 400, "message 1: must be a JSON object", json={"batch": [ok, "nope"]})
    _refused(client, 400, "message 0 (track): userId", json={"batch": [track("l", user="x" * 300)]})
    _refused(client, 400, "properties", json={"batch": [track("p", properties=[1, 2])]})
    _refused(client, 400, "NaN", content=b'{"batch": [{"type": "track", "userId": "u", "event": "e", "x": NaN}]}')
    _refused(client, 400, "lone surrogate",
             content=b'{"batch": [{"type": "track", "userId": "\\ud800", "event": "e"}]}')
    _refused(client, 400, "NUL", content=b'{"batch": [{"type": "track", "userId": "a\\u0000b", "event": "e"}]}')
    _refused(client, 400, "nested too deeply", content=b'{"batch": ' + b"[" * 100_000 + b"]" * 100_000 + b"}")
    _refused(client, 400, "gzip", content=b"not gzip", headers={"Content-Encoding": "gzip"})
    _refused(client, 415, "Content-Encoding", content=b"{}", headers={"Content-Encoding": "br"})
    _refused(client, 400, "type 'identify' sent to /v1/track", path="/v1/track",
             json={"type": "identify", "userId": "u"})
    assert events(client)["total"] == 0


def test_size_limits_are_413_with_a_reason(client: TestClient) -> None:
    big = "x" * (33 * 1024)
    _refused(client, 413, "message 1:", json={"batch": [track("a"), track("b", properties={"blob": big})]})
    _refused(client, 413, "limit is 500 KB",
             json={"batch": [track(f"m{i}", properties={"b": "y" * 20_000}) for i in range(30)]})
    _refused(client, 413, "limit is 32 KB", path="/v1/track", json=track("c", properties={"blob": big}))
    bomb = gzip.compress(b'{"batch": [' + b" " * (50 * 1024 * 1024) + b"]}")
    _refused(client, 413, "decompressed body is larger", content=bomb, headers={"Content-Encoding": "gzip"})
    assert events(client)["total"] == 0


def test_a_bad_or_missing_key_is_401(client: TestClient) -> None:
    for headers in ({"Authorization": basic("wrong")}, {"Authorization": ""}):
        r = client.post("/v1/batch", json={"batch": [track("k")]}, headers=headers)
        assert r.status_code == 401
    assert client.get("/api/events", headers={"Authorization": basic(WRITE_KEY)}).status_code == 401
    assert events(client)["total"] == 0


def test_events_api_filters_and_paginates(client: TestClient) -> None:
    batch = [track(f"e{i}", event="a" if i % 2 else "b", timestamp=f"2026-03-{i + 1:02d}T00:00:00Z",
                   context={"groupId": "acc1" if i < 6 else "acc2"}) for i in range(10)]
    assert client.post("/v1/batch", json={"batch": batch}).status_code == 200
    assert events(client, account_id="acc1")["total"] == 6
    assert events(client, account_id="acc1", event="a")["total"] == 3
    window = events(client, since="2026-03-03T00:00:00", until="2026-03-05T00:00:00Z")
    assert [e["event_id"] for e in window["items"]] == ["e3", "e2"]
    first, second = events(client, limit=4), events(client, limit=4, offset=4)
    assert first["total"] == second["total"] == 10
    assert [e["event_id"] for e in first["items"]] == ["e9", "e8", "e7", "e6"]
    assert [e["event_id"] for e in second["items"]] == ["e5", "e4", "e3", "e2"]
    assert (second["limit"], second["offset"]) == (4, 4)
    r = client.get("/api/events", params={"limit": 0}, headers={"Authorization": f"Bearer {READ_KEY}"})
    assert r.status_code == 422
