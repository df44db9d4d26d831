"""set_attribute steps in definitions: the column each attribute gets, its one type, the collision rule and the
values a step may hold (hostile ones are a ConfigError naming the file and line, as `longtail check` shows)."""

from __future__ import annotations

import pytest

from longtail.core.featuredefs import load_feature_defs
from longtail.core.features import FeatureSet
from longtail.core.motion.load import Motion, load_motion
from longtail.errors import ConfigError

FEATURES: FeatureSet = load_feature_defs(None)

BOOK = """\
triggers:
  - {{id: quiet, kind: condition, when: "days_since_last_activity >= 14"}}
playbooks:
  - id: mark
    objective: Mark quiet accounts
    trigger: quiet
    steps:
      - {{type: set_attribute, name: stage, value: {value}}}
"""


def motion(*texts: str, features: list[str] | None = None) -> Motion:
    names = [*FEATURES.names, *(features or [])]
    return load_motion([(f"motion/f{i}.yml", t) for i, t in enumerate(texts)], names)


def test_each_attribute_is_a_motion_column_with_its_type() -> None:
    m = motion(BOOK.format(value="at_risk"), """\
playbooks:
  - id: score
    objective: Flags
    trigger: quiet
    steps:
      - {type: set_attribute, name: flagged, value: true}
      - {type: set_attribute, name: level, value: 3}
segments:
  - {id: at_risk, when: "motion_stage = 'at_risk' and motion_flagged and motion_level >= 2"}
triggers:
  - {id: staged, kind: condition, when: "motion_stage = 'at_risk'"}
""")
    assert m.attribute_types == {"stage": "string", "flagged": "boolean", "level": "number"}
    assert "segment:at_risk" in m.conditions and "trigger:staged" in m.conditions


def test_a_condition_on_an_attribute_no_step_sets_is_an_error() -> None:
    with pytest.raises(ConfigError, match="motion_stage"):
        motion("segments:\n  - {id: s, when: \"motion_stage = 'x'\"}\n")


@pytest.mark.parametrize("clash", ["feature", "attribute"])
def test_a_column_that_exists_already_is_a_clear_error(clash: str) -> None:
    text = BOOK.format(value="at_risk")
    if clash == "attribute":  # a loaded attribute that happens to be called motion_stage
        with pytest.raises(ConfigError, match=r"motion/f0\.yml:\d+: playbooks\[0\]\.steps\[0\]\.name: .*'motion_stage' "
                           "is already a feature or a listed account attribute"):
            motion(text + "account_attributes: [motion_stage]\n")
    else:
        with pytest.raises(ConfigError, match="'motion_stage' is already a feature"):
            motion(text, features=["motion_stage"])


def test_a_loaded_attribute_of_the_same_name_is_a_separate_column() -> None:
    m = motion(BOOK.format(value="at_risk") + "account_attributes: [stage]\n"
               "segments:\n  - {id: s, when: \"stage = 'x' and motion_stage = 'y'\"}\n")
    assert m.account_attributes == ("stage",) and m.attribute_types == {"stage": "string"}


def test_one_attribute_has_one_type() -> None:
    other = BOOK.format(value=5).replace("id: mark", "id: other")
    with pytest.raises(ConfigError, match=r"f1\.yml:\d+: playbooks\[0\]\.steps\[0\]\.value: 'stage' is set to a number "
                       r"here but to a string at motion/f0\.yml:\d+"):
        motion(BOOK.format(value="at_risk"), other)


@pytest.mark.parametrize(("value", "message"), [
    ('"' + "x" * 1001 + '"', "at most 1000 characters, this one 1001"),
    ('"a\\u0000b"', "control character U\\+0000 at position 1"),
    ('"line\\nbreak"', "control character U\\+000A"),
    ('"\\e[31mred"', "control character U\\+001B"),
    ('"bidi\\u2028"', "control character U\\+2028"),
    (".nan", "must be finite"),
    ("-.inf", "must be finite"),
    ("[1, 2]", "Input should be a valid string"),
    ("{a: 1}", "Input should be a valid string"),
])
def test_hostile_values_are_refused_with_file_and_line(value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=rf"motion/f0\.yml:\d+: playbooks\[0\]\.steps\[0\]\.value.*{message}"):
        motion(BOOK.format(value=value))


def test_unicode_and_the_longest_value_are_fine() -> None:
    assert motion(BOOK.format(value='"' + "é" * 1000 + '"')).attribute_types == {"stage": "string"}
    assert motion(BOOK.format(value='"Überprüfung 🚩"')).attribute_types == {"stage": "string"}
