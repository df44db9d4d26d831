"""Signed tokens: round trips, tampering, wrong kind, wrong secret."""

from __future__ import annotations

import pytest

from longtail.channels.tokens import (
    InvalidToken,
    Unsubscribe,
    sign_click,
    sign_open,
    sign_unsubscribe,
    verify_click,
    verify_open,
    verify_unsubscribe,
)
from longtail.errors import UsageError

SECRET = "s3cret-s3cret-s3cret-s3cret"


def test_round_trips() -> None:
    url = "https://app.example.com/reports?a=1&b=é"
    assert verify_click(sign_click("m1", url, SECRET), SECRET) == ("m1", url)
    assert verify_open(sign_open("m1", SECRET), SECRET) == "m1"
    assert verify_unsubscribe(sign_unsubscribe("c1", "email", "m1", SECRET), SECRET) == Unsubscribe("c1", "email", "m1")


def test_tokens_are_url_safe() -> None:
    token = sign_click("m/1+2", "https://x.example/?q=a b&c=<>", SECRET)
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")


def test_every_single_character_change_is_rejected() -> None:
    token = sign_click("m1", "https://app.example.com/", SECRET)
    alphabet = "ABCabc019-_."
    for index, char in enumerate(token):
        replacement = next(c for c in alphabet if c != char)
        tampered = token[:index] + replacement + token[index + 1:]
        with pytest.raises(InvalidToken):
            verify_click(tampered, SECRET)


def test_swapped_payload_is_rejected() -> None:
    """The payload of one token with the signature of another (e.g. redirect to an attacker's site)."""
    good = sign_click("m1", "https://app.example.com/", SECRET)
    evil = sign_click("m1", "https://evil.example/", "another-secret-another-secret")
    forged = evil.split(".")[0] + "." + good.split(".")[1]
    with pytest.raises(InvalidToken, match="signature"):
        verify_click(forged, SECRET)


@pytest.mark.parametrize("token", ["", ".", "abc", "abc.", ".abc", "a.b.c", "é.é", "WzFd.xx"])
def test_garbage_is_rejected(token: str) -> None:
    with pytest.raises(InvalidToken):
        verify_click(token, SECRET)


def test_wrong_secret_is_rejected() -> None:
    with pytest.raises(InvalidToken):
        verify_open(sign_open("m1", SECRET), "a-different-secret-of-length")


def test_kinds_are_not_interchangeable() -> None:
    """A click token (which anyone can see in a link) must never unsubscribe anyone."""
    click = sign_click("c1", "email", SECRET)
    with pytest.raises(InvalidToken, match="not a 'unsubscribe' token"):
        verify_unsubscribe(click, SECRET)
    with pytest.raises(InvalidToken):
        verify_click(sign_open("m1", SECRET), SECRET)


def test_short_secrets_are_refused() -> None:
    with pytest.raises(UsageError, match="at least 16 bytes"):
        sign_open("m1", "short")
    with pytest.raises(UsageError):
        verify_open("x.y", b"")
