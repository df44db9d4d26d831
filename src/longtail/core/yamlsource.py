"""Read definition files (YAML) so that every error names the file, the line and the field.

Shared by the health scorecards and the motion definitions: `read_yaml` parses and maps every key
and list item to its line; `describe` turns a pydantic `ValidationError` into one sentence
`file:line: field: problem`.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import yaml
from pydantic import ValidationError

from longtail.errors import ConfigError

Path_ = tuple[str | int, ...]
MAX_BYTES = 2_000_000
"""A definition file larger than this is refused before parsing (YAML parsing is not cheap)."""


def read_yaml(text: str, source: str) -> tuple[Any, dict[Path_, int]]:
    """Parsed data and the line of every key and item; a `ConfigError` for invalid or oversized YAML."""
    if len(text) > MAX_BYTES:
        raise ConfigError(f"{source}: the file is {len(text):,} characters; the limit is {MAX_BYTES:,}")
    try:
        data = yaml.safe_load(text)
        lines = line_map(yaml.compose(text, Loader=yaml.SafeLoader))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{where}: invalid YAML ({problem})") from exc
    except RecursionError as exc:
        raise ConfigError(f"{source}: the YAML is nested too deeply") from exc
    return data, lines


def line_map(node: yaml.Node | None, path: Path_ = (), lines: dict[Path_, int] | None = None,
             seen: set[int] | None = None) -> dict[Path_, int]:
    """Line (1-based) of every mapping key and sequence item, by its path from the root.

    An alias reuses its anchor's node; each node is walked once (`seen`), or a YAML bomb of nested
    aliases would take exponential time here.
    """
    lines = {} if lines is None else lines
    seen = set() if seen is None else seen
    if node is None:
        return lines
    lines.setdefault(path, node.start_mark.line + 1)
    if id(node) in seen:
        return lines
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            sub = (*path, str(key.value))
            lines[sub] = key.start_mark.line + 1
            line_map(value, sub, lines, seen)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            sub = (*path, index)
            lines[sub] = item.start_mark.line + 1
            line_map(item, sub, lines, seen)
    return lines


def describe(exc: ValidationError, source: str, lines: dict[Path_, int], tags: Collection[str] = ()) -> str:
    """`file:line: field: message` for the first error, and how many more there are.

    `tags` are discriminated-union member names pydantic puts in the location although the file does not
    have them (e.g. `bands` in `transform.bands.steps`); they are skipped.
    """
    errors = exc.errors()
    first = errors[0]
    path: Path_ = ()
    shown: list[str] = []
    for part in first["loc"]:
        candidate = (*path, part)
        if candidate in lines:
            path = candidate
        elif isinstance(part, str) and part in tags:
            continue
        shown.append(f"[{part}]" if isinstance(part, int) else f".{part}")
    return locate(source, lines.get(path, 1), "".join(shown).lstrip("."), str(first["msg"]), len(errors) - 1)


def locate(source: str, line: int, field: str, message: str, more: int = 0) -> str:
    message = message.removeprefix("Value error, ")
    extra = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
    return f"{source}:{line}: {field or '(top level)'}: {message}{extra}"
