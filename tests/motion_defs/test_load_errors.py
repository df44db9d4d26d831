"""Every definition error is one `file:line: field: problem` sentence naming the right line and field."""

from __future__ import annotations

import pytest

from tests.motion_defs.helpers import EXAMPLES, NAMES, PLAYBOOK, error, line_of, load

CTA = """\
version: 1
# Twenty lines of comments and other playbooks push the step down so the line number is not a coincidence.
#
#
#
#
#
#
#
#
#
#
playbooks:
  - id: p
    objective: o
    trigger: nps_detractor
    steps:
      - type: cta
        reason: r
        title: t
        priority: high
        cta_type: riks
"""


def test_unknown_cta_type_names_file_line_and_field() -> None:
    assert line_of(CTA, "cta_type") == 22
    message = error(("playbooks.yml", CTA))
    assert message.startswith("playbooks.yml:22: playbooks[0].steps[0].cta_type: Input should be 'risk'"), message
    assert "\n" not in message


def test_unknown_cta_type_in_the_example_file() -> None:
    text = (EXAMPLES / "playbooks.yml").read_text(encoding="utf-8").replace("cta_type: risk", "cta_type: riks", 1)
    line = line_of(text, "cta_type: riks")
    assert error(("motion/playbooks.yml", text)).startswith(
        f"motion/playbooks.yml:{line}: playbooks[0].steps[0].cta_type: ")


@pytest.mark.parametrize(("text", "needle", "field", "problem"), [
    ("version: 1\nsegmnts: []\n", "segmnts", "segmnts", "Extra inputs are not permitted"),
    ("segments:\n  - id: s\n    when: seats > 1\n    colour: red\n", "colour", "segments[0].colour",
     "Extra inputs are not permitted"),
    ("tiers:\n  bands:\n    - {tier: a, colour: red}\n", "colour", "tiers.bands[0].colour",
     "Extra inputs are not permitted"),
    ("triggers:\n  - id: t\n    kind: condition\n    when: seats > 1\n    cooldwn_days: 3\n", "cooldwn",
     "triggers[0].cooldwn_days", "Extra inputs are not permitted"),
    (PLAYBOOK.replace("message: m}", "message: m, colour: red}"), "colour", "playbooks[0].steps[0].colour",
     "Extra inputs are not permitted"),
    ("team:\n  routing:\n    max_open: 3\n", "max_open", "team.routing.max_open", "Extra inputs are not permitted"),
    ("segments:\n  - id: Bad-Id\n    when: seats > 1\n", "Bad-Id", "segments[0].id", "String should match pattern"),
    ("version: 2\n", "version", "version", "Input should be 1"),
    ("triggers:\n  - id: t\n    kind: weather\n    when: x\n", "- id: t", "triggers[0]", "Input tag 'weather'"),
    ("triggers:\n  - id: t\n    kind: condition\n    when: seats > 1\n    cooldown_days: -1\n", "cooldown",
     "triggers[0].cooldown_days", "greater than or equal to 0"),
    ("triggers:\n  - id: t\n    kind: date\n    days_before: [30, 30]\n", "days_before", "triggers[0].days_before",
     "days_before must be distinct"),
    ("segments:\n  - id: s\n    description: nothing\n", "- id: s", "segments[0]", "a segment needs `when`"),
    ("tiers:\n  hysteresis_pct: 60\n  bands:\n    - {tier: a}\n", "hysteresis", "tiers.hysteresis_pct",
     "less than or equal to 50"),
    ("team:\n  coverage:\n    targets: {pooled: [0, 5]}\n", "targets", "team.coverage.targets",
     "must be [min, max]"),
    (PLAYBOOK + "    resources:\n      - {title: t, url: 'ftp://x'}\n", "url", "playbooks[0].resources[0].url",
     "String should match pattern"),
    (PLAYBOOK.replace("{type: alert, message: m}", "{type: cta, cta_type: risk, reason: r, title: t, owner: psychic}"),
     "owner", "playbooks[0].steps[0].owner", "unknown owner rule 'psychic'"),
    (PLAYBOOK.replace("{type: alert, message: m}", "{type: cta, cta_type: risk, reason: r, title: t, owner: skill}"),
     "owner", "playbooks[0].steps[0].owner", "write the skill rule as {skill: <name>}"),
])
def test_field_errors_name_line_and_field(text: str, needle: str, field: str, problem: str) -> None:
    message = error(("x.yml", text))
    assert message.startswith(f"x.yml:{line_of(text, needle)}: {field}: "), message
    assert problem in message


def test_the_second_item_of_a_list_is_located() -> None:
    text = "segments:\n  - {id: a, when: seats > 1}\n  - {id: b, when: seats > 1, colour: red}\n"
    assert error(("x.yml", text)).startswith("x.yml:3: segments[1].colour: Extra inputs are not permitted")


