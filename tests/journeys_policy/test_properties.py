"""Hypothesis: caps are never exceeded, one verdict per candidate, and input order does not matter."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from longtail.core.journeys.policy import (
    Candidate,
    Cap,
    ContactPolicy,
    History,
    Sent,
    arbitrate,
)

ZONES = ["Asia/Tokyo", "America/Los_Angeles", "Europe/Berlin", "UTC"]
CONTACTS = [f"c{i}" for i in range(6)]
ACCOUNT = {c: f"a{i % 2}" for i, c in enumerate(CONTACTS)}
TZ = {c: ZONES[i % len(ZONES)] for i, c in enumerate(CONTACTS)}
# Around the Berlin and New York spring-forward weekend, so some local days are 23 hours long.
NOW = datetime(2025, 3, 30, 0, 0, tzinfo=UTC)
POLICY = ContactPolicy(contact_caps={"email": Cap(per_day=1, per_7_days=3), "in_app": Cap(per_day=2)},
                       account_caps={"email": Cap(per_day=3, per_7_days=5)},
                       on_cap={"low": "skip"})

now_st = st.builds(lambda h: NOW + timedelta(minutes=h * 37), st.integers(0, 80))
candidate_st = st.builds(
    lambda c, ch, p, d: (c, ch, p, d),
    st.sampled_from(CONTACTS), st.sampled_from(["email", "in_app", "task"]), st.sampled_from([0, 50, 100, 70]),
    st.integers(0, 300),
)
sent_st = st.tuples(st.sampled_from(CONTACTS), st.sampled_from(["email", "in_app"]), st.integers(1, 8 * 24 * 60))


def build(raw: list[tuple[str, str, int, int]], now: datetime) -> list[Candidate]:
    return [Candidate(key=f"k{i}", contact_id=c, account_id=ACCOUNT[c], channel=ch, priority=p,  # type: ignore[arg-type]
                      due=now - timedelta(minutes=d), program="j", contact_tz=TZ[c], email=f"{c}@x.test")
            for i, (c, ch, p, d) in enumerate(raw)]


def history(raw: list[tuple[str, str, int]], now: datetime) -> History:
    return History(sent=[Sent(c, ACCOUNT[c], ch, now - timedelta(minutes=m)) for c, ch, m in raw])  # type: ignore[arg-type]


def same_local_day(at: datetime, now: datetime, zone: str) -> bool:
    tz = ZoneInfo(zone)
    return at.astimezone(tz).date() == now.astimezone(tz).date()


@given(st.lists(candidate_st, max_size=40), st.lists(sent_st, max_size=25), now_st)
def test_grants_never_exceed_any_cap(raw: list[tuple[str, str, int, int]], sent_raw: list[tuple[str, str, int]],
                                     now: datetime) -> None:
    cands, hist = build(raw, now), history(sent_raw, now)
    granted = [c for c, v in zip(cands, arbitrate(cands, hist, POLICY, now), strict=True) if v.action == "send"]
    week = now - timedelta(hours=168)
    for channel, cap in POLICY.contact_caps.items():
        for contact in CONTACTS:
            sent = [s.sent_at for s in hist.sent if s.contact_id == contact and s.channel == channel]
            mine = sum(1 for c in granted if c.contact_id == contact and c.channel == channel)
            if cap.per_day is not None:
                before = sum(1 for at in sent if same_local_day(at, now, TZ[contact]))
                assert mine <= max(0, cap.per_day - before)
            if cap.per_7_days is not None:
                assert mine <= max(0, cap.per_7_days - sum(1 for at in sent if at > week))
    acct = POLICY.account_caps["email"]
    for account in set(ACCOUNT.values()):
        sent = [s.sent_at for s in hist.sent if s.account_id == account and s.channel == "email"]
        mine = sum(1 for c in granted if c.account_id == account and c.channel == "email")
        assert acct.per_day is not None and acct.per_7_days is not None
        assert mine <= max(0, acct.per_day - sum(1 for at in sent if same_local_day(at, now, "UTC")))
        assert mine <= max(0, acct.per_7_days - sum(1 for at in sent if at > week))


@given(st.lists(candidate_st, max_size=40), st.lists(sent_st, max_size=25), now_st, st.randoms())
def test_one_verdict_each_and_order_does_not_matter(raw: list[tuple[str, str, int, int]],
                                                   sent_raw: list[tuple[str, str, int]], now: datetime,
                                                   rnd: random.Random) -> None:
    cands, hist = build(raw, now), history(sent_raw, now)
    verdicts = arbitrate(cands, hist, POLICY, now)
    assert [v.key for v in verdicts] == [c.key for c in cands]
    shuffled = list(cands)
    rnd.shuffle(shuffled)
    again = {v.key: v for v in arbitrate(shuffled, hist, POLICY, now)}
    assert {v.key: v for v in verdicts} == again
    # Internal tasks always go; deferred messages always say when.
    assert all(v.action == "send" for c, v in zip(cands, verdicts, strict=True) if c.channel == "task")
    assert all(v.until is not None and v.until > now for v in verdicts if v.action in ("defer", "hold"))
    assert Counter(v.action for v in verdicts).total() == len(cands)
