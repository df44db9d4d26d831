"""Shared helpers: load motion text with the standard feature names, and capture the one-line error."""

from __future__ import annotations

from pathlib import Path

import pytest

import longtail
from longtail.analytics.motion_source import OWN_FORMAT
from longtail.core.featuredefs import load_feature_defs
from longtail.core.motion.load import Motion, load_motion
from longtail.errors import ConfigError

NAMES: tuple[str, ...] = tuple(load_feature_defs(None).names)
EXAMPLES = Path(longtail.__file__).parent / "examples" / "motion"

PLAYBOOK = """\
playbooks:
  - id: p
    objective: o
    trigger: nps_detractor
    steps:
      - {type: alert, message: m}
"""


def example_files() -> list[tuple[str, str]]:
    return [(p.name, p.read_text(encoding="utf-8")) for p in sorted(EXAMPLES.glob("*.yml"))
            if p.name not in OWN_FORMAT]


def load(*files: tuple[str, str], builtins: bool = True, names: tuple[str, ...] = NAMES) -> Motion:
    return load_motion(list(files), names, builtins=builtins)


def error(*files: tuple[str, str], builtins: bool = True, names: tuple[str, ...] = NAMES) -> str:
    """The ConfigError message of loading `files` (fails the test when they load)."""
    with pytest.raises(ConfigError) as info:
        load(*files, builtins=builtins, names=names)
    return str(info.value)


def line_of(text: str, needle: str, occurrence: int = 1) -> int:
    """1-based line of the `occurrence`-th line containing `needle`."""
    hits = [n for n, line in enumerate(text.splitlines(), start=1) if needle in line]
    return hits[occurrence - 1]
