"""yamlsource: the line of every key and item, and one-sentence errors from pydantic's."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ConfigDict, ValidationError

from longtail.core.yamlsource import describe, locate, read_yaml


def test_read_yaml_maps_every_key_and_item_to_its_line() -> None:
    text = "# head\na: 1\nb:\n  - x\n  -\n    c: 2\n    d: [3, 4]\n"
    data, lines = read_yaml(text, "f.yml")
    assert data == {"a": 1, "b": ["x", {"c": 2, "d": [3, 4]}]}
    assert lines[()] == 2
    assert lines[("a",)] == 2 and lines[("b",)] == 3
    assert lines[("b", 0)] == 4 and lines[("b", 1)] == 6
    assert lines[("b", 1, "c")] == 6 and lines[("b", 1, "d")] == 7 and lines[("b", 1, "d", 1)] == 7


def test_read_yaml_of_nothing() -> None:
    assert read_yaml("", "f.yml") == (None, {})
    assert read_yaml("# only a comment\n", "f.yml") == (None, {})


def test_keys_are_strings_in_paths() -> None:
    _, lines = read_yaml("1: a\ntrue: b\n", "f.yml")
    assert lines[("1",)] == 1 and lines[("true",)] == 2


class Inner(BaseModel):
    model_config = ConfigDict(extra="forbid")
    n: int


class Outer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    items: list[Inner]
    name: str = ""


def _describe(text: str) -> str:
    data, lines = read_yaml(text, "f.yml")
    with pytest.raises(ValidationError) as info:
        Outer.model_validate(data)
    return describe(info.value, "f.yml", lines)


def test_describe_names_the_deepest_known_line_and_counts_the_rest() -> None:
    assert _describe("items:\n  - n: 1\n  - n: x\n") == (
        "f.yml:3: items[1].n: Input should be a valid integer, unable to parse string as an integer")
    assert _describe("items:\n  - n: x\n  - n: y\n").endswith("(and 1 more problem)")
    assert _describe("items:\n  - n: x\n  - n: y\n  - n: z\n").endswith("(and 2 more problems)")


def test_describe_a_missing_field_points_at_its_parent() -> None:
    assert _describe("name: a\nitems:\n  - {}\n") == "f.yml:3: items[0].n: Field required"
    assert _describe("name: a\n") == "f.yml:1: items: Field required"


def test_locate_formats_one_sentence() -> None:
    assert locate("f.yml", 3, "a.b", "Value error, bad") == "f.yml:3: a.b: bad"
    assert locate("f.yml", 1, "", "bad") == "f.yml:1: (top level): bad"
