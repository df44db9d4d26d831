"""`email_bytes` writes common messages itself; its bytes must be exactly what the email package generates."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import formataddr, parseaddr
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from longtail.channels import PermanentError
from longtail.channels.smtp import _BARE_ADDRESS, WIRE, _headers, _plain, build_email, email_bytes
from longtail.store.outbox import OutboxRow, message_id_for, message_key

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _row(payload: Mapping[str, Any], key: str = "k1") -> OutboxRow:
    k = message_key("test", key)
    return OutboxRow(key=k, channel="email", payload=payload, due_at=T0, attempts=1, message_id=message_id_for(k))


def _reference(row: OutboxRow, from_addr: str) -> bytes:
    return build_email(row, from_addr).as_bytes(policy=WIRE)


# Printable ASCII and its troublemakers: '=', '.', spaces, tabs, every kind of line end, long lines, UTF-8.
_body = st.text(alphabet=st.sampled_from(list("ab =.-\t\r\n\x0b\x0c\u2028\x85é☕")) | st.characters(), max_size=300)
_value = st.text(alphabet=st.sampled_from(list("abc <>@:;,/\"=?'  \t.-é")) | st.characters(), min_size=1,
                 max_size=100)
_name = st.sampled_from(["List-Unsubscribe", "List-Unsubscribe-Post", "X-Campaign", "X-Tag", "x-a b", "X:Y", "X-é", ""])


@settings(max_examples=400, deadline=None)
@given(text=st.none() | _body, html=st.none() | _body, subject=_value,
       to=_value | st.from_regex(_BARE_ADDRESS, fullmatch=True),
       headers=st.dictionaries(_name, _value, max_size=3), from_addr=st.sampled_from(
           ["cs@example.com", "Customer Success <cs@example.com>", "Zoë <z@example.com>"]))
def test_email_bytes_equal_the_email_package(*, text: str | None, html: str | None, subject: str, to: str,
                                             headers: dict[str, str], from_addr: str) -> None:
    row = _row({"to": to, "subject": subject, "text": text, "html": html, "headers": headers})
    try:
        expected = _reference(row, from_addr)
    except PermanentError as exc:
        with pytest.raises(PermanentError) as ours:
            email_bytes(row, from_addr)
        assert str(ours.value) == str(exc)  # the same refusal, word for word
        return
    assert email_bytes(row, from_addr) == expected


@pytest.mark.parametrize("payload", [
    {"to": "user1@example.com", "subject": "Your week in review #1", "text": "Hello 1,\n\nHere it is.\n",
     "html": "<p>Hello 1,</p>", "headers": {"List-Unsubscribe": "<https://example.com/u/1>"}},
    {"to": "A B <ab@example.com>", "subject": "x = 1. and a line of eighty characters or more, far beyond 76",
     "text": "." + "=" * 200 + " \n.\r\nend "},
    {"to": "ab@example.com", "subject": "only html", "html": "<p>" + "x" * 500 + "</p>\n"},
])
def test_common_messages_take_the_direct_path_with_identical_bytes(payload: Mapping[str, Any]) -> None:
    row = _row(payload)
    assert _plain(_headers(row, "cs@example.com")[2])  # the fast path is the one exercised here
    assert email_bytes(row, "cs@example.com") == _reference(row, "cs@example.com")


def test_headers_that_need_folding_go_through_the_email_package() -> None:
    for subject in ("word " * 30, "x" * 80, "two  spaces", " leading", "tab\there"):
        row = _row({"to": "a@example.com", "subject": subject, "text": "x"})
        assert not _plain(_headers(row, "cs@example.com")[2])
        assert email_bytes(row, "cs@example.com") == _reference(row, "cs@example.com")


def test_non_ascii_headers_are_encoded_words_either_way() -> None:
    row = _row({"to": "Zoë <z@example.com>", "subject": "Grüße " * 20, "text": "x", "headers": {"X-Tag": "é"}})
    assert email_bytes(row, "Zoë <cs@example.com>") == _reference(row, "Zoë <cs@example.com>")


def test_a_non_ascii_address_is_refused_not_crashed_on() -> None:
    with pytest.raises(PermanentError, match="not ASCII"):
        email_bytes(_row({"to": "zoë@example.com", "subject": "s", "text": "x"}), "cs@example.com")


@settings(max_examples=1000, deadline=None)
@given(address=st.from_regex(_BARE_ADDRESS, fullmatch=True))
def test_bare_addresses_skip_parseaddr_because_it_would_not_change_them(address: str) -> None:
    assert parseaddr(address) == ("", address)
    assert formataddr(("", address), charset="utf-8") == address
    row = _row({"to": address, "subject": "s", "text": "x"})
    assert email_bytes(row, address) == _reference(row, address)


@pytest.mark.parametrize(("payload", "error"), [
    ({"to": "a@example.com", "subject": "s\ud800", "text": "x"}, "Subject is not valid Unicode"),
    ({"to": "a@example.com", "subject": "s", "text": "x\udcff"}, "text is not valid Unicode"),
    ({"to": "a@example.com", "subject": "s", "text": "x", "headers": {"X-Tag: y": "z"}}, "not a header name"),
    ({"to": "a@example.com", "subject": "s", "text": "x", "headers": {"X-é": "z"}}, "not a header name"),
])
def test_hostile_payloads_are_permanent_errors(payload: Mapping[str, Any], error: str) -> None:
    # Anything else (UnicodeEncodeError) would escape the dispatcher and crash it on every claim of the row.
    with pytest.raises(PermanentError, match=error):
        email_bytes(_row(payload), "cs@example.com")
