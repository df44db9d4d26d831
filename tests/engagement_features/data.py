"""Engagement events for the feature tests here and the backend parity check (tests/backends)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from tests.features.conftest import ts


def ev(event_id: str, account: str, kind: str, at: str, message: Any = "", *, contact: str | None = "c1",
       channel: str = "email", at_dt: datetime | None = None) -> dict[str, Any]:
    """An engagement event at `at` (ISO, UTC) or `at_dt`; `message` "" leaves properties empty, anything else is
    properties.message (None: a JSON null, which is no message key)."""
    props = None if message == "" else json.dumps({"message": message, "journey": "j"})
    return {"event_id": event_id, "account_id": account, "contact_id": contact,
            "event": f"longtail.{channel}.{kind}", "ts": at_dt if at_dt is not None else ts(at), "properties": props}


ENGAGEMENT_EVENTS = [
    # a1 delivered: m1 on the first instant of the window (27 days back), m0 one second earlier (28 days back,
    # out), m2 and m3 inside; event ids as longtail writes them (<message key>:<kind>), no properties
    ev("m0:delivered", "a1", "delivered", "2025-03-03T23:59:59"),
    ev("m1:delivered", "a1", "delivered", "2025-03-04T00:00:00"),
    ev("m2:delivered", "a1", "delivered", "2025-03-20T12:00:00"),
    ev("m3:delivered", "a1", "delivered", "2025-03-30T12:00:00"),
    # m1 opened three times (a provider reports each open): one opened message; m0's open is before the window
    ev("o1", "a1", "opened", "2025-03-05T08:00:00", "m1"),
    ev("o2", "a1", "opened", "2025-03-10T08:00:00", "m1"),
    ev("o3", "a1", "opened", "2025-03-29T08:00:00", "m1"),
    ev("o4", "a1", "opened", "2025-03-03T12:00:00", "m0"),
    ev("m2:opened", "a1", "opened", "2025-03-21T09:00:00"),
    # after the as-of date: not counted, and not the last engagement
    ev("o5", "a1", "opened", "2025-04-01T00:00:00", "m3"),
    # clicked twice on m1 (first instant of the window), replied to m1, one unsubscribe, one bounce at the edge
    ev("k1", "a1", "clicked", "2025-03-04T00:00:00", "m1"),
    ev("k2", "a1", "clicked", "2025-03-04T00:00:01", "m1"),
    ev("m1:replied", "a1", "replied", "2025-03-28T17:00:00"),
    ev("m3:unsubscribed", "a1", "unsubscribed", "2025-03-31T23:59:59"),
    ev("m4:bounced", "a1", "bounced", "2025-03-04T00:00:00"),
    ev("m5:bounced", "a1", "bounced", "2025-03-03T23:59:59"),
    # in-app: n1 viewed twice (same message in properties), clicked once; n2 dismissed; a JSON null message is
    # no message key, so each such event counts on its own id
    ev("v1", "a1", "viewed", "2025-03-12T10:00:00", "n1", channel="inapp"),
    ev("v2", "a1", "viewed", "2025-03-13T10:00:00", "n1", channel="inapp"),
    ev("v3", "a1", "viewed", "2025-03-14T10:00:00", None, channel="inapp"),
    ev("v4", "a1", "viewed", "2025-03-15T10:00:00", None, channel="inapp"),
    ev("n1:clicked", "a1", "clicked", "2025-03-13T10:00:05", "n1", channel="inapp"),
    ev("n2:dismissed", "a1", "dismissed", "2025-03-16T10:00:00", "n2", channel="inapp"),
    # a2: an email delivered and opened long ago, nothing in the window
    ev("p1:delivered", "a2", "delivered", "2025-02-01T12:00:00", contact="c4"),
    ev("p1:opened", "a2", "opened", "2025-02-02T12:00:00", contact="c4"),
]


def synthetic_engagement(accounts: list[str], start: datetime, days: int) -> list[dict[str, Any]]:
    """Deterministic engagement for `accounts` over `days` days from `start`: emails every 5 days (some opened
    twice, clicked, replied, unsubscribed or bounced), in-app messages viewed twice and dismissed, events with and
    without properties.message, some a fraction of a second before midnight."""
    rows: list[dict[str, Any]] = []
    for i, account in enumerate(accounts):
        for k in range(i % 5, days // 5):
            at = start + timedelta(days=5 * k, hours=(7 * i + k) % 24, seconds=0.25 * (k % 4))
            key = f"{account}-m{k}"
            if k % 7 == 3:
                rows.append(ev(f"{key}:bounced", account, "bounced", "", contact=None, at_dt=at))
                continue
            rows.append(ev(f"{key}:delivered", account, "delivered", "", contact=None, at_dt=at))
            if (i + k) % 2 == 0:
                rows += [ev(f"{key}:o{n}", account, "opened", "", key, contact=None, at_dt=at + timedelta(hours=n))
                         for n in (1, 30)]
            if (i + k) % 4 == 0:
                rows.append(ev(f"{key}:clicked", account, "clicked", "", contact=None,
                               at_dt=at.replace(hour=23, minute=59, second=59, microsecond=900_000)))
            if (i + k) % 6 == 0:
                rows.append(ev(f"{key}:replied", account, "replied", "", None, contact=None,
                               at_dt=at + timedelta(days=2)))
            if (i + k) % 11 == 0:
                rows.append(ev(f"{key}:unsubscribed", account, "unsubscribed", "", contact=None, at_dt=at))
            if k % 3 == 0:
                rows += [ev(f"{key}:v{n}", account, "viewed", "", f"{key}-n", contact=None, channel="inapp",
                            at_dt=at + timedelta(days=n)) for n in (0, 1)]
                rows.append(ev(f"{key}:dismissed", account, "dismissed", "", contact=None, channel="inapp",
                               at_dt=at + timedelta(days=1)))
    return rows
