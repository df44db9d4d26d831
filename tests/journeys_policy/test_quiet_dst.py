"""Quiet hours (crossing midnight, weekends) and daylight-saving changes in Berlin and New York."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from longtail.core.journeys.policy import Cap, ContactPolicy, History, QuietHours, arbitrate, to_instant

from .helpers import cand, sent

NIGHT = QuietHours(time(20), time(8))


def decide(now: datetime, tz: str, quiet: QuietHours = NIGHT) -> tuple[str, datetime | None]:
    [v] = arbitrate([cand("k", contact_tz=tz, due=now)], History(), ContactPolicy(quiet_hours=quiet), now)
    return v.action, v.until


@pytest.mark.parametrize(("local", "expected"), [
    (datetime(2025, 3, 4, 22, 30), datetime(2025, 3, 5, 8, 0)),   # evening: held to tomorrow morning
    (datetime(2025, 3, 5, 0, 10), datetime(2025, 3, 5, 8, 0)),    # after midnight: held to this morning
    (datetime(2025, 3, 5, 7, 59), datetime(2025, 3, 5, 8, 0)),
    (datetime(2025, 3, 5, 20, 0), datetime(2025, 3, 6, 8, 0)),    # the start is quiet
])
def test_quiet_hours_crossing_midnight_hold(local: datetime, expected: datetime) -> None:
    tz = ZoneInfo("Europe/Berlin")
    action, until = decide(local.replace(tzinfo=tz).astimezone(UTC), "Europe/Berlin")
    assert action == "hold"
    assert until == expected.replace(tzinfo=tz).astimezone(UTC)


@pytest.mark.parametrize("local", [datetime(2025, 3, 5, 8, 0), datetime(2025, 3, 5, 19, 59)])
def test_outside_quiet_hours_sends(local: datetime) -> None:
    assert decide(local.replace(tzinfo=ZoneInfo("Europe/Berlin")).astimezone(UTC), "Europe/Berlin")[0] == "send"


def test_daytime_quiet_window_that_does_not_cross_midnight() -> None:
    lunch = QuietHours(time(12), time(13))
    assert decide(datetime(2025, 3, 5, 12, 30, tzinfo=UTC), "UTC", lunch) == ("hold", datetime(2025, 3, 5, 13, 0,
                                                                                                  tzinfo=UTC))
    assert decide(datetime(2025, 3, 5, 13, 0, tzinfo=UTC), "UTC", lunch)[0] == "send"


def test_quiet_weekends_hold_until_monday_morning() -> None:
    weekends = QuietHours(time(20), time(8), weekends=True)
    friday_night = datetime(2025, 3, 7, 21, 0, tzinfo=UTC)
    saturday_noon = datetime(2025, 3, 8, 12, 0, tzinfo=UTC)
    monday = datetime(2025, 3, 10, 8, 0, tzinfo=UTC)
    assert decide(friday_night, "UTC", weekends) == ("hold", monday)
    assert decide(saturday_noon, "UTC", weekends) == ("hold", monday)
    assert decide(saturday_noon, "UTC", NIGHT)[0] == "send"


def test_hold_uses_the_contact_time_zone_and_says_so() -> None:
    now = datetime(2025, 3, 4, 16, 0, tzinfo=UTC)  # 01:00 in Tokyo, 08:00 in Los Angeles
    [tokyo] = arbitrate([cand("k", contact_tz="Asia/Tokyo")], History(), ContactPolicy(quiet_hours=NIGHT), now)
    assert tokyo.action == "hold"
    assert tokyo.until == datetime(2025, 3, 4, 23, 0, tzinfo=UTC)
    assert "held until 2025-03-05 08:00 local (Asia/Tokyo)" in tokyo.reason
    assert decide(now, "America/Los_Angeles")[0] == "send"


def test_berlin_spring_forward_holds_until_8_summer_time() -> None:
    # 30 March 2025: 02:00 CET jumps to 03:00 CEST. At 01:30 CET the hold ends 08:00 CEST = 06:00 UTC.
    assert decide(datetime(2025, 3, 30, 0, 30, tzinfo=UTC), "Europe/Berlin") == (
        "hold", datetime(2025, 3, 30, 6, 0, tzinfo=UTC))


def test_new_york_spring_forward_holds_until_8_daylight_time() -> None:
    # 9 March 2025: 02:00 EST jumps to 03:00 EDT. At 01:00 EST the hold ends 08:00 EDT = 12:00 UTC.
    assert decide(datetime(2025, 3, 9, 6, 0, tzinfo=UTC), "America/New_York") == (
        "hold", datetime(2025, 3, 9, 12, 0, tzinfo=UTC))


def test_quiet_end_inside_the_spring_forward_gap_moves_to_the_first_valid_instant() -> None:
    quiet = QuietHours(time(20), time(2, 30))  # 02:30 does not exist in Berlin on 30 March 2025
    assert decide(datetime(2025, 3, 30, 0, 30, tzinfo=UTC), "Europe/Berlin", quiet) == (
        "hold", datetime(2025, 3, 30, 1, 0, tzinfo=UTC))  # 03:00 CEST


def test_berlin_fall_back_holds_until_8_winter_time() -> None:
    # 26 October 2025: 03:00 CEST falls back to 02:00 CET. At 01:00 CEST the hold ends 08:00 CET = 07:00 UTC.
    assert decide(datetime(2025, 10, 25, 23, 0, tzinfo=UTC), "Europe/Berlin") == (
        "hold", datetime(2025, 10, 26, 7, 0, tzinfo=UTC))


def test_new_york_fall_back_ambiguous_end_uses_the_first_occurrence() -> None:
    # 2 November 2025: 01:00-02:00 happens twice. Quiet until 01:30 -> the first 01:30 (EDT) = 05:30 UTC.
    quiet = QuietHours(time(20), time(1, 30))
    assert decide(datetime(2025, 11, 2, 4, 0, tzinfo=UTC), "America/New_York", quiet) == (
        "hold", datetime(2025, 11, 2, 5, 30, tzinfo=UTC))
    # Already in the repeated hour (01:15 EST): the first 01:30 has passed, so hold to the second one.
    assert decide(datetime(2025, 11, 2, 6, 15, tzinfo=UTC), "America/New_York", quiet) == (
        "hold", datetime(2025, 11, 2, 6, 30, tzinfo=UTC))


def test_to_instant_gap_and_fold() -> None:
    berlin, new_york = ZoneInfo("Europe/Berlin"), ZoneInfo("America/New_York")
    assert to_instant(datetime(2025, 3, 30, 2, 30), berlin) == datetime(2025, 3, 30, 1, 0, tzinfo=UTC)
    assert to_instant(datetime(2025, 3, 9, 2, 0), new_york) == datetime(2025, 3, 9, 7, 0, tzinfo=UTC)
    assert to_instant(datetime(2025, 10, 26, 2, 30), berlin) == datetime(2025, 10, 26, 0, 30, tzinfo=UTC)
    assert to_instant(datetime(2025, 7, 1, 9, 0), berlin) == datetime(2025, 7, 1, 7, 0, tzinfo=UTC)


def test_day_cap_on_a_dst_day_uses_the_23_hour_local_day() -> None:
    # 30 March 2025 in Berlin runs from 23:00 UTC (29th) to 22:00 UTC (30th).
    now = datetime(2025, 3, 30, 10, 0, tzinfo=UTC)
    pol = ContactPolicy(contact_caps={"email": Cap(per_day=1)})
    inside = History(sent=[sent(ago=timedelta(hours=10, minutes=30), now=now)])  # 23:30 UTC = 00:30 local
    before = History(sent=[sent(ago=timedelta(hours=11, minutes=30), now=now)])  # 22:30 UTC = 23:30 local
    [v] = arbitrate([cand("k", contact_tz="Europe/Berlin")], inside, pol, now)
    assert (v.action, v.until) == ("defer", datetime(2025, 3, 30, 22, 0, tzinfo=UTC))
    assert arbitrate([cand("k", contact_tz="Europe/Berlin")], before, pol, now)[0].action == "send"


def test_quiet_hours_come_before_caps() -> None:
    now = datetime(2025, 3, 4, 22, 0, tzinfo=UTC)
    pol = ContactPolicy(contact_caps={"email": Cap(per_day=1)}, quiet_hours=NIGHT)
    hist = History(sent=[sent(ago=timedelta(hours=1), now=now)])
    [v] = arbitrate([cand("k")], hist, pol, now)
    assert v.action == "hold"
