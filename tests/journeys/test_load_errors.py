"""Definition errors: one ConfigError naming `file:line`, for model rules and for references and conditions."""

from __future__ import annotations

import pytest

from tests.journeys.helpers import COLUMNS, config_error, load_set

PAD = "# a comment so line numbers are not a coincidence\n" * 4


def one(steps: str, header: str = "") -> tuple[str, str]:
    """`bad.yml` with a first good journey, then journey `j` (line 9) holding `steps`."""
    text = (f"version: 1\n{PAD}journeys:\n  - id: fine\n    steps:\n      - {{id: s, type: exit}}\n"
            f"  - id: j\n{header}    steps:\n{steps}")
    return "bad.yml", text


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


@pytest.mark.parametrize(("steps", "header", "words"), [
    ("      - {id: a, type: branch, when: 'seats > 1', \"yes\": nowhere}\n", "", "nowhere"),
    ("      - {id: a, type: wait_until, when: 'seats > 1', timeout_days: 2, on_timeout: gone}\n", "", "gone"),
    ("      - {id: a, type: exit}\n      - {id: a, type: wait, days: 1}\n", "", "unique"),
    ("      - {id: a, type: wait, days: 1}\n      - {id: b, type: branch, engaged: opened, step: a, \"yes\": a}\n",
     "", "not an email or in_app"),
    ("      - {id: a, type: cta, cta_type: risk, reason: r, title: t}\n"
     "      - {id: b, type: wait_until, engaged: clicked, step: a, timeout_days: 1}\n", "", "not an email or in_app"),
    ("      - {id: a, type: wait_until, engaged: clicked, step: zz, timeout_days: 1}\n", "", "zz"),
    ("      - {id: a, type: exit}\n", "    holdout_pct: 10\n", "holdout needs a `goal`"),
])
def test_journey_rule_errors_name_the_journey_line(steps: str, header: str, words: str) -> None:
    source = one(steps, header)
    message = config_error(source)
    assert message.startswith(f"bad.yml:{line_of(source[1], '- id: j')}:"), message
    assert words in message


@pytest.mark.parametrize("step", [
    "      - {id: a, type: wait_until, timeout_days: 2}\n",
    "      - {id: m, type: email, template: t}\n"
    "      - {id: a, type: wait_until, when: 'seats > 1', engaged: opened, step: m, timeout_days: 2}\n",
])
def test_wait_until_needs_exactly_one_of_when_and_engaged(step: str) -> None:
    source = one(step)
    message = config_error(source)
    assert message.startswith(f"bad.yml:{line_of(source[1], 'type: wait_until')}:"), message
    assert "exactly one of `when`" in message


def test_wait_until_engaged_needs_its_step() -> None:
    source = one("      - {id: a, type: wait_until, engaged: opened, timeout_days: 2}\n")
    message = config_error(source)
    assert message.startswith(f"bad.yml:{line_of(source[1], 'type: wait_until')}:")
    assert "needs `step`" in message


def test_split_percents_must_add_up_to_100() -> None:
    steps = ("      - id: ab\n        type: split\n        variants:\n"
             "          - {name: a, percent: 50, goto: x}\n          - {name: b, percent: 40, goto: x}\n"
             "      - {id: x, type: exit}\n")
    source = one(steps)
    message = config_error(source)
    assert message.startswith(f"bad.yml:{line_of(source[1], 'variants:')}:"), message
    assert "add up to 90, not 100" in message


def test_holdout_without_goal_is_fine_when_goal_exit_is_off() -> None:
    loaded = load_set(one("      - {id: a, type: exit}\n", "    holdout_pct: 10\n    exit: {goal: false}\n"))
    assert set(loaded.journeys) == {"fine", "j"}


def test_unknown_step_type_names_its_line() -> None:
    source = one("      - {id: ok, type: exit}\n      - {id: a, type: sms, text: hi}\n")
    message = config_error(source)
    assert message.startswith(f"bad.yml:{line_of(source[1], 'type: sms')}:"), message


def test_unknown_template_is_rejected_only_when_templates_are_given() -> None:
    source = one("      - {id: hello, type: email, template: welcome}\n"
                 "      - {id: bye, type: email, template: nope}\n")
    assert set(load_set(source).journeys) == {"fine", "j"}
    assert set(load_set(source, templates=["welcome", "nope"]).journeys) == {"fine", "j"}
    message = config_error(source, templates=["welcome"])
    assert message.startswith("bad.yml:"), message
    assert "'nope'" in message and "bye" in message
    assert "welcome" not in message.split("no template", 1)[1]


@pytest.mark.parametrize(("field", "text", "where"), [
    ("goal", "no_such_column > 1", "goal"),
    ("branch", "seats >>> 2", "a"),
    ("wait_until", "tier > 3", "a"),
])
def test_bad_conditions_name_the_journey_line(field: str, text: str, where: str) -> None:
    if field == "goal":
        source = one("      - {id: a, type: exit}\n", f"    goal: \"{text}\"\n")
    elif field == "branch":
        source = one(f"      - {{id: a, type: branch, when: \"{text}\", \"no\": b}}\n      - {{id: b, type: exit}}\n")
    else:
        source = one(f"      - {{id: a, type: wait_until, when: \"{text}\", timeout_days: 1}}\n")
    message = config_error(source)
    assert message.startswith(f"bad.yml:{line_of(source[1], '- id: j')}: journey j: {where}:"), message


def test_duplicate_journey_ids_across_files_name_both() -> None:
    first = ("one.yml", "journeys:\n  - id: dup\n    steps: [{id: a, type: exit}]\n")
    second = ("two.yml", f"{PAD}journeys:\n  - id: dup\n    steps: [{{id: a, type: exit}}]\n")
    message = config_error(first, second)
    assert message.startswith("two.yml:6:"), message
    assert "one.yml:2" in message and "'dup'" in message


def test_unknown_segment_and_trigger_are_rejected_when_known_lists_are_given() -> None:
    source = one("      - {id: a, type: exit}\n", "    entry: {trigger: t1}\n    exit: {segment_left: s1}\n")
    assert "trigger 't1'" in config_error(source, triggers=["t2"])
    assert "segment 's1'" in config_error(source, segments=["s2"])
    assert set(load_set(source, triggers=["t1"], segments=["s1"]).journeys) == {"fine", "j"}


def test_valid_file_loads_with_conditions_and_hashes() -> None:
    source = one("      - {id: a, type: branch, when: \"seats > 1\", \"no\": b}\n      - {id: b, type: exit}\n",
                 "    goal: \"logins_7d >= 5\"\n")
    loaded = load_set(source, ("empty.yml", ""))
    assert set(loaded.conditions["j"]) == {"goal", "a"}
    assert loaded.conditions["fine"] == {}
    assert loaded.hashes["j"] != loaded.hashes["fine"]
    assert loaded.sources["j"] == f"bad.yml:{line_of(source[1], '- id: j')}"
    assert loaded.get("j") is loaded.journeys["j"] and loaded.get("zz") is None
    assert "seats" in COLUMNS


def test_non_mapping_file_is_an_error() -> None:
    assert config_error(("x.yml", "- 1\n- 2\n")).startswith("x.yml:1:")
