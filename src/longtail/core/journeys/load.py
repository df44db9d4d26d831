"""Load `motion/journeys/*.yml`: validate, check references and conditions, hash each journey."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from pydantic import ValidationError

from longtail.core.expressions import Columns, Condition, ExpressionError, parse_condition
from longtail.core.journeys.model import JOURNEY_TAGS, BranchStep, Journey, JourneyFile, WaitUntilStep
from longtail.core.motion.load import content_hash
from longtail.core.yamlsource import describe, locate, read_yaml
from longtail.errors import ConfigError


@dataclass(frozen=True)
class JourneySet:
    journeys: Mapping[str, Journey]
    conditions: Mapping[str, Mapping[str, Condition]]
    """Per journey: `goal` and the branch / wait_until step ids that have a `when`."""
    hashes: Mapping[str, str]
    sources: Mapping[str, str]

    def get(self, journey_id: str) -> Journey | None:
        return self.journeys.get(journey_id)


def load_journeys(files: Sequence[tuple[str, str]], columns: Columns, *, templates: Iterable[str] | None = None,
                  segments: Iterable[str] = (), triggers: Iterable[str] = ()) -> JourneySet:
    """Parse `(source, text)` files; `templates`, when given, are the email templates that exist."""
    journeys: dict[str, Journey] = {}
    conditions: dict[str, dict[str, Condition]] = {}
    sources: dict[str, str] = {}
    known_templates = None if templates is None else set(templates)
    seg_ids, trig_ids = set(segments), set(triggers)
    for source, text in files:
        data, lines = read_yaml(text, source)
        if data is None:
            continue
        if not isinstance(data, dict):
            raise ConfigError(f"{source}:1: expected a mapping with `journeys:`")
        try:
            parsed = JourneyFile.model_validate(data)
        except ValidationError as exc:
            raise ConfigError(describe(exc, source, lines, JOURNEY_TAGS)) from exc
        for i, journey in enumerate(parsed.journeys):
            where = f"{source}:{lines.get(('journeys', i), 1)}"
            if journey.id in journeys:
                raise ConfigError(f"{where}: journey {journey.id!r} is already defined in {sources[journey.id]}")
            sources[journey.id] = where
            journeys[journey.id] = journey
            conditions[journey.id] = _conditions(journey, columns, where)
            _references(journey, where, known_templates, seg_ids, trig_ids)
    hashes = {jid: content_hash(j) for jid, j in journeys.items()}
    return JourneySet(journeys, conditions, hashes, sources)


def _conditions(journey: Journey, columns: Columns, where: str) -> dict[str, Condition]:
    out: dict[str, Condition] = {}
    texts: list[tuple[str, str, str]] = []
    if journey.goal is not None:
        texts.append(("goal", journey.goal, "false"))
    for step in journey.steps:
        if isinstance(step, BranchStep) and step.when is not None:
            texts.append((step.id, step.when, step.unknown))
        elif isinstance(step, WaitUntilStep) and step.when is not None:
            texts.append((step.id, step.when, "false"))
    for key, text, unknown in texts:
        try:
            out[key] = parse_condition(text, columns, unknown="true" if unknown == "true" else "false")
        except ExpressionError as exc:
            raise ConfigError(f"{where}: journey {journey.id}: {key}: {exc}") from exc
    return out


def _references(journey: Journey, where: str, templates: set[str] | None, segments: set[str],
                triggers: set[str]) -> None:
    entry = journey.entry
    if entry.trigger is not None and triggers and entry.trigger not in triggers:
        raise ConfigError(f"{where}: journey {journey.id}: entry trigger {entry.trigger!r} is not defined")
    for seg in (entry.segment_entered, journey.exit.segment_left):
        if seg is not None and segments and seg not in segments:
            raise ConfigError(f"{where}: journey {journey.id}: segment {seg!r} is not defined")
    if templates is None:
        return
    for step in journey.steps:
        template = getattr(step, "template", None)
        if template is not None and template not in templates:
            raise ConfigError(locate(where.rsplit(":", 1)[0], int(where.rsplit(":", 1)[1]),
                                     f"journeys[{journey.id}].steps[{step.id}].template",
                                     f"no template {template!r} in motion/templates"))
