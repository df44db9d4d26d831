"""The pure Segment mapping: validation, timestamps, ids, traits, and that any body is refused with a reason."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from longtail.ingest.segment import PayloadError, Track, event_id, event_time, map_messages, read_request

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def one(msg: dict[str, object]) -> Track:
    [m] = read_request(json.dumps({"batch": [msg]}).encode(), None, None)
    assert isinstance(m, Track)
    return m


def test_nulls_as_the_sdks_send_them_are_absent_values() -> None:
    m = one({"type": "track", "userId": 42, "anonymousId": None, "event": " e ", "properties": None,
             "context": None, "messageId": None})
    assert (m.userId, m.anonymousId, m.event, m.properties, m.context) == ("42", None, "e", {}, {})


def test_event_time_prefers_timestamp_then_corrects_device_skew_then_arrival() -> None:
    base = {"type": "track", "userId": "u", "event": "e"}
    assert event_time(one({**base, "timestamp": "2026-02-01T10:00:00+01:00"}), NOW) == datetime(
        2026, 2, 1, 9, tzinfo=UTC)
    # The device clock is 1 h fast: sentAt says 13:00 when the server received it at 12:00.
    skewed = one({**base, "originalTimestamp": "2026-03-01T12:30:00Z", "sentAt": "2026-03-01T13:00:00Z"})
    assert event_time(skewed, NOW) == NOW - timedelta(minutes=30)
    assert event_time(one({**base, "timestamp": "2026-02-01T10:00:00"}), NOW).tzinfo == UTC
    assert event_time(one(base), NOW) == NOW


def test_event_id_is_the_message_id_else_a_stable_content_hash() -> None:
    assert event_id(one({"type": "track", "userId": "u", "event": "e", "messageId": "m-1"})) == "m-1"
    a = one({"type": "track", "userId": "u", "event": "e", "timestamp": "2026-01-01", "sentAt": "2026-01-02"})
    b = one({"type": "track", "userId": "u", "event": "e", "timestamp": "2026-01-01", "sentAt": "2026-01-03"})
    c = one({"type": "track", "userId": "u", "event": "f", "timestamp": "2026-01-01"})
    assert event_id(a) == event_id(b) != event_id(c)
    assert event_id(a).startswith("sg_")


def test_traits_map_to_columns_and_the_rest_to_attributes() -> None:
    body = {"batch": [
        {"type": "group", "userId": "u", "groupId": "g", "traits": {
            "name": "Acme", "employees": 10**30, "industry": "", "mrr": 99, "createdAt": "2025-01-01"}},
        {"type": "identify", "userId": "u", "context": {"timezone": "Europe/Berlin"},
         "traits": {"email": "a@b.test", "role": "Champion", "timezone": "Mars/Olympus", "company": {"id": "g2"}}},
    ]}
    out = map_messages(read_request(json.dumps(body).encode(), None, None), {}, NOW)
    account = out.accounts["g"]
    assert account["name"] == "Acme" and "industry" not in account
    assert account["attributes"] == {"employees": 10**30, "mrr": 99, "industry": ""}  # out of range: kept aside
    assert account["created_at"] == datetime(2025, 1, 1, tzinfo=UTC)
    contact = out.contacts["u"]
    assert (contact["role"], contact["timezone"], contact["account_id"]) == ("champion", "Europe/Berlin", "g2")
    assert contact["attributes"] == {"timezone": "Mars/Olympus"}


@given(st.binary(max_size=300))
def test_any_bytes_are_messages_or_a_payload_error(body: bytes) -> None:
    try:
        read_request(body, None, None)
    except PayloadError as exc:
        assert exc.status in (400, 413) and exc.reason


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@given(st.lists(st.dictionaries(st.sampled_from(["type", "userId", "anonymousId", "event", "groupId", "traits",
                                                 "properties", "timestamp", "context", "messageId", "previousId"]),
                                json_values | st.sampled_from(["track", "group", "identify", "alias", "page"]),
                                max_size=8), max_size=5))
def test_any_json_batch_maps_or_is_refused_with_a_reason(batch: list[dict[str, object]]) -> None:
    try:
        messages = read_request(json.dumps({"batch": batch}).encode(), None, None)
    except PayloadError as exc:
        assert exc.status == 400 and exc.reason.startswith(("message ", "malformed"))
        return
    out = map_messages(messages, {}, NOW)
    assert len(out.events) == sum(1 for m in batch if m.get("type") in ("track", "page"))
    for row in out.events:
        assert row["account_id"] and row["event"] and row["ts"].tzinfo is not None


def test_wrong_type_on_a_single_endpoint_is_refused() -> None:
    with pytest.raises(PayloadError, match="sent to /v1/track"):
        read_request(b'{"type": "group", "userId": "u", "groupId": "g"}', None, "track")
