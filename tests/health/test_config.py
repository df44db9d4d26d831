"""Scorecard YAML: strict validation with file, line and field in every error; content hashes."""

from __future__ import annotations

import pytest

from longtail.core.health import DEFAULT_YAML, default_scorecards, load_scorecards
from longtail.errors import ConfigError

GOOD = """\
version: 1
scorecards:
  - name: all
    priority: 1
    bands:
      - {name: red, below: 50}
      - {name: green}
    components:
      - metric: logins_28d
        transform: {type: linear, min: 0, max: 10}
        weight: 1
"""


def _error(text: str) -> str:
    with pytest.raises(ConfigError) as info:
        load_scorecards(text, "motion/health.yml")
    return str(info.value)


def test_good_file_loads() -> None:
    cards = load_scorecards(GOOD, "motion/health.yml")
    assert [c.name for c in cards.scorecards] == ["all"]
    assert cards.scorecards[0].target == "green"


def test_unknown_key_names_line_and_field() -> None:
    message = _error(GOOD.replace("        weight: 1\n", "        weight: 1\n        wieght: 2\n"))
    assert message.startswith("motion/health.yml:12: scorecards[0].components[0].wieght:")
    assert "Extra inputs are not permitted" in message


def test_bad_transform_type() -> None:
    message = _error(GOOD.replace("type: linear,", "type: logistic,"))
    assert message.startswith("motion/health.yml:10: scorecards[0].components[0].transform")
    assert "bands" in message and "linear_bounded" in message


def test_transform_field_error_skips_union_tag() -> None:
    message = _error(GOOD.replace("min: 0, max: 10", "min: 10, max: 0"))
    assert message.startswith("motion/health.yml:10: scorecards[0].components[0].transform:")
    assert "max (0) must be greater than min (10)" in message


@pytest.mark.parametrize("weight", ["0", "-1"])
def test_weight_must_be_positive(weight: str) -> None:
    message = _error(GOOD.replace("weight: 1", f"weight: {weight}"))
    assert message.startswith("motion/health.yml:11: scorecards[0].components[0].weight:")
    assert "greater than 0" in message


def test_overlapping_bands() -> None:
    text = GOOD.replace("      - {name: red, below: 50}\n",
                        "      - {name: red, below: 50}\n      - {name: yellow, below: 40}\n")
    message = _error(text)
    assert message.startswith("motion/health.yml:5: scorecards[0].bands:")
    assert "overlap" in message


def test_overlapping_transform_steps() -> None:
    text = GOOD.replace("transform: {type: linear, min: 0, max: 10}",
                        "transform: {type: bands, steps: [{below: 5, score: 0}, {below: 5, score: 50}, {score: 100}]}")
    message = _error(text)
    assert "motion/health.yml:10: scorecards[0].components[0].transform.steps:" in message
    assert "overlap" in message


def test_steps_must_follow_polarity() -> None:
    text = GOOD.replace("transform: {type: linear, min: 0, max: 10}",
                        "transform: {type: bands, steps: [{below: 5, score: 100}, {score: 0}]}")
    assert "must not fall" in _error(text)


def test_missing_field_names_parent_line() -> None:
    message = _error(GOOD.replace("        transform: {type: linear, min: 0, max: 10}\n", ""))
    assert message.startswith("motion/health.yml:9: scorecards[0].components[0].transform: Field required")


def test_needs_catch_all_and_unique_priorities() -> None:
    text = GOOD.replace("    priority: 1\n", "    priority: 1\n    when_any: [{metric: tenure_days, lt: 90}]\n")
    assert "every account gets a scorecard" in _error(text)
    second = GOOD + GOOD.split("scorecards:\n", 1)[1].replace("name: all", "name: other")
    assert "priorities must be unique" in _error(second)


def test_yaml_syntax_error_names_line() -> None:
    message = _error("version: 1\nscorecards:\n  - name: [unclosed\n")
    assert message.startswith("motion/health.yml:")
    assert "invalid YAML" in message


def test_not_a_mapping() -> None:
    assert _error("- just a list\n") == "motion/health.yml:1: expected a mapping with `scorecards:`"


def test_hash_is_content_based() -> None:
    a = load_scorecards(GOOD, "a.yml").scorecards[0].content_hash()
    reformatted = GOOD.replace("{type: linear, min: 0, max: 10}", "\n          type: linear\n          min: 0\n"
                               "          max: 10")
    assert load_scorecards(reformatted, "b.yml").scorecards[0].content_hash() == a
    assert load_scorecards(GOOD.replace("max: 10", "max: 11"), "a.yml").scorecards[0].content_hash() != a
    assert len(a) == 64


def test_default_scorecards_choose_by_priority() -> None:
    cards = default_scorecards()
    assert [c.name for c in cards.scorecards] == ["onboarding", "adopted"]
    assert cards.choose({"tenure_days": 30, "milestones_reached": 5}).name == "onboarding"
    assert cards.choose({"tenure_days": 300, "milestones_reached": 1}).name == "onboarding"
    assert cards.choose({"tenure_days": 300, "milestones_reached": 3}).name == "adopted"
    assert cards.choose({"tenure_days": None, "milestones_reached": None}).name == "adopted"  # unknown never matches
    assert "scorecards:" in DEFAULT_YAML


def test_docs_example_is_valid() -> None:
    from pathlib import Path

    doc = (Path(__file__).parents[2] / "docs" / "health.md").read_text(encoding="utf-8")
    example = doc.split("```yaml\n", 1)[1].split("```", 1)[0]
    cards = load_scorecards(example, "docs/health.md")
    assert [c.name for c in cards.scorecards] == ["onboarding", "adopted"]


def test_core_health_stays_pure() -> None:
    import subprocess
    import sys

    code = ("import sys, longtail.core.health; bad = [m for m in sys.modules if m.split('.')[0] in "
            "('duckdb', 'sqlalchemy', 'typer', 'rich', 'ibis') or m.startswith(('longtail.store', 'longtail.cli', "
            "'longtail.warehouse', 'longtail.ingest'))]; print(bad)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_json_schema_for_editors() -> None:
    from longtail.core.health import json_schema

    schema = json_schema()
    assert "scorecards" in schema["properties"]
    text = str(schema)
    assert "linear_bounded" in text and "carry_last" in text
