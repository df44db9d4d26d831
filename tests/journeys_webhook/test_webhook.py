"""Webhook and Slack delivery against a real local HTTP server: signatures, retries with back-off, failures."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlalchemy import Engine

from longtail.channels import PermanentError, TransientError
from longtail.channels.webhook import WebhookChannel, sign, verify_signature, webhook_secret
from longtail.dispatch import dispatch_routed
from longtail.store.db import make_engine, migrate
from longtail.store.outbox import OutboxMessage, OutboxRow, OutboxStore

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SECRET = webhook_secret("workspace-signing-secret-0123456789")


@dataclass
class Recorder:
    """What the server received, and how many of the first requests it should fail with `fail_status`."""

    fail_first: int = 0
    fail_status: int = 503
    requests: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class Server:
    def __init__(self, recorder: Recorder) -> None:
        self.recorder = rec = recorder

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with rec.lock:
                    rec.requests.append((self.path, dict(self.headers.items()), body))
                    failing = len(rec.requests) <= rec.fail_first
                self.send_response(rec.fail_status if failing else 200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: object) -> None:
                """Keep the test output clean."""

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> Server:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'state.db'}")
    migrate(engine)
    yield engine
    engine.dispose()


def _hook(key: str, url: str) -> OutboxMessage:
    return OutboxMessage(key, "webhook", {"url": url, "event": "risk.flagged", "body": {"account_id": "a1"}}, T0,
                         account_id="a1", program="we_noticed")


def _row(key: str, channel: str, payload: dict[str, object]) -> OutboxRow:
    return OutboxRow(key=key, channel=channel, payload=payload, due_at=T0, attempts=1, message_id="<m@x>")


def test_signature_round_trip_and_tampering() -> None:
    body = b'{"a":1}'
    header = sign(SECRET, 1_700_000_000, body)
    assert header.startswith("sha256=") and len(header) == 7 + 64
    assert verify_signature(SECRET, body, "1700000000", header, now=1_700_000_100)
    assert not verify_signature(SECRET, body + b" ", "1700000000", header, now=1_700_000_100)
    assert not verify_signature(SECRET, body, "1700000001", header, now=1_700_000_100)
    assert not verify_signature("another-secret", body, "1700000000", header, now=1_700_000_100)
    assert not verify_signature(SECRET, body, "1700000000", header, now=1_700_000_000 + 301)  # replayed late
    assert not verify_signature(SECRET, body, "soon", header, now=1_700_000_000)
    assert webhook_secret("a" * 32) != webhook_secret("b" * 32) != "a" * 32


def test_dispatch_retries_503s_with_back_off_then_delivers_signed(engine: Engine) -> None:
    store = OutboxStore(engine)
    with Server(Recorder(fail_first=2)) as server:
        recorder = server.recorder
        store.enqueue([_hook("k1", server.url + "/hook")], now=T0)
        clock = [T0]
        channel = WebhookChannel(SECRET, now_fn=lambda: clock[0], timeout=5)
        first = dispatch_routed(store, {"webhook": channel}, "w", lambda: clock[0])["webhook"]
        assert (first.claimed, first.retried, first.sent) == (1, 1, 0)
        row = store.get("k1")
        assert row is not None and row.status == "pending" and row.due_at == T0 + timedelta(minutes=1)
        assert "HTTP 503" in (row.last_error or "")
        clock[0] = T0 + timedelta(minutes=1)
        assert dispatch_routed(store, {"webhook": channel}, "w", lambda: clock[0])["webhook"].retried == 1
        row = store.get("k1")
        assert row is not None and row.due_at == T0 + timedelta(minutes=3)  # back-off doubled
        clock[0] = T0 + timedelta(minutes=3)
        assert dispatch_routed(store, {"webhook": channel}, "w", lambda: clock[0])["webhook"].sent == 1
    assert store.counts("webhook")["sent"] == 1
    assert len(recorder.requests) == 3
    path, headers, body = recorder.requests[-1]
    assert path == "/hook"
    assert headers["Content-Type"] == "application/json"
    assert headers["X-Longtail-Id"] == "k1"
    assert verify_signature(SECRET, body, headers["X-Longtail-Timestamp"], headers["X-Longtail-Signature"],
                            now=int(clock[0].timestamp()))
    document = json.loads(body)
    assert document == {"id": "k1", "event": "risk.flagged", "sent_at": clock[0].isoformat(),
                        "data": {"account_id": "a1"}}
    assert {r[1]["X-Longtail-Id"] for r in recorder.requests} == {"k1"}  # the same id on every retry


def test_a_4xx_fails_for_good_and_429_is_retried() -> None:
    with Server(Recorder(fail_first=1, fail_status=404)) as server:
        channel = WebhookChannel(SECRET, now_fn=lambda: T0)
        with pytest.raises(PermanentError, match="HTTP 404"):
            channel.send(_row("k", "webhook", {"url": server.url, "event": "e", "body": {}}))
    with Server(Recorder(fail_first=1, fail_status=429)) as server:
        with pytest.raises(TransientError, match="HTTP 429"):
            channel.send(_row("k", "webhook", {"url": server.url, "event": "e", "body": {}}))
        channel.send(_row("k", "webhook", {"url": server.url, "event": "e", "body": {}}))


def test_connection_refused_and_timeouts_are_transient() -> None:
    with Server(Recorder()) as server:
        url = server.url
    # The server is gone: nothing listens on the port any more.
    with pytest.raises(TransientError, match="connection failed"):
        WebhookChannel(SECRET, now_fn=lambda: T0, timeout=2).send(_row("k", "webhook", {"url": url, "event": "e"}))

    def slow(request: object, timeout: float) -> int:
        raise TimeoutError("timed out")

    with pytest.raises(TransientError, match="timed out"):
        WebhookChannel(SECRET, now_fn=lambda: T0, poster=slow).send(_row("k", "webhook", {"url": url}))


def test_slack_posts_the_incoming_webhook_format_from_the_env_url() -> None:
    recorder = Recorder()
    with Server(recorder) as server:
        channel = WebhookChannel(SECRET, environ={"SLACK_URL": server.url + "/services/T/B/X"})
        channel.send(_row("s1", "slack", {"text": "Account a1 needs a call", "url_env": "SLACK_URL"}))
    path, headers, body = recorder.requests[0]
    assert path == "/services/T/B/X"
    assert json.loads(body) == {"text": "Account a1 needs a call"}
    assert "X-Longtail-Signature" not in headers  # Slack does not check signatures
    with pytest.raises(PermanentError, match="SLACK_URL is not set"):
        WebhookChannel(SECRET, environ={}).send(_row("s2", "slack", {"text": "x", "url_env": "SLACK_URL"}))


def test_bad_rows_and_pull_channels_are_refused(engine: Engine) -> None:
    channel = WebhookChannel(SECRET, now_fn=lambda: T0)
    with pytest.raises(PermanentError, match="not an http"):
        channel.send(_row("k", "webhook", {"url": "file:///etc/passwd"}))
    with pytest.raises(PermanentError, match="does not send 'email'"):
        channel.send(_row("k", "email", {}))
    with pytest.raises(ValueError, match="fetched by the product"):
        dispatch_routed(OutboxStore(engine), {"in_app": channel}, "w", lambda: T0)
    with pytest.raises(ValueError, match="unknown channel sms"):
        dispatch_routed(OutboxStore(engine), {"sms": channel}, "w", lambda: T0)
