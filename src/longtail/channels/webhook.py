"""Webhook and Slack delivery: POST JSON, signed, with transient failures retried by the dispatcher.

A `webhook` outbox row carries `{"url", "event", "body"}`; the request body is
`{"id": <outbox key>, "event": ..., "sent_at": <ISO time>, "data": <body>}` with these headers:

    Content-Type: application/json
    X-Longtail-Id: <outbox key>             the same on a retry: receivers de-duplicate on it
    X-Longtail-Timestamp: <unix seconds>
    X-Longtail-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<raw body>" with the webhook secret>

Receivers verify with `verify_signature` (or the same three lines in their language) and reject a
timestamp older than a few minutes, so a captured request cannot be replayed later. The webhook secret is
derived from the workspace signing secret (`webhook_secret`), so handing it to a receiver does not let them
forge unsubscribe or click tokens.

A `slack` row carries `{"url" or "url_env", "text"}` and is posted in Slack's incoming-webhook format
`{"text": ...}`. `url_env` names an environment variable holding the Slack URL, because that URL is itself
the credential and should not sit in `motion/journeys/*.yml` under version control.

Outcomes: 2xx is sent; 408, 425, 429, 5xx, timeouts and connection errors are transient (the dispatcher
retries with back-off); any other 4xx is permanent (a retry would get the same answer).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from longtail.channels import PermanentError, TransientError
from longtail.store.outbox import OutboxRow

SIGNATURE_HEADER = "X-Longtail-Signature"
TIMESTAMP_HEADER = "X-Longtail-Timestamp"
ID_HEADER = "X-Longtail-Id"
DEFAULT_TIMEOUT = 10.0
TRANSIENT_STATUS = frozenset({408, 425, 429})
DEFAULT_TOLERANCE_SECONDS = 300
_WEBHOOK_KEY_LABEL = b"longtail-webhook-signing-v1"


def webhook_secret(signing_secret: str) -> str:
    """The key receivers use to check signatures: an HMAC of a fixed label under the workspace signing secret."""
    return hmac.new(signing_secret.encode("utf-8"), _WEBHOOK_KEY_LABEL, hashlib.sha256).hexdigest()


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The `X-Longtail-Signature` value for `body` sent at `timestamp`."""
    digest = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode("ascii") + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify_signature(secret: str, body: bytes, timestamp_header: str, signature_header: str, *, now: int,
                     tolerance: int = DEFAULT_TOLERANCE_SECONDS) -> bool:
    """True when the signature matches `body` and the timestamp is within `tolerance` seconds of `now`."""
    try:
        timestamp = int(timestamp_header)
    except ValueError:
        return False
    if abs(now - timestamp) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), signature_header)


def slack_payload(text: str) -> dict[str, Any]:
    """Slack's incoming-webhook body: plain text with link and mention markup left to Slack."""
    return {"text": text}


Poster = Callable[[urllib.request.Request, float], int]


def _post(request: urllib.request.Request, timeout: float) -> int:
    """Send the request; the HTTP status (an HTTPError status is returned, not raised)."""
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        exc.close()
        return int(exc.code)


class WebhookChannel:
    """Delivers `webhook` and `slack` outbox rows over HTTP(S) with urllib (no extra dependency)."""

    def __init__(self, secret: str, *, now_fn: Callable[[], datetime] | None = None, timeout: float = DEFAULT_TIMEOUT,
                 environ: Mapping[str, str] | None = None, poster: Poster = _post) -> None:
        self.secret = secret
        self.now_fn = now_fn or (lambda: datetime.now(UTC))
        self.timeout = timeout
        self.environ = os.environ if environ is None else environ
        self.poster = poster

    def request(self, row: OutboxRow) -> urllib.request.Request:
        """The HTTP request for `row` (signed for webhooks); PermanentError when the row cannot be sent."""
        if row.channel == "slack":
            url = self._slack_url(row.payload)
            body = json.dumps(slack_payload(str(row.payload.get("text") or ""))).encode("utf-8")
            headers = {"Content-Type": "application/json"}
        elif row.channel == "webhook":
            url = str(row.payload.get("url") or "")
            now = self.now_fn()
            document = {"id": row.key, "event": row.payload.get("event"), "sent_at": now.isoformat(),
                        "data": row.payload.get("body") or {}}
            body = json.dumps(document, sort_keys=True, separators=(",", ":")).encode("utf-8")
            timestamp = int(now.timestamp())
            headers = {"Content-Type": "application/json", ID_HEADER: row.key, TIMESTAMP_HEADER: str(timestamp),
                       SIGNATURE_HEADER: sign(self.secret, timestamp, body)}
        else:
            raise PermanentError(f"{row.key}: the webhook channel does not send {row.channel!r} messages")
        if not url.startswith(("http://", "https://")):
            raise PermanentError(f"{row.key}: not an http(s) URL: {url[:200]!r}")
        headers["User-Agent"] = "longtail-webhook/1"
        return urllib.request.Request(url, data=body, headers=headers, method="POST")

    def _slack_url(self, payload: Mapping[str, Any]) -> str:
        if payload.get("url"):
            return str(payload["url"])
        name = str(payload.get("url_env") or "")
        value = self.environ.get(name, "") if name else ""
        if not value:
            # Permanent: the variable will not appear by retrying; the failed row names it for the operator.
            raise PermanentError(f"the Slack webhook URL variable {name or '(none given)'} is not set")
        return value

    def send(self, row: OutboxRow) -> None:
        """POST the row; raises TransientError or PermanentError unless the receiver answered 2xx."""
        request = self.request(row)
        try:
            status = self.poster(request, self.timeout)
        except TimeoutError as exc:
            raise TransientError(f"{row.key}: timed out after {self.timeout:g}s: {exc}") from exc
        except OSError as exc:  # URLError and ConnectionError are OSErrors
            raise TransientError(f"{row.key}: connection failed: {exc}") from exc
        if 200 <= status < 300:
            return
        if status >= 500 or status in TRANSIENT_STATUS:
            raise TransientError(f"{row.key}: HTTP {status} from {request.full_url}")
        raise PermanentError(f"{row.key}: HTTP {status} from {request.full_url}")

    def close(self) -> None:
        """Nothing to close: urllib opens one connection per request."""
