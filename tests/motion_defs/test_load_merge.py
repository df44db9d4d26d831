"""Merging files: the example motion, built-in triggers (overridable once), empty files and content hashes."""

from __future__ import annotations

from longtail.core.motion.definitions import ConditionTrigger, EventTrigger
from longtail.core.motion.load import BUILTIN_SOURCE
from tests.motion_defs.helpers import PLAYBOOK, error, example_files, load

BUILTIN_IDS = {"no_login_14d", "usage_down_30", "health_drop_20", "health_below_50", "seats_nearly_full",
               "champion_quiet_30d", "champion_changed", "nps_detractor", "milestone_reached", "ticket_escalated",
               "renewal_window"}


def test_the_example_motion_loads() -> None:
    motion = load(*example_files())
    assert motion.tier_names() == ("pooled", "mid", "enterprise")
    assert set(motion.segment_ids()) == {"new_customers", "low_usage", "promoters", "healthy_promoters", "at_risk",
                                         "digital_only"}
    assert set(motion.triggers) >= BUILTIN_IDS
    assert len(motion.triggers) == len(BUILTIN_IDS) + 8
    assert len(motion.playbooks) == 12
    assert motion.account_attributes == ("plan_family",)
    assert motion.team.routing.max_open_ctas == 40
    assert motion.defined["playbook:usage_drop"].source == "playbooks.yml"
    assert motion.defined["trigger:usage_drop"].source == "triggers.yml"
    assert motion.defined["trigger:nps_detractor"].source == BUILTIN_SOURCE
    assert "promotion:0" in motion.conditions and "success:usage_drop" in motion.conditions


def test_empty_files_are_fine() -> None:
    motion = load(("empty.yml", ""), ("comments.yml", "# nothing yet\n"), ("blank.yml", "\n\n"))
    assert set(motion.triggers) == BUILTIN_IDS
    assert motion.segments == () and motion.playbooks == () and motion.tiers is None


def test_no_files_and_no_builtins_is_an_empty_motion() -> None:
    motion = load(builtins=False)
    assert dict(motion.triggers) == {} and motion.defined == {}


def test_builtins_off_means_built_in_triggers_are_unknown() -> None:
    assert "trigger 'nps_detractor' is not defined" in error(("x.yml", PLAYBOOK), builtins=False)


def test_a_workspace_may_override_a_built_in_trigger() -> None:
    text = "triggers:\n  - {id: nps_detractor, kind: event, event: nps_detractor, max_score: 4}\n" \
           "  - {id: no_login_14d, kind: condition, when: days_since_last_activity >= 21}\n"
    motion = load(("triggers.yml", text))
    nps = motion.triggers["nps_detractor"]
    assert isinstance(nps, EventTrigger) and nps.max_score == 4
    login = motion.triggers["no_login_14d"]
    assert isinstance(login, ConditionTrigger) and login.when == "days_since_last_activity >= 21"
    assert motion.defined["trigger:nps_detractor"].source == "triggers.yml"
    assert motion.defined["trigger:nps_detractor"].line == 2
    assert len(motion.triggers) == len(BUILTIN_IDS)


def test_a_built_in_trigger_may_not_be_overridden_twice_in_the_workspace() -> None:
    one = "triggers:\n  - {id: nps_detractor, kind: event, event: nps_detractor, max_score: 4}\n"
    two = "# again\ntriggers:\n  - {id: nps_detractor, kind: event, event: nps_detractor, max_score: 3}\n"
    assert error(("a.yml", one), ("b.yml", two)) == (
        "b.yml:3: triggers[0].id: trigger 'nps_detractor' is already defined at a.yml:2")


def test_a_trigger_defined_twice_in_one_file() -> None:
    text = "triggers:\n  - {id: t, kind: condition, when: seats > 1}\n  - {id: t, kind: condition, when: seats > 2}\n"
    assert error(("x.yml", text)) == "x.yml:3: triggers[1].id: trigger 't' is already defined at x.yml:2"


SEGS = "segments:\n  - {id: a, when: seats > 1}\n"
OTHER = "segments:\n  - {id: b, when: seats > 5}\n"


def test_a_definition_hash_changes_with_its_content() -> None:
    before = load(("a.yml", SEGS), ("b.yml", OTHER))
    after = load(("a.yml", SEGS.replace("seats > 1", "seats > 2")), ("b.yml", OTHER))
    assert before.hash_of("segment:a") != after.hash_of("segment:a")
    assert before.hash_of("segment:b") == after.hash_of("segment:b")
    assert before.hash != after.hash


def test_a_definition_hash_ignores_other_files_layout_and_comments() -> None:
    before = load(("a.yml", SEGS), ("b.yml", OTHER))
    other_changed = load(("a.yml", SEGS), ("b.yml", OTHER.replace("seats > 5", "seats > 6")))
    moved = load(("a.yml", "# a comment\n\n" + SEGS.replace("{id: a, when: seats > 1}", "{when: 'seats > 1', id: a}")),
                 ("b.yml", OTHER))
    assert other_changed.hash_of("segment:a") == before.hash_of("segment:a")
    assert other_changed.hash_of("segment:b") != before.hash_of("segment:b")
    assert moved.hash_of("segment:a") == before.hash_of("segment:a")
    assert moved.defined["segment:a"].line == 4
    assert moved.hash == before.hash


def test_hashes_are_stable_and_cover_every_kind() -> None:
    first, second = load(*example_files()), load(*example_files())
    assert first.hash == second.hash and len(first.hash) == 64
    assert {"tiers", "team", "segment:at_risk", "trigger:usage_drop", "playbook:usage_drop"} <= set(first.defined)
    assert all(len(d.hash) == 64 for d in first.defined.values())


def test_changing_a_playbook_changes_only_its_hash() -> None:
    files = example_files()
    changed = [(name, text.replace("title: Seats at 90%+", "title: Seats nearly full")) for name, text in files]
    before, after = load(*files), load(*changed)
    differ = {k for k in before.defined if before.hash_of(k) != after.hash_of(k)}
    assert differ == {"playbook:expansion_seats"}


def test_overriding_a_built_in_changes_its_hash() -> None:
    base = load()
    same = load(("t.yml", "triggers:\n  - {id: nps_detractor, kind: event, event: nps_detractor, "
                          "description: 'An NPS response of 6 or less'}\n"))
    lower = load(("t.yml", "triggers:\n  - {id: nps_detractor, kind: event, event: nps_detractor, max_score: 4, "
                           "description: 'An NPS response of 6 or less'}\n"))
    assert same.hash_of("trigger:nps_detractor") == base.hash_of("trigger:nps_detractor")
    assert lower.hash_of("trigger:nps_detractor") != base.hash_of("trigger:nps_detractor")