@pytest.mark.parametrize(("text", "problem"), [
    ("- a\n- b\n", "expected a mapping"),
    ("just a sentence\n", "expected a mapping"),
    ("42\n", "expected a mapping"),
])
def test_top_level_must_be_a_mapping(text: str, problem: str) -> None:
    assert error(("x.yml", text)).startswith(f"x.yml:1: {problem}")


def test_duplicate_segment_across_two_files_names_both_places() -> None:
    first = "segments:\n  - {id: a, when: seats > 1}\n  - {id: low, when: seats < 5}\n"
    second = "# mine\nsegments:\n  - {id: low, when: seats < 3}\n"
    message = error(("a.yml", first), ("b.yml", second))
    assert message == "b.yml:3: segments[0].id: segment 'low' is already defined at a.yml:3"


def test_duplicate_playbook_across_two_files_names_both_places() -> None:
    message = error(("a.yml", PLAYBOOK), ("b.yml", "\n" + PLAYBOOK))
    assert message == "b.yml:3: playbooks[0].id: playbook 'p' is already defined at a.yml:2"


def test_tiers_and_team_are_defined_once() -> None:
    tiers = "tiers:\n  bands:\n    - {tier: a}\n"
    assert error(("a.yml", tiers), ("b.yml", tiers)) == "b.yml:1: tiers: also defined in a.yml; define tiers once"
    team = "team:\n  routing: {max_open_ctas: 3}\n"
    assert error(("a.yml", team), ("b.yml", "\n" + team)) == "b.yml:2: team: also defined in a.yml; define team once"


def test_unknown_trigger_with_did_you_mean() -> None:
    text = "# x\n" + PLAYBOOK.replace("trigger: nps_detractor", "trigger: nps_detracter")
    assert error(("x.yml", text)) == ("x.yml:3: playbook p: trigger 'nps_detracter' is not defined "
                                      "(did you mean 'nps_detractor'?)")


def test_unknown_trigger_without_a_close_name_has_no_hint() -> None:
    text = PLAYBOOK.replace("trigger: nps_detractor", "trigger: zzzzzz")
    message = error(("x.yml", text))
    assert message == "x.yml:2: playbook p: trigger 'zzzzzz' is not defined"


def test_unknown_audience_segment_with_did_you_mean() -> None:
    text = "segments:\n  - {id: at_risk, when: health_score < 50}\n" + PLAYBOOK.replace(
        "    steps:", "    exclude: [at_rsk]\n    steps:")
    assert error(("x.yml", text)) == ("x.yml:4: playbook p: audience refers to unknown segment 'at_rsk' "
                                      "(did you mean 'at_risk'?)")


def test_unknown_segment_reference_with_did_you_mean() -> None:
    text = "segments:\n  - {id: at_risk, when: health_score < 50}\n  - {id: b, none_of: [at_rsk]}\n"
    assert error(("x.yml", text)) == "x.yml:3: segment b: refers to unknown segment 'at_rsk' (did you mean 'at_risk'?)"


def test_segments_may_refer_to_tiers_and_to_segments_of_other_files() -> None:
    tiers = "tiers:\n  bands:\n    - {tier: pooled}\n    - {tier: mid, min: 100}\n"
    segs = "segments:\n  - {id: small, all_of: [pooled], none_of: [big]}\n"
    motion = load(("a.yml", tiers), ("b.yml", segs), ("c.yml", "segments:\n  - {id: big, when: seats > 100}\n"))
    assert motion.segment_ids() == ("small", "big")
    assert motion.tier_names() == ("pooled", "mid")


@pytest.mark.parametrize(("text", "loop"), [
    ("segments:\n  - {id: a, all_of: [b]}\n  - {id: b, any_of: [c]}\n  - {id: c, none_of: [a]}\n",
     "x.yml:2: segment a: segments refer to each other: 'a' -> 'b' -> 'c' -> 'a'"),
    ("segments:\n  - {id: a, all_of: [a]}\n", "x.yml:2: segment a: segments refer to each other: 'a' -> 'a'"),
    ("segments:\n  - {id: z, when: seats > 1}\n  - {id: a, all_of: [z, b]}\n  - {id: b, any_of: [a]}\n",
     "x.yml:3: segment a: segments refer to each other: 'a' -> 'b' -> 'a'"),
])
def test_segment_cycles(text: str, loop: str) -> None:
    assert error(("x.yml", text)) == loop


def test_a_diamond_is_not_a_cycle() -> None:
    text = ("segments:\n  - {id: base, when: seats > 1}\n  - {id: l, all_of: [base]}\n  - {id: r, all_of: [base]}\n"
            "  - {id: top, all_of: [l, r]}\n")
    assert load(("x.yml", text)).segment_ids() == ("base", "l", "r", "top")


def test_a_segment_may_not_take_a_tier_name() -> None:
    text = "tiers:\n  bands:\n    - {tier: a}\nsegments:\n  - {id: a, when: seats > 1}\n"
    assert error(("x.yml", text)).startswith("x.yml:5: segment a: has the name of a tier")


