"""Signed tokens for tracked clicks, open pixels and one-click unsubscribe links.

A token is `<payload>.<signature>`: the payload is a compact JSON list `[version, kind, fields...]` in url-safe
base64 (no padding) and the signature is HMAC-SHA256 over the encoded payload with the workspace secret. Anyone
holding the secret verifies a token offline (no database lookup), and nobody without it can forge one, so a
click token cannot be turned into an open redirect and an unsubscribe token cannot unsubscribe someone else.
The kind is inside the signed payload so a click token is never accepted as an unsubscribe token.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from typing import NamedTuple

from longtail.errors import LongtailError, UsageError

__all__ = [
    "InvalidToken",
    "Unsubscribe",
    "sign_click",
    "sign_open",
    "sign_unsubscribe",
    "verify_click",
    "verify_open",
    "verify_unsubscribe",
]

_VERSION = 1
# Shorter secrets can be brute-forced offline from a single token seen in any email.
MIN_SECRET_BYTES = 16


class InvalidToken(LongtailError):
    """A token was tampered with, signed with another secret, of the wrong kind, or is not a token at all."""

    exit_code = 2


class Unsubscribe(NamedTuple):
    """What a verified unsubscribe token says: who, on which channel, from which message."""

    contact_id: str
    channel: str
    message_key: str


def _key(secret: str | bytes) -> bytes:
    """The secret as bytes, refusing secrets too short to resist guessing."""
    key = secret.encode("utf-8") if isinstance(secret, str) else secret
    if len(key) < MIN_SECRET_BYTES:
        raise UsageError(f"the signing secret must be at least {MIN_SECRET_BYTES} bytes long (got {len(key)})")
    return key


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    padded = text + "=" * (-len(text) % 4)
    # validate=True: b64decode would otherwise silently skip foreign characters, making tokens malleable.
    return base64.b64decode(padded, altchars=b"-_", validate=True)


def _signature(key: bytes, payload: str) -> str:
    return _b64encode(hmac.new(key, payload.encode("ascii"), hashlib.sha256).digest())


def _sign(kind: str, fields: list[str], secret: str | bytes) -> str:
    """A token carrying `fields` for `kind`, signed with `secret`."""
    body = json.dumps([_VERSION, kind, *fields], separators=(",", ":"), ensure_ascii=False)
    payload = _b64encode(body.encode("utf-8"))
    return f"{payload}.{_signature(_key(secret), payload)}"


def _verify(token: str, kind: str, count: int, secret: str | bytes) -> list[str]:
    """The `count` string fields of a valid `kind` token; InvalidToken for anything else."""
    key = _key(secret)
    payload, dot, signature = token.partition(".")
    if not dot or not payload or not signature:
        raise InvalidToken("not a longtail token (expected <payload>.<signature>)")
    expected = _signature(key, payload) if payload.isascii() else ""
    # Constant-time comparison on bytes: compare_digest refuses non-ASCII str, and timing must not leak the digest.
    if not hmac.compare_digest(expected.encode("ascii"), signature.encode("utf-8")):
        raise InvalidToken("token signature does not match (tampered, or signed with another secret)")
    try:
        decoded = json.loads(_b64decode(payload).decode("utf-8"))
    except (binascii.Error, UnicodeDecodeError, json.JSONDecodeError) as exc:
        # Only reachable with a valid signature over garbage, i.e. a bug in whoever signed it.
        raise InvalidToken(f"token payload is unreadable: {exc}") from exc
    if not isinstance(decoded, list) or len(decoded) < 2 or decoded[0] != _VERSION:
        raise InvalidToken("token payload has an unknown layout or version")
    if decoded[1] != kind:
        raise InvalidToken(f"this is a {decoded[1]!r} token, not a {kind!r} token")
    if len(decoded) != count + 2:
        raise InvalidToken(f"a {kind!r} token carries {count} fields, this one {len(decoded) - 2}")
    fields = decoded[2:]
    if not all(isinstance(field, str) for field in fields):
        raise InvalidToken("token payload fields must be strings")
    return [str(field) for field in fields]


def sign_click(message_key: str, url: str, secret: str | bytes) -> str:
    """A click token for `url` in message `message_key`."""
    return _sign("click", [message_key, url], secret)


def verify_click(token: str, secret: str | bytes) -> tuple[str, str]:
    """(message_key, url) of a valid click token; raises InvalidToken otherwise."""
    message_key, url = _verify(token, "click", 2, secret)
    return message_key, url


def sign_open(message_key: str, secret: str | bytes) -> str:
    """An open-pixel token for message `message_key`."""
    return _sign("open", [message_key], secret)


def verify_open(token: str, secret: str | bytes) -> str:
    """The message_key of a valid open-pixel token; raises InvalidToken otherwise."""
    (message_key,) = _verify(token, "open", 1, secret)
    return message_key


def sign_unsubscribe(contact_id: str, channel: str, message_key: str, secret: str | bytes) -> str:
    """An unsubscribe token for `contact_id` on `channel`, issued in message `message_key`."""
    return _sign("unsubscribe", [contact_id, channel, message_key], secret)


def verify_unsubscribe(token: str, secret: str | bytes) -> Unsubscribe:
    """Who a valid unsubscribe token unsubscribes, on which channel, from which message; InvalidToken otherwise."""
    contact_id, channel, message_key = _verify(token, "unsubscribe", 3, secret)
    return Unsubscribe(contact_id, channel, message_key)
