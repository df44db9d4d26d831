"""Engagement features on hand-built events: window edges, one count per message, null rates, and no usage."""

from __future__ import annotations

from datetime import date
from typing import Any

import ibis
import pytest

from longtail.core.featuredefs import EMAIL_ENGAGED, ENGAGEMENT_COUNTS, load_feature_defs
from longtail.core.features import feature_table
from tests.engagement_features.data import ENGAGEMENT_EVENTS
from tests.features.conftest import EVENTS, make_tables

AS_OF = date(2025, 3, 31)  # the 28-day window starts 2025-03-04 00:00 UTC
ENGAGEMENT = [name for name, _event, _what in ENGAGEMENT_COUNTS] + ["email_open_rate_28d",
                                                                   "days_since_email_engagement"]


@pytest.fixture(scope="module")
def rows() -> dict[str, dict[str, Any]]:
    table = feature_table(make_tables([*EVENTS, *ENGAGEMENT_EVENTS]), AS_OF, load_feature_defs(None))
    return {r["account_id"]: r for r in ibis.duckdb.connect().to_pyarrow(table).to_pylist()}


@pytest.fixture(scope="module")
def without() -> dict[str, dict[str, Any]]:
    table = feature_table(make_tables(list(EVENTS)), AS_OF, load_feature_defs(None))
    return {r["account_id"]: r for r in ibis.duckdb.connect().to_pyarrow(table).to_pylist()}


def test_counts_one_per_message_inside_the_window(rows: dict[str, dict[str, Any]]) -> None:
    got = {name: rows["a1"][name] for name in ENGAGEMENT}
    assert got == {
        "emails_delivered_28d": 3,  # m1 (first instant of the window), m2, m3; not m0 (one second before)
        "emails_opened_28d": 2,  # m1 (three opens) and m2; not m0 (before), not m3 (after the as-of date)
        "emails_clicked_28d": 1,  # two clicks on m1
        "emails_replied_28d": 1,
        "emails_unsubscribed_28d": 1,  # the last second of the as-of date counts
        "emails_bounced_28d": 1,  # m4 on the edge; m5 one second before it
        "inapp_viewed_28d": 3,  # n1 (twice) + two views without a message key
        "inapp_clicked_28d": 1,
        "inapp_dismissed_28d": 1,
        "email_open_rate_28d": pytest.approx(2 / 3),
        "days_since_email_engagement": 2,  # the last open, 2025-03-29; the 04-01 open is after the as-of date
    }


def test_nothing_delivered_gives_a_null_rate_and_zero_counts(rows: dict[str, dict[str, Any]]) -> None:
    a2 = rows["a2"]
    assert {name: a2[name] for name in ENGAGEMENT if name.endswith("_28d")} == {
        **{name: 0 for name, _e, _w in ENGAGEMENT_COUNTS}, "email_open_rate_28d": None}
    assert a2["days_since_email_engagement"] == 57  # opened 2025-02-02, outside the window but in the history
    a4 = rows["a4"]  # no engagement at all
    assert a4["email_open_rate_28d"] is None and a4["days_since_email_engagement"] is None
    assert all(a4[name] == 0 for name, _e, _w in ENGAGEMENT_COUNTS)


def test_window_edges_move_with_the_as_of_date() -> None:
    """On 03-30 the window starts 03-03: m0 and m5 come in, m3's unsubscribe (03-31) is not yet there; on 04-01
    the window starts 03-05: m1's delivery and m4's bounce (03-04) leave it, m3's open (04-01) enters."""
    defs = load_feature_defs(None)
    con = ibis.duckdb.connect()

    def a1(day: date) -> dict[str, Any]:
        table = con.to_pyarrow(feature_table(make_tables([*EVENTS, *ENGAGEMENT_EVENTS]), day, defs))
        return next(r for r in table.to_pylist() if r["account_id"] == "a1")

    before, after = a1(date(2025, 3, 30)), a1(date(2025, 4, 1))
    assert (before["emails_delivered_28d"], before["emails_bounced_28d"], before["emails_unsubscribed_28d"]) == (
        4, 2, 0)
    assert before["emails_opened_28d"] == 3  # m0's open (03-03 12:00) is now in the window
    assert before["days_since_email_engagement"] == 1
    # m2 and m3 delivered; m1, m2 and m3 opened (m1's last open, 03-29, is in the window, its delivery is not):
    # the documented case of a rate above 1
    assert (after["emails_delivered_28d"], after["emails_opened_28d"], after["emails_bounced_28d"]) == (2, 3, 0)
    assert after["email_open_rate_28d"] == 1.5
    assert after["days_since_email_engagement"] == 0


def test_engagement_is_not_usage(rows: dict[str, dict[str, Any]], without: dict[str, dict[str, Any]]) -> None:
    """Every other feature is the same with and without the engagement events (they stay system events)."""
    assert set(rows) == set(without)
    for account, row in rows.items():
        others = {k: v for k, v in row.items() if k not in ENGAGEMENT}
        assert others == {k: v for k, v in without[account].items() if k not in ENGAGEMENT}, account
        assert len(others) > 30
    assert rows["a1"]["events_28d"] == without["a1"]["events_28d"] == 4


def test_definitions() -> None:
    defs = load_feature_defs(None)
    assert list(defs.names[-len(ENGAGEMENT):]) == ENGAGEMENT, "appended after the other standard features"
    for name in ENGAGEMENT:
        f = defs.get(name)
        assert f.standard and f.description and f.unit
    assert {defs.get(n).unit for n, _e, _w in ENGAGEMENT_COUNTS} == {"messages"}
    assert defs.get("email_open_rate_28d").unit == "ratio"
    assert defs.get("days_since_email_engagement").params["events"] == list(EMAIL_ENGAGED)
    # Every event an engagement feature reads is a default system event: never product usage.
    assert {e for _n, e, _w in ENGAGEMENT_COUNTS} | set(EMAIL_ENGAGED) <= set(defs.system_events)
    assert len({f.hash for f in defs.features}) == len(defs.features)
    # A workspace that redefines its system events keeps the engagement features (fixed event names).
    custom = load_feature_defs("system_events: [license_usage]\n")
    assert all(custom.get(n).hash == defs.get(n).hash for n in ENGAGEMENT)
