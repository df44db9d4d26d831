"""The links in longtail's emails, through the real app: tracked click, open pixel, unsubscribe page and RFC 8058
one-click. Each records its engagement once (outbox event and warehouse event), an unsubscribe suppresses the
contact, and a bad, foreign, oversized or non-web link records nothing."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from datetime import timedelta

import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from longtail.channels.tokens import sign_click, sign_open, sign_unsubscribe
from longtail.settings import Workspace, signing_secret
from longtail.store.db import make_engine
from longtail.store.outbox import OutboxMessage, OutboxStore, PressureReader
from longtail.warehouse.events import Warehouse
from longtail.web import create_app
from tests.email_render.conftest import render
from tests.web.conftest import NOW, log_in

KEY = "ob_track_0001"


@pytest.fixture
def store(ws: Workspace) -> OutboxStore:
    store = OutboxStore(make_engine(ws.database_url))
    store.enqueue([OutboxMessage(KEY, "email", {"to": "jo@acme.test", "subject": "Hi"}, NOW - timedelta(hours=1),
                                 contact_id="c1", account_id="a1", program="onboarding")], now=NOW)
    return store


@pytest.fixture
def client(ws: Workspace, store: OutboxStore) -> Iterator[TestClient]:
    with TestClient(create_app(ws, clock=lambda: NOW, secure_cookies=False), follow_redirects=False) as c:
        yield c


def _kinds(store: OutboxStore) -> list[str]:
    return sorted(e["kind"] for e in store.events(KEY))


def _landed(ws: Workspace) -> list[str]:
    return sorted(str(e) for p in Warehouse(ws.warehouse_url, ws.state_dir).landed()
                  for e in pq.read_table(p, columns=["event"]).column("event").to_pylist())


def test_a_tracked_link_records_the_click_once_and_redirects(ws: Workspace, store: OutboxStore,
                                                              client: TestClient) -> None:
    token = sign_click(KEY, "https://docs.example.com/setup?step=2", signing_secret(ws))
    for _ in range(2):
        response = client.get(f"/t/c/{token}")
        assert response.status_code == 302
        assert response.headers["location"] == "https://docs.example.com/setup?step=2"
    assert _kinds(store) == ["clicked"]
    assert "longtail.email.clicked" in _landed(ws)


def test_the_open_pixel_is_a_gif_never_cached(ws: Workspace, store: OutboxStore, client: TestClient) -> None:
    response = client.get(f"/t/o/{sign_open(KEY, signing_secret(ws))}")
    assert response.status_code == 200 and response.headers["content-type"] == "image/gif"
    assert response.content.startswith(b"GIF89a") and "no-store" in response.headers["cache-control"]
    assert _kinds(store) == ["opened"] and "longtail.email.opened" in _landed(ws)


def test_unsubscribe_asks_on_get_and_acts_on_one_click_post(ws: Workspace, store: OutboxStore,
                                                            client: TestClient) -> None:
    token = sign_unsubscribe("c1", "email", KEY, signing_secret(ws))
    page = client.get(f"/u/{token}")
    assert page.status_code == 200 and 'method="post"' in page.text
    assert _kinds(store) == [] and PressureReader(store.engine).suppressions()[0] == {}  # a GET changes nothing
    done = client.post(f"/u/{token}", content=b"List-Unsubscribe=One-Click",
                       headers={"content-type": "application/x-www-form-urlencoded"})
    assert done.status_code == 200 and "unsubscribed" in done.text
    assert _kinds(store) == ["unsubscribed"] and "longtail.email.unsubscribed" in _landed(ws)
    by_contact, _emails = PressureReader(store.engine).suppressions()
    assert "email" in by_contact.get("c1", set())


def test_a_logged_in_recipient_can_unsubscribe_without_a_csrf_token(ws: Workspace, store: OutboxStore,
                                                                     client: TestClient) -> None:
    log_in(client, "csm1@vendor.test")
    token = sign_unsubscribe("c1", "email", KEY, signing_secret(ws))
    assert client.post(f"/u/{token}").status_code == 200
    assert _kinds(store) == ["unsubscribed"]


@pytest.mark.parametrize("path", ["/t/c/{bad}", "/t/o/{bad}", "/u/{bad}"])
def test_bad_links_record_nothing(ws: Workspace, store: OutboxStore, client: TestClient, path: str) -> None:
    secret = signing_secret(ws)
    good = {"/t/c/{bad}": sign_click(KEY, "https://x.example", secret), "/t/o/{bad}": sign_open(KEY, secret),
            "/u/{bad}": sign_unsubscribe("c1", "email", KEY, secret)}[path]
    foreign = {"/t/c/{bad}": sign_click(KEY, "https://x.example", "another secret, long enough"),
               "/t/o/{bad}": sign_open(KEY, "another secret, long enough"),
               "/u/{bad}": sign_unsubscribe("c1", "email", KEY, "another secret, long enough")}[path]
    unknown = {"/t/c/{bad}": sign_click("ob_nope", "https://x.example", secret),
               "/t/o/{bad}": sign_open("ob_nope", secret),
               "/u/{bad}": sign_unsubscribe("c1", "email", "ob_nope", secret)}[path]
    for bad in (good[:-3] + "AAA", foreign, unknown, "x" * 10_000, "%00%0d%0a<script>", "..%2F..%2Fetc"):
        response = client.get(path.format(bad=bad))
        assert response.status_code in (400, 404), (bad[:40], response.status_code)
        if path.startswith("/u/"):
            assert client.post(path.format(bad=bad)).status_code in (400, 404)
    assert _kinds(store) == [] and PressureReader(store.engine).suppressions()[0] == {}


def test_a_signed_link_to_a_non_web_url_is_not_followed(ws: Workspace, store: OutboxStore,
                                                        client: TestClient) -> None:
    for url in ("javascript:alert(1)", "data:text/html,<b>x</b>", "//evil.example/", "https:no-host"):
        response = client.get(f"/t/c/{sign_click(KEY, url, signing_secret(ws))}")
        assert response.status_code == 400 and "location" not in response.headers
    assert _kinds(store) == []


def test_the_links_of_a_rendered_email_work_on_the_app(ws: Workspace, store: OutboxStore,
                                                         client: TestClient) -> None:
    """Render an email as a journey does (the workspace's secret, its public URL) and follow what it contains:
    the tracked CTA, the pixel and the List-Unsubscribe header's one-click URL."""
    base = "https://cs.vendor.example"
    email = render(message_key=KEY, base_url=base, secret=signing_secret(ws))
    links = [h for h in re.findall(r'href="([^"]+)"', email.html) if h.startswith(f"{base}/t/c/")]
    pixel = re.search(r'<img src="([^"]+)"', email.html)
    unsubscribe = re.search(r"<([^>]+)>", email.headers["List-Unsubscribe"])
    assert links and pixel is not None and unsubscribe is not None
    targets = {client.get(html.unescape(link).removeprefix(base)).headers["location"] for link in links}
    assert "https://app.example.com/schedule?src=t" in targets
    assert client.get(html.unescape(pixel.group(1)).removeprefix(base)).status_code == 200
    assert client.post(unsubscribe.group(1).removeprefix(base), content=b"List-Unsubscribe=One-Click",
                       headers={"content-type": "application/x-www-form-urlencoded"}).status_code == 200
    assert _kinds(store) == ["clicked", "opened", "unsubscribed"]