@pytest.mark.parametrize(("bands", "problem"), [
    ("    - {tier: a}\n    - {tier: b, min: 100}\n    - {tier: c, min: 50}\n", "must increase strictly"),
    ("    - {tier: a}\n    - {tier: b, min: 100}\n    - {tier: c, min: 100}\n", "must increase strictly"),
    ("    - {tier: a, min: 5}\n", "the first band has no `min`"),
    ("    - {tier: a}\n    - {tier: b}\n", "every band after the first needs `min`"),
    ("    - {tier: a}\n    - {tier: a, min: 5}\n", "tier names must be unique"),
])
def test_tier_band_ordering(bands: str, problem: str) -> None:
    message = error(("x.yml", "tiers:\n  bands:\n" + bands))
    assert message.startswith("x.yml:2: tiers.bands"), message
    assert problem in message


def test_a_negative_band_min_names_the_band() -> None:
    message = error(("x.yml", "tiers:\n  bands:\n    - {tier: a}\n    - {tier: b, min: -5}\n"))
    assert message == "x.yml:4: tiers.bands[1].min: Input should be greater than or equal to 0"


def test_tier_bands_need_at_least_one() -> None:
    assert "tiers.bands: Tuple should have at least 1 item" in error(("x.yml", "tiers:\n  bands: []\n"))


def test_a_first_band_with_min_zero_is_accepted() -> None:
    text = "tiers:\n  bands:\n    - {tier: a, min: 0}\n    - {tier: b, min: 0.5}\n"
    assert load(("x.yml", text)).tier_names() == ("a", "b")


PROMOTION = """\
tiers:
  bands:
    - {tier: a}
    - {tier: b, min: 5}
  promotions:
    - {when: "seats > 1", to: b, reason: r}
    - {when: "seats > 9", to: c, reason: r}
"""


def test_promotion_to_an_unknown_tier_is_rejected() -> None:
    message = error(("x.yml", PROMOTION))
    assert "tiers.promotions[1].to: no tier 'c' (tiers: a, b)" in message
    assert message.startswith("x.yml:")


def test_promotion_to_an_unknown_tier_names_the_promotion_line() -> None:
    """Like every other error, the line and field of the offending promotion (not the `tiers:` line)."""
    assert error(("x.yml", PROMOTION)).startswith("x.yml:7: tiers.promotions[1].to: ")


def test_a_promotion_condition_may_not_read_the_tier() -> None:
    text = PROMOTION.replace('"seats > 9", to: c', "\"tier = 'a'\", to: b")
    message = error(("x.yml", text))
    assert message.startswith("x.yml:7: tiers.promotions[1].when: invalid condition"), message
    assert "unknown column 'tier'" in message


def test_segments_and_triggers_may_read_the_tier() -> None:
    text = ("segments:\n  - {id: s, when: \"tier = 'a'\"}\ntriggers:\n  - {id: t, kind: condition, "
            "when: \"tier = 'a' and seats > 1\"}\n")
    motion = load(("x.yml", text))
    assert {"segment:s", "trigger:t"} <= set(motion.conditions)


@pytest.mark.parametrize(("text", "start"), [
    ("segments:\n  - {id: a, when: sets > 1}\n", "x.yml:2: segment a: condition: invalid condition 'sets > 1': "
     "unknown column 'sets'; did you mean 'seats'?"),
    ("triggers:\n  - id: t\n    kind: condition\n    when: 'foo > 1'\n", "x.yml:2: trigger t: condition: "),
    (PLAYBOOK + "    success: {when: 'nps_latest >>'}\n", "x.yml:2: playbook p: condition: invalid condition"),
    ("segments:\n  - {id: a, when: \"plan_family = 'pro'\"}\n", "x.yml:2: segment a: condition: "),
])
def test_condition_errors_name_the_definition(text: str, start: str) -> None:
    assert error(("x.yml", text)).startswith(start)


def test_account_attributes_declared_in_any_file_become_text_columns() -> None:
    motion = load(("a.yml", "account_attributes: [plan_family]\n"),
                  ("b.yml", "segments:\n  - {id: a, when: \"plan_family = 'pro'\"}\n"))
    assert motion.account_attributes == ("plan_family",)
    assert "segment:a" in motion.conditions


def test_a_date_trigger_needs_days_to_renewal() -> None:
    names = tuple(n for n in NAMES if n != "days_to_renewal")
    text = "triggers:\n  - {id: r, kind: date, days_before: [30]}\n"
    assert error(("x.yml", text), builtins=False, names=names) == (
        "x.yml:2: trigger r: needs the days_to_renewal feature")


def test_a_product_event_trigger_needs_names() -> None:
    text = "triggers:\n  - id: t\n    kind: event\n    event: product_event\n"
    assert "a product_event trigger needs `names`" in error(("x.yml", text))
