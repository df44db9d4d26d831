"""Escalation of overdue CTAs to the lead of their tier."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from longtail.core.motion.routing import Member, OpenCtaView, Team, escalations

AS_OF = date(2025, 3, 6)
TEAM = Team((
    Member("m1", "Ana Csm", "csm", 100, tiers=frozenset({"mid"})),
    Member("m5", "Dana Lee", "lead", tiers=frozenset({"mid"})),
    Member("m6", "Eve Lead", "lead", tiers=frozenset({"pooled"})),
))


def cta(cta_id: str, days_late: int, *, status: str = "open", escalated_to: str | None = None,
        tier: str | None = "mid", owner: str | None = "m1") -> OpenCtaView:
    return OpenCtaView(cta_id, owner, tier, AS_OF - timedelta(days=days_late), status, escalated_to)


def test_boundary_exactly_n_days_is_not_escalated_n_plus_one_is() -> None:
    result = escalations([cta("on_edge", 3), cta("late", 4), cta("early", -2)], TEAM, AS_OF, overdue_days=3)
    assert [e.cta_id for e in result] == ["late"]


def test_reason_and_target() -> None:
    [e] = escalations([cta("c1", 5)], TEAM, AS_OF, overdue_days=3)
    assert e.to_member == "m5"
    assert e.reason == "overdue by 5 days (due 2025-03-01); escalated to team lead Dana Lee"
    assert e.as_dict() == {"cta_id": "c1", "to_member": "m5", "reason": e.reason}


@pytest.mark.parametrize("status", ["done", "cancelled", "snoozed", "Snoozed"])
def test_quiet_statuses_are_not_escalated(status: str) -> None:
    assert escalations([cta("c1", 10, status=status)], TEAM, AS_OF, overdue_days=3) == []


def test_already_escalated_is_not_escalated_again() -> None:
    assert escalations([cta("c1", 10, escalated_to="m5")], TEAM, AS_OF, overdue_days=3) == []


def test_tier_picks_its_lead_and_unknown_tier_falls_back_to_first_lead() -> None:
    result = escalations([cta("p", 9, tier="pooled"), cta("x", 8, tier=None)], TEAM, AS_OF, overdue_days=0)
    assert [(e.cta_id, e.to_member) for e in result] == [("p", "m6"), ("x", "m5")]  # most overdue first


def test_owner_who_is_the_lead_goes_to_another_lead_or_nobody() -> None:
    [e] = escalations([cta("c1", 5, owner="m5")], TEAM, AS_OF, overdue_days=3)
    assert e.to_member == "m6" and "Eve Lead" in e.reason
    alone = Team(TEAM.members[:2])
    [e] = escalations([cta("c1", 5, owner="m5")], alone, AS_OF, overdue_days=3)
    assert e.to_member is None and "only team lead" in e.reason


def test_no_lead_is_still_reported() -> None:
    [e] = escalations([cta("c1", 5)], Team(TEAM.members[:1]), AS_OF, overdue_days=3)
    assert e.to_member is None and "no lead" in e.reason


def test_negative_days_refused() -> None:
    with pytest.raises(ValueError):
        escalations([], TEAM, AS_OF, overdue_days=-1)
