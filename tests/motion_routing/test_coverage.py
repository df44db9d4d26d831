"""Coverage report: shares, ratios against targets, cost, warnings and totals."""

from __future__ import annotations

import json

import pytest

from longtail.core.motion.coverage import (
    NO_TIER,
    CoverageReport,
    CoverageTarget,
    CoveredAccount,
    TierCoverage,
    coverage_report,
)
from longtail.core.motion.routing import Member, Team

COST = {"csm": 120_000.0, "lead": 160_000.0}


def csm(member_id: str, *tiers: str, capacity: int | None = None, role: str = "csm") -> Member:
    return Member(member_id, member_id.upper(), role, capacity, tiers=frozenset(tiers))


def accounts(tier: str | None, n: int, arr: float = 1000.0, prefix: str = "", named: str | None = None,
             ) -> list[CoveredAccount]:
    return [CoveredAccount(f"{prefix or tier}-{i}", tier, arr, named) for i in range(n)]


def tier_row(report: CoverageReport, tier: str) -> TierCoverage:
    [row] = [t for t in report.tiers if t.tier == tier]
    return row


@pytest.mark.parametrize(("n", "status"), [
    (1, "over-covered"), (2, "within target"), (3, "within target"), (4, "within target"), (5, "under-covered"),
])
def test_status_boundaries(n: int, status: str) -> None:
    report = coverage_report(accounts("mid", n), Team((csm("c1", "mid"),)), [CoverageTarget("mid", 2, 4)], COST)
    row = tier_row(report, "mid")
    assert row.status == status
    assert row.accounts_per_csm == n
    assert (row.target_min, row.target_max) == (2, 4)


def test_status_sentences_say_what_to_do() -> None:
    team = Team((csm("c1", "mid"),))
    under = tier_row(coverage_report(accounts("mid", 6), team, [CoverageTarget("mid", 2, 4)], COST), "mid")
    assert under.sentence == ("6.0 accounts per CSM is above the target of 2-4: under-covered; "
                              "about 0.5 more CSM FTE would bring it to 4")
    over = tier_row(coverage_report(accounts("mid", 1), team, [CoverageTarget("mid", 2, 4)], COST), "mid")
    assert "over-covered; the accounts need about 0.5 CSM FTE and get 1.0" in over.sentence
    untargeted = tier_row(coverage_report(accounts("mid", 3), team, [], COST), "mid")
    assert untargeted.status == "no target"


def test_cost_per_account_and_per_1k_arr() -> None:
    report = coverage_report(accounts("mid", 4, arr=60_000.0), Team((csm("c1", "mid"),)), [], COST)
    row = tier_row(report, "mid")
    assert row.cost == 120_000.0
    assert row.cost_per_account == 30_000.0
    assert row.cost_per_1k_arr == pytest.approx(500.0)  # 120k over 240k ARR
    zero_arr = tier_row(coverage_report(accounts("mid", 2, arr=0.0), Team((csm("c1", "mid"),)), [], COST), "mid")
    assert zero_arr.cost_per_1k_arr is None


def test_member_covering_two_tiers_splits_time_cost_and_pool_share() -> None:
    team = Team((csm("c1", "mid", "pooled"), csm("c2", "pooled")))
    report = coverage_report(accounts("mid", 3) + accounts("pooled", 8), team,
                             [CoverageTarget("mid", 2, 10), CoverageTarget("pooled", 2, 10)], COST)
    mid, pooled = tier_row(report, "mid"), tier_row(report, "pooled")
    assert (mid.fte, pooled.fte) == (0.5, 1.5)
    assert (mid.cost, pooled.cost) == (60_000.0, 180_000.0)
    assert mid.accounts_per_csm == 6.0 and pooled.accounts_per_csm == pytest.approx(8 / 1.5)
    assert pooled.pool == ("c1", "c2")
    assert [(s.member_id, s.pooled_accounts) for s in pooled.shares] == [("c1", 4.0), ("c2", 4.0)]
    c1 = report.members[0]
    assert c1.member_id == "c1" and c1.accounts == 7.0 and c1.cost == 120_000.0
    assert [s.tier for s in c1.shares] == ["mid", "pooled"]


def test_named_accounts_count_for_their_csm_only() -> None:
    team = Team((csm("c1", "pooled"), csm("c2", "pooled"), csm("n1", role="lead")))
    rows = accounts("pooled", 4) + accounts("pooled", 2, prefix="named", named="c2")
    report = coverage_report(rows, team, [], COST)
    pooled = tier_row(report, "pooled")
    assert (pooled.accounts, pooled.named_accounts, pooled.pooled_accounts) == (6, 2, 4)
    assert {s.member_id: s.accounts for s in pooled.shares} == {"c1": 2.0, "c2": 4.0}
    assert [m.member_id for m in report.members] == ["c1", "c2"]  # the lead owns no named account: no row


