"""Owner rules, chains, capacity, round-robin fairness and the nobody-available case."""

from __future__ import annotations

from collections import Counter

import pytest

from longtail.core.motion.routing import (
    Assignment,
    Member,
    OwnerRule,
    RouteRequest,
    Team,
    Workload,
    route,
)

NAMED, LAST, RR = OwnerRule("named"), OwnerRule("last_touch"), OwnerRule("round_robin")
LL_CTAS, LL_ARR = OwnerRule("least_loaded_ctas"), OwnerRule("least_loaded_arr")


def team() -> Team:
    return Team.from_rows([
        {"member_id": "m1", "name": "Ana Csm", "role": "csm", "capacity": 100, "skills": "renewals",
         "tiers": "mid"},
        {"member_id": "m2", "name": "Ben Csm", "role": "csm", "capacity": 100, "skills": ["onboarding"],
         "tiers": ["mid", "pooled"]},
        {"member_id": "m3", "name": "Cy Csm", "role": "csm", "capacity": 100, "skills": "renewals,onboarding",
         "tiers": "mid"},
        {"member_id": "m4", "name": "Ops Person", "role": "ops", "capacity": "", "skills": None, "tiers": None},
        {"member_id": "m5", "name": "Dana Lee", "role": "lead", "capacity": None, "tiers": "mid"},
        {"member_id": "m6", "name": "Eve Lead", "role": "lead", "tiers": "pooled"},
    ])


def req(key: str, *rules: OwnerRule, tier: str | None = "mid", arr: float = 1000.0, named: str | None = None,
        last: str | None = None) -> RouteRequest:
    return RouteRequest(key=key, account_id=f"acct-{key}", tier=tier, arr=arr, named_csm=named, last_touch=last,
                        rules=rules)


def one(request: RouteRequest, workload: Workload | None = None, limit: int | None = None) -> Assignment:
    assignments, _ = route([request], team(), workload or Workload(), max_open_ctas=limit)
    assert len(assignments) == 1
    return assignments[0]


# ---------------------------------------------------------------- the team table


def test_member_from_row_parses_lists_strings_and_none() -> None:
    m = Member.from_row({"member_id": " m9 ", "name": "", "role": "CSM", "capacity": "300",
                         "skills": "onboarding; renewals", "tiers": "pooled,mid"})
    assert m == Member("m9", "m9", "csm", 300, frozenset({"onboarding", "renewals"}), frozenset({"pooled", "mid"}))
    assert Member.from_row({"member_id": "x", "role": "ops", "capacity": 0.0}).capacity == 0
    assert Member.from_row({"member_id": "x", "role": "ops", "capacity": None}).capacity is None


