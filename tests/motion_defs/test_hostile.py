"""Hostile or broken input fails with one ConfigError, quickly: bad conditions, bad YAML, bombs, deep nesting."""

from __future__ import annotations

import resource
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from longtail.core.yamlsource import MAX_BYTES, read_yaml
from longtail.errors import ConfigError
from tests.motion_defs.helpers import error, load


def segment(condition: str) -> str:
    escaped = condition.replace("'", "''")
    return f"segments:\n  - id: s\n    when: '{escaped}'\n"


@pytest.mark.parametrize(("condition", "problem"), [
    ("events_7d > 1; DROP TABLE accounts", "';' is not allowed"),
    ("events_7d > 1;", "';' is not allowed"),
    ("events_7d in (select 1)", "subqueries and SELECT are not allowed"),
    ("exists (select 1 from accounts)", "not allowed"),
    ("pg_sleep(10) is null", "not allowed"),
    ("events_7d > 1 -- comment", ""),
])
def test_hostile_conditions_are_rejected(condition: str, problem: str) -> None:
    message = error(("x.yml", segment(condition)))
    assert message.startswith("x.yml:2: segment s: condition: invalid condition"), message
    assert problem in message


def test_a_hostile_trigger_condition_is_rejected() -> None:
    text = "triggers:\n  - id: t\n    kind: condition\n    when: 'seats > 1; DELETE FROM ctas'\n"
    assert error(("x.yml", text)).startswith("x.yml:2: trigger t: condition: invalid condition")


def test_a_one_megabyte_condition_is_refused_by_length() -> None:
    started = time.monotonic()
    message = error(("x.yml", segment("seats > " + "9" * 1_000_000)))
    assert message.startswith("x.yml:3: segments[0].when: String should have at most 20000 characters")
    assert time.monotonic() - started < 20


def test_a_one_megabyte_description_is_accepted() -> None:
    text = "segments:\n  - id: s\n    when: seats > 1\n    description: '" + "x" * 1_000_000 + "'\n"
    assert load(("x.yml", text)).segments[0].description == "x" * 1_000_000


@pytest.mark.parametrize(("text", "start"), [
    ("segments:\n\t- id: x\n", "x.yml:2: invalid YAML (found character '\\t' that cannot start any token)"),
    ('segments:\n  - id: "x\n', "x.yml:3: invalid YAML ("),
    ("segments:\n  - id: 'x\n", "x.yml:3: invalid YAML ("),
    ("segments: [\n", "x.yml:2: invalid YAML ("),
    ("a: b: c\n", "x.yml:1: invalid YAML ("),
    ("segments:\n  - *undefined\n", "x.yml:2: invalid YAML (found undefined alias"),
    ("segments: !!python/object:os.system {}\n", "x.yml:1: invalid YAML ("),
])
def test_malformed_yaml(text: str, start: str) -> None:
    message = error(("x.yml", text))
    assert message.startswith(start), message
    assert "\n" not in message


def test_a_file_over_the_limit_is_refused_before_parsing() -> None:
    started = time.monotonic()
    message = error(("big.yml", "#" * (MAX_BYTES + 1)))
    assert message == f"big.yml: the file is {MAX_BYTES + 1:,} characters; the limit is {MAX_BYTES:,}"
    assert time.monotonic() - started < 1


def test_a_file_at_the_limit_is_read() -> None:
    assert load(("big.yml", "#" * MAX_BYTES)).segments == ()


@pytest.mark.parametrize("text", [
    "[" * 10_000 + "]" * 10_000,
    "{a: " * 10_000 + "1" + "}" * 10_000,
    "- " * 10_000 + "1\n",
    "".join(f"{' ' * i}k:\n" for i in range(1_900)),  # block style: 1,900 levels fit under the size limit
])
def test_ten_thousand_deep_nesting_fails_cleanly(text: str) -> None:
    started = time.monotonic()
    with pytest.raises(ConfigError) as info:
        read_yaml(text, "deep.yml")
    assert str(info.value).startswith("deep.yml")
    assert time.monotonic() - started < 30


def test_deep_nesting_through_load_motion_is_a_config_error() -> None:
    message = error(("deep.yml", "segments: " + "[" * 10_000 + "]" * 10_000))
    assert message.startswith("deep.yml")


def billion_laughs(levels: int = 9, width: int = 9) -> str:
    lines = ['lol0: &lol0 "lol"']
    for level in range(1, levels + 1):
        refs = ", ".join([f"*lol{level - 1}"] * width)
        lines.append(f"lol{level}: &lol{level} [{refs}]")
    return "\n".join(lines) + "\n"


BOMB_RUNNER = textwrap.dedent("""
    import sys
    from longtail.core.featuredefs import load_feature_defs
    from longtail.core.motion.load import load_motion
    from longtail.errors import ConfigError
    text = open(sys.argv[1], encoding="utf-8").read()
    try:
        load_motion([("bomb.yml", text)], load_feature_defs(None).names)
    except ConfigError as exc:
        print("ConfigError:", exc)
    else:
        print("loaded")
""")


def _limit_memory() -> None:
    # A bomb that does expand must hit a wall in the child, not take the shared machine down.
    resource.setrlimit(resource.RLIMIT_AS, (2 * 1024**3, 2 * 1024**3))


@pytest.mark.parametrize("where", ["top", "section"])
def test_a_yaml_bomb_fails_cleanly_and_quickly(tmp_path: Path, where: str) -> None:
    """Billion laughs: nine levels of nine aliases. Aliases share one parsed node; nothing may expand them."""
    bomb = billion_laughs()
    if where == "section":
        bomb = "account_attributes:\n  - x\n" + bomb.replace("lol9: &lol9", "segments:\n  - id: s\n    all_of:")
    path = tmp_path / "bomb.yml"
    path.write_text(bomb, encoding="utf-8")
    try:
        done = subprocess.run([sys.executable, "-c", BOMB_RUNNER, str(path)], capture_output=True, text=True,
                              timeout=30, preexec_fn=_limit_memory, check=False)
    except subprocess.TimeoutExpired:
        pytest.fail("a billion-laughs YAML bomb did not fail within 30 s (aliases are expanded)")
    assert done.stdout.startswith("ConfigError: bomb.yml"), done.stdout + done.stderr[-2000:]


def test_small_aliases_still_work() -> None:
    text = "x-common: &c {kind: condition, when: seats > 1}\n"
    message = error(("x.yml", text))
    assert message.startswith("x.yml:1: x-common: Extra inputs are not permitted")
    ok = "triggers:\n  - {id: t1, kind: condition, when: &w seats > 1}\n  - {id: t2, kind: condition, when: *w}\n"
    motion = load(("x.yml", ok))
    assert motion.triggers["t2"] == motion.triggers["t1"].model_copy(update={"id": "t2"})