def test_named_csm_who_left_falls_back_to_the_pool() -> None:
    report = coverage_report(accounts("mid", 2, named="gone"), Team((csm("c1", "mid"),)), [], COST)
    assert tier_row(report, "mid").pooled_accounts == 2
    assert report.members[0].accounts == 2.0
    assert any("named CSM gone is not on the team" in w for w in report.warnings)


def test_named_accounts_give_a_csm_without_tiers_their_tier() -> None:
    report = coverage_report(accounts("named", 3, named="c1"), Team((csm("c1"),)), [CoverageTarget("named", 1, 5)],
                             COST)
    row = tier_row(report, "named")
    assert (row.fte, row.status, row.pool) == (1.0, "within target", ())


def test_tier_without_csm_and_accounts_without_tier_warn() -> None:
    report = coverage_report(accounts("enterprise", 2) + accounts(None, 1, prefix="x"), Team((csm("c1", "mid"),)),
                             [], COST)
    ent, none = tier_row(report, "enterprise"), tier_row(report, NO_TIER)
    assert (ent.status, ent.uncovered_accounts, ent.accounts_per_csm) == ("no CSM", 2, None)
    assert none.uncovered_accounts == 1
    assert [t.tier for t in report.tiers] == ["enterprise", "mid", NO_TIER]
    assert any("tier 'enterprise': 2 account(s)" in w for w in report.warnings)
    assert report.totals.uncovered_accounts == 3


@pytest.mark.parametrize(("n", "capacity", "warning"), [
    (9, 10, None), (10, 11, "91%"), (10, 10, "100% of capacity"), (11, 10, "over capacity"), (1, 0, "capacity 0"),
])
def test_capacity_warnings(n: int, capacity: int, warning: str | None) -> None:
    report = coverage_report(accounts("mid", n), Team((csm("c1", "mid", capacity=capacity),)), [], COST)
    member = report.members[0]
    assert (member.warning is None) == (warning is None)
    if warning is not None:
        assert member.warning is not None and warning in member.warning
    if capacity:
        assert member.utilisation == n / capacity


def test_totals_include_other_roles_and_missing_costs_warn() -> None:
    team = Team((csm("c1", "mid"), csm("c2", "mid"), Member("l1", "Lead", "lead"), Member("o1", "Ops", "ops")))
    report = coverage_report(accounts("mid", 8, arr=10_000.0), team, [], COST)
    t = report.totals
    assert (t.accounts, t.arr, t.csms, t.accounts_per_csm) == (8, 80_000.0, 2, 4.0)
    assert (t.csm_cost, t.other_cost, t.total_cost) == (240_000.0, 160_000.0, 400_000.0)
    assert t.cost_per_account == 50_000.0 and t.cost_per_1k_arr == pytest.approx(5_000.0)
    assert report.warnings == ()
    cheap = coverage_report(accounts("mid", 1), team, [], {})
    assert cheap.totals.total_cost == 0.0
    assert "no loaded cost for role 'csm': it counts as 0 in costs" in cheap.warnings


def test_csm_without_tier_or_accounts_warns() -> None:
    report = coverage_report(accounts("mid", 2), Team((csm("c1", "mid"), csm("idle"))), [], COST)
    assert any("IDLE (idle) covers no tier" in w for w in report.warnings)
    assert report.totals.csm_cost == 240_000.0 and tier_row(report, "mid").cost == 120_000.0


def test_as_dict_is_json_able_and_stable() -> None:
    team = Team((csm("c2", "pooled"), csm("c1", "mid", "pooled")))
    rows = accounts("pooled", 3) + accounts("mid", 2)
    report = coverage_report(rows, team, [CoverageTarget("mid", 1, 5)], COST)
    data = report.as_dict()
    assert json.loads(json.dumps(data)) == data
    assert [m["member_id"] for m in data["members"]] == ["c1", "c2"]
    assert data["tiers"][0]["tier"] == "mid" and data["totals"]["accounts"] == 5
    assert coverage_report(list(reversed(rows)), team, [CoverageTarget("mid", 1, 5)], COST).as_dict() == data


def test_targets_are_validated() -> None:
    with pytest.raises(ValueError):
        CoverageTarget("mid", 0, 5)
    with pytest.raises(ValueError):
        CoverageTarget("mid", 6, 5)
    with pytest.raises(ValueError, match="two coverage targets"):
        coverage_report([], Team(()), [CoverageTarget("mid", 1, 2), CoverageTarget("mid", 1, 3)], COST)