@pytest.mark.parametrize("row", [
    {"member_id": "x", "role": "boss"},
    {"member_id": "", "role": "csm"},
    {"member_id": "x", "role": "csm", "capacity": "lots"},
    {"member_id": "x", "role": "csm", "capacity": 2.5},
    {"member_id": "x", "role": "csm", "capacity": -1},
])
def test_member_from_row_rejects_bad_rows(row: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        Member.from_row(row)


def test_team_pool_and_lead_lookup() -> None:
    t = team()
    assert [m.member_id for m in t.pool("mid")] == ["m1", "m2", "m3"]
    assert [m.member_id for m in t.pool("pooled")] == ["m2"]
    assert [m.member_id for m in t.pool(None)] == ["m1", "m2", "m3"]
    assert t.pool("enterprise") == []
    lead_mid, lead_pooled, lead_other = t.lead_for("mid"), t.lead_for("pooled"), t.lead_for("enterprise")
    assert (lead_mid and lead_mid.member_id, lead_pooled and lead_pooled.member_id) == ("m5", "m6")
    assert lead_other is not None and lead_other.member_id == "m5"  # no lead covers it: the first lead
    assert Team(tuple(m for m in t.members if m.role != "lead")).lead_for("mid") is None
    assert t.by_id["m4"].role == "ops"
    with pytest.raises(ValueError, match="twice"):
        Team((t.members[0], t.members[0]))


def test_owner_rule_validation() -> None:
    with pytest.raises(ValueError, match="unknown owner rule"):
        OwnerRule("random")
    with pytest.raises(ValueError):
        OwnerRule("skill")
    with pytest.raises(ValueError):
        OwnerRule("named", skill="renewals")


# ---------------------------------------------------------------- each rule


def test_named_rule_picks_the_named_csm() -> None:
    a = one(req("c1", NAMED, named="m3"))
    assert (a.owner_id, a.rule) == ("m3", "named")
    assert "named CSM of account acct-c1" in a.reason


@pytest.mark.parametrize(("named", "why"), [
    (None, "no named CSM recorded"),
    ("m99", "named CSM m99 is not on the team"),
    ("m4", "is ops, not a CSM or lead"),
])
def test_named_rule_falls_through(named: str | None, why: str) -> None:
    a = one(req("c1", NAMED, LL_CTAS, named=named))
    assert a.rule == "least_loaded_ctas"
    assert why in a.reason


def test_named_rule_skips_a_named_csm_at_capacity() -> None:
    a = one(req("c1", NAMED, LL_CTAS, named="m3"), Workload(open_ctas={"m3": 5}), limit=5)
    assert (a.owner_id, a.rule) == ("m1", "least_loaded_ctas")
    assert "at the limit of 5 open CTAs" in a.reason


def test_last_touch_rule() -> None:
    assert one(req("c1", LAST, last="m2")).owner_id == "m2"
    gone = one(req("c1", LAST, RR, last="m42"))
    assert gone.rule == "round_robin" and "last toucher m42 is not on the team" in gone.reason


def test_least_loaded_ctas_and_tie_break_by_member_id() -> None:
    load = Workload(open_ctas={"m1": 3, "m2": 1, "m3": 1})
    assert one(req("c1", LL_CTAS), load).owner_id == "m2"
    assert one(req("c1", LL_CTAS), Workload()).owner_id == "m1"


def test_least_loaded_arr() -> None:
    load = Workload(open_ctas={"m3": 9}, arr={"m1": 50_000.0, "m2": 20_000.0, "m3": 10_000.0})
    a = one(req("c1", LL_ARR), load)
    assert (a.owner_id, a.rule) == ("m3", "least_loaded_arr")
    assert "$10,000" in a.reason


def test_least_loaded_arr_spreads_a_batch_by_adding_each_request() -> None:
    requests = [req(f"c{i}", LL_ARR, arr=10_000.0) for i in range(3)]
    assignments, after = route(requests, team(), Workload(arr={"m1": 5_000.0}), max_open_ctas=None)
    assert [a.owner_id for a in assignments] == ["m2", "m3", "m1"]
    assert after.arr == {"m1": 15_000.0, "m2": 10_000.0, "m3": 10_000.0}


def test_skill_rule_least_loaded_among_the_skilled() -> None:
    skill = OwnerRule("skill", "renewals")
    assert one(req("c1", skill), Workload(open_ctas={"m1": 2, "m3": 1})).owner_id == "m3"
    assert one(req("c1", skill), Workload(open_ctas={"m1": 1, "m3": 1})).owner_id == "m1"
    nobody = one(req("c1", OwnerRule("skill", "legal"), LL_CTAS))
    assert nobody.owner_id == "m1" and "no CSM in pool 'mid' has skill 'legal'" in nobody.reason
    full = one(req("c1", skill, LL_CTAS), Workload(open_ctas={"m1": 2, "m3": 2}), limit=2)
    assert full.owner_id == "m2"
    assert "2 of 2 at the limit of 2" in full.reason


def test_pool_is_the_requests_tier() -> None:
    assert one(req("c1", LL_CTAS, tier="pooled"), Workload(open_ctas={"m2": 50})).owner_id == "m2"
    none_tier = one(req("c1", LL_CTAS, tier=None), Workload(open_ctas={"m1": 1}))
    assert none_tier.owner_id == "m2" and "all CSMs" in none_tier.reason


# ---------------------------------------------------------------- chains, capacity, round robin


def test_chain_first_available_rule_wins_and_reason_lists_what_was_tried() -> None:
    a = one(req("c1", NAMED, LAST, LL_CTAS, named="m99", last="m4"))
    assert a.rule == "least_loaded_ctas"
    assert a.reason.index("named CSM m99") < a.reason.index("last toucher Ops Person (m4)")
    assert one(req("c1", NAMED, LAST, LL_CTAS, named="m2", last="m3")).owner_id == "m2"


def test_round_robin_cycles_and_skips_members_at_capacity() -> None:
    requests = [req(f"c{i}", RR) for i in range(5)]
    assignments, after = route(requests, team(), Workload(open_ctas={"m2": 3}), max_open_ctas=3)
    assert [a.owner_id for a in assignments] == ["m1", "m3", "m1", "m3", "m1"]
    assert after.open_ctas == {"m1": 3, "m2": 3, "m3": 2}


def test_round_robin_fairness_and_persistence_across_calls() -> None:
    t = team()
    first, mid_load = route([req(f"a{i}", RR) for i in range(4)], t, Workload(), max_open_ctas=None)
    second, end = route([req(f"b{i}", RR) for i in range(5)], t, mid_load, max_open_ctas=None)
    owners = [a.owner_id for a in first + second]
    assert owners == ["m1", "m2", "m3", "m1", "m2", "m3", "m1", "m2", "m3"]
    assert Counter(owners) == {"m1": 3, "m2": 3, "m3": 3}
    assert end.cursors == {"mid": "m3"}
    once, _ = route([req(f"x{i}", RR) for i in range(9)], t, Workload(), max_open_ctas=None)
    assert [a.owner_id for a in once] == owners


def test_round_robin_cursor_survives_a_leaver() -> None:
    t = team()
    smaller = Team(tuple(m for m in t.members if m.member_id != "m2"))
    assignments, _ = route([req("c1", RR)], smaller, Workload(cursors={"mid": "m2"}), max_open_ctas=None)
    assert assignments[0].owner_id == "m3"


def test_route_does_not_change_the_input_workload() -> None:
    start = Workload(open_ctas={"m1": 1}, cursors={"mid": "m1"})
    _, after = route([req("c1", RR)], team(), start, max_open_ctas=None)
    assert start.open_ctas == {"m1": 1} and start.cursors == {"mid": "m1"}
    assert after.open_ctas == {"m1": 1, "m2": 1}


def test_batch_sees_its_own_assignments() -> None:
    assignments, after = route([req(f"c{i}", NAMED, named="m1") for i in range(3)], team(), Workload(),
                               max_open_ctas=2)
    assert [a.owner_id for a in assignments] == ["m1", "m1", None]
    assert after.open_for("m1") == 2


def test_nobody_available_names_why_and_suggests_the_lead() -> None:
    full = Workload(open_ctas={"m1": 40, "m2": 40, "m3": 41})
    a = one(req("c1", NAMED, LL_CTAS), full, limit=40)
    assert (a.owner_id, a.rule, a.escalate_to) == (None, None, "m5")
    assert "pool 'mid' has no CSM with capacity: 3 of 3 at the limit of 40 open CTAs" in a.reason
    assert "escalate to team lead Dana Lee (m5)" in a.reason
    empty = one(req("c1", RR, tier="enterprise"))
    assert empty.owner_id is None and "pool 'enterprise' has no CSM" in empty.reason
    assert empty.escalate_to == "m5"  # no lead covers enterprise: the first lead


def test_no_rules_and_no_lead() -> None:
    no_leads = Team(tuple(m for m in team().members if m.role != "lead"))
    assignments, _ = route([req("c1")], no_leads, Workload(), max_open_ctas=None)
    assert assignments[0].owner_id is None and assignments[0].escalate_to is None
    assert "no owner rule" in assignments[0].reason and "no lead" in assignments[0].reason


def test_zero_limit_blocks_everyone_and_negative_limit_is_refused() -> None:
    assert one(req("c1", LL_CTAS), limit=0).owner_id is None
    with pytest.raises(ValueError):
        route([], team(), Workload(), max_open_ctas=-1)


def test_assignment_as_dict() -> None:
    assert one(req("c1", NAMED, named="m1")).as_dict()["owner_id"] == "m1"
