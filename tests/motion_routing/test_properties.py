"""Invariants: routing respects the limit and answers every request once; coverage shares add up."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from longtail.core.motion.coverage import CoveredAccount, coverage_report
from longtail.core.motion.routing import RULE_KINDS, Member, OwnerRule, RouteRequest, Team, Workload, route

TIERS = ("mid", "pooled", "named")
IDS = ("m1", "m2", "m3", "m4", "m5")

members = st.builds(
    lambda member_id, role, tiers, skills: Member(member_id, member_id, role, None, frozenset(skills),
                                                  frozenset(tiers)),
    st.sampled_from(IDS), st.sampled_from(("csm", "csm", "lead", "ops")),
    st.sets(st.sampled_from(TIERS), max_size=2), st.sets(st.sampled_from(("renewals", "onboarding")), max_size=1),
)
teams = st.lists(members, max_size=5, unique_by=lambda m: m.member_id).map(lambda ms: Team(tuple(ms)))
rules = st.sampled_from(RULE_KINDS).map(lambda k: OwnerRule(k, "renewals" if k == "skill" else None))
maybe_id = st.none() | st.sampled_from((*IDS, "m9"))
requests = st.builds(
    RouteRequest, key=st.just(""), account_id=st.sampled_from(("a1", "a2")), tier=st.none() | st.sampled_from(TIERS),
    arr=st.floats(0, 1e5), named_csm=maybe_id, last_touch=maybe_id, rules=st.lists(rules, max_size=3).map(tuple),
)
loads = st.dictionaries(st.sampled_from(IDS), st.integers(0, 4), max_size=5)


@given(teams, st.lists(requests, max_size=12), loads, st.none() | st.integers(0, 4))
def test_route_respects_the_limit_and_answers_each_request_once(
    team: Team, batch: list[RouteRequest], open_ctas: dict[str, int], limit: int | None,
) -> None:
    batch = [RouteRequest(f"c{i}", r.account_id, r.tier, r.arr, r.named_csm, r.last_touch, r.rules)
             for i, r in enumerate(batch)]
    assignments, after = route(batch, team, Workload(open_ctas=open_ctas), max_open_ctas=limit)
    assert [a.key for a in assignments] == [r.key for r in batch]
    given_out = Counter(a.owner_id for a in assignments if a.owner_id is not None)
    for member_id, n in given_out.items():
        assert member_id in team.by_id
        assert after.open_for(member_id) == open_ctas.get(member_id, 0) + n
        if limit is not None:
            assert after.open_for(member_id) <= max(limit, open_ctas.get(member_id, 0))
            assert open_ctas.get(member_id, 0) < limit  # nobody already at the limit got more
    for a in assignments:
        assert (a.owner_id is None) == (a.rule is None) and a.reason
        assert a.escalate_to is None or team.by_id[a.escalate_to].role == "lead"


@given(teams, st.lists(requests, max_size=8), st.lists(requests, max_size=8))
def test_routing_in_two_calls_equals_routing_in_one(team: Team, first: list[RouteRequest],
                                                    second: list[RouteRequest]) -> None:
    batch = [RouteRequest(f"c{i}", r.account_id, r.tier, r.arr, r.named_csm, r.last_touch, r.rules)
             for i, r in enumerate(first + second)]
    once, end_once = route(batch, team, Workload(), max_open_ctas=3)
    part1, middle = route(batch[:len(first)], team, Workload(), max_open_ctas=3)
    part2, end_twice = route(batch[len(first):], team, middle, max_open_ctas=3)
    assert once == part1 + part2
    assert (end_once.open_ctas, end_once.cursors) == (end_twice.open_ctas, end_twice.cursors)
    assert end_once.arr == pytest.approx(end_twice.arr)


accounts = st.lists(st.builds(
    CoveredAccount, account_id=st.just(""), tier=st.none() | st.sampled_from((*TIERS, "enterprise")),
    arr=st.floats(0, 1e6), named_csm=st.none() | st.sampled_from((*IDS, "m9")),
), max_size=30)


@given(teams, accounts)
def test_coverage_shares_sum_to_tier_totals(team: Team, rows: list[CoveredAccount]) -> None:
    rows = [CoveredAccount(f"a{i}", a.tier, a.arr, a.named_csm) for i, a in enumerate(rows)]
    report = coverage_report(rows, team, [], {"csm": 100.0, "lead": 50.0})
    for tier in report.tiers:
        covered = tier.accounts - tier.uncovered_accounts
        assert sum(s.accounts for s in tier.shares) == pytest.approx(covered)
        assert sum(s.named_accounts for s in tier.shares) == tier.named_accounts
        assert tier.named_accounts + tier.pooled_accounts == tier.accounts
        if not tier.uncovered_accounts:
            assert sum(s.arr for s in tier.shares) == pytest.approx(tier.arr)
    assert sum(t.accounts for t in report.tiers) == len(rows)
    for member in report.members:
        assert member.accounts == pytest.approx(sum(s.accounts for s in member.shares))
    csm_fte = sum(s.fte for t in report.tiers for s in t.shares)
    assert csm_fte <= sum(1 for m in team.members if m.role == "csm") + 1e-9
    assert sum(t.cost for t in report.tiers) == pytest.approx(100.0 * csm_fte)
