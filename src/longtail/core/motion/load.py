"""Load a workspace's motion: parse every definition file, check references and conditions, hash everything.

The result, `Motion`, is what the daily run, `plan` and `backtest` execute. Every error is a `ConfigError`
that names the file, the line and the field, with a hint where one helps.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from pydantic import ValidationError

from longtail.core.expressions import Columns, ColumnType, Condition, ExpressionError, parse_condition
from longtail.core.motion.definitions import (
    UNION_TAGS,
    ConditionTrigger,
    DateTrigger,
    EventTrigger,
    MotionFile,
    Playbook,
    Segment,
    SetAttributeStep,
    Team,
    Tiers,
    Trigger,
)
from longtail.core.yamlsource import Path_, describe, locate, read_yaml
from longtail.errors import ConfigError

HEALTH_COLUMNS: dict[str, str] = {
    "health_score": "number", "health_band": "string", "health_change_7d": "number", "health_change_30d": "number",
}
MODEL_COLUMNS: dict[str, str] = {
    "churn_risk": "number", "churn_model_id": "string",
    "expansion_propensity": "number", "expansion_model_id": "string",
}
"""Model scores joined to the features (longtail.predict.scoring): NULL until a model of the target is trained."""
ACCOUNT_COLUMNS: dict[str, str] = {"tier": "string", "industry": "string", "country": "string",
                                   "employees": "number"}
MOTION_PREFIX = "motion_"
"""A value a playbook's set_attribute step wrote is the column `motion_<name>`: a prefix of its own, so it can never
replace a loaded attribute (those come back with every load); a column that exists already is a ConfigError."""


def motion_column(name: str) -> str:
    return f"{MOTION_PREFIX}{name}"

BUILTIN_SOURCE = "<built-in triggers>"
BUILTIN_TRIGGERS_YAML = """\
triggers:
  - id: no_login_14d
    kind: condition
    description: No activity (logins included) for 14 days or more
    when: "days_since_last_activity >= 14"
  - id: usage_down_30
    kind: condition
    description: Events in the last 28 days fell by 30% or more against the 28 days before
    when: "events_change_pct <= -30"
  - id: health_drop_20
    kind: condition
    description: Health score fell by 20 points or more in 7 days
    when: "health_change_7d <= -20"
  - id: health_below_50
    kind: condition
    description: Health score below 50
    when: "health_score < 50"
  - id: seats_nearly_full
    kind: condition
    description: Seat utilisation (weekly active users / seats) at 90% or more
    when: "seat_utilisation >= 0.9"
  - id: champion_quiet_30d
    kind: condition
    description: The champion has not been active for 30 days (they may have left)
    when: "days_since_champion_active >= 30"
  - id: champion_changed
    kind: event
    event: champion_changed
    description: A new champion contact appeared on an account that already had one
  - id: nps_detractor
    kind: event
    event: nps_detractor
    description: An NPS response of 6 or less
  - id: milestone_reached
    kind: event
    event: milestone_reached
    description: An onboarding milestone event happened
  - id: ticket_escalated
    kind: event
    event: ticket_escalated
    description: An urgent ticket was opened
  - id: renewal_window
    kind: date
    description: The renewal is 120, 90, 60 or 30 days away
    days_before: [120, 90, 60, 30]
"""


@dataclass(frozen=True)
class Defined:
    """Where a definition came from and its content hash (stamped on what it produces)."""

    source: str
    line: int
    hash: str


@dataclass(frozen=True)
class Motion:
    """Every definition of a workspace's motion, checked, with compiled conditions."""

    segments: tuple[Segment, ...]
    tiers: Tiers | None
    triggers: Mapping[str, Trigger]
    playbooks: tuple[Playbook, ...]
    team: Team
    account_attributes: tuple[str, ...]
    conditions: Mapping[str, Condition]
    """Compiled conditions by key: `segment:<id>`, `trigger:<id>`, `promotion:<n>`, `success:<playbook>`."""
    defined: Mapping[str, Defined] = field(default_factory=dict)
    """By key `segment:<id>`, `trigger:<id>`, `playbook:<id>`, `tiers`, `team`."""
    attribute_types: Mapping[str, str] = field(default_factory=dict)
    """Attributes the playbooks' set_attribute steps write, by name, with their condition type (the column is
    `motion_<name>`)."""

    @property
    def hash(self) -> str:
        lines = "".join(f"{key}\t{d.hash}\n" for key, d in sorted(self.defined.items()))
        return hashlib.sha256(lines.encode()).hexdigest()

    def hash_of(self, key: str) -> str:
        return self.defined[key].hash

    def segment_ids(self) -> tuple[str, ...]:
        return tuple(s.id for s in self.segments)

    def tier_names(self) -> tuple[str, ...]:
        return tuple(b.tier for b in self.tiers.bands) if self.tiers else ()

    def condition_columns(self, feature_names: Iterable[str]) -> Columns:
        """What any condition of this workspace may read (journeys' too): `motion_columns` plus the motion-set
        attributes."""
        return {**motion_columns(feature_names, self.account_attributes),
                **{motion_column(n): cast(ColumnType, t) for n, t in self.attribute_types.items()}}


def motion_columns(feature_names: Iterable[str], account_attributes: Iterable[str] = ()) -> Columns:
    """The columns a motion condition may read: features, health, model scores, tier and account fields."""
    columns: dict[str, Any] = {n: "number" for n in feature_names if n not in ("account_id", "as_of")}
    columns.update(HEALTH_COLUMNS)
    columns.update(MODEL_COLUMNS)
    columns.update(ACCOUNT_COLUMNS)
    columns.update({a: "string" for a in account_attributes if a not in columns})
    return columns


def content_hash(model: Any) -> str:
    payload = json.dumps(model.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()


@dataclass
class _Parsed:
    source: str
    lines: dict[Path_, int]
    file: MotionFile


def _parse_file(source: str, text: str) -> _Parsed:
    data, lines = read_yaml(text, source)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}:1: expected a mapping with sections such as `segments:` or `playbooks:`")
    try:
        return _Parsed(source, lines, MotionFile.model_validate(data))
    except ValidationError as exc:
        raise ConfigError(describe(exc, source, lines, UNION_TAGS)) from exc


def load_motion(files: Sequence[tuple[str, str]], feature_names: Iterable[str], *,
                builtins: bool = True) -> Motion:
    """Parse `(source, text)` files, merge them, check every reference and condition."""
    parsed = [_parse_file(source, text) for source, text in files]
    if builtins:
        parsed.insert(0, _parse_file(BUILTIN_SOURCE, BUILTIN_TRIGGERS_YAML))
    return _Builder(parsed, list(feature_names)).build()


class _Builder:
    def __init__(self, parsed: list[_Parsed], feature_names: list[str]) -> None:
        self.parsed = parsed
        self.feature_names = feature_names
        self.defined: dict[str, Defined] = {}
        self.conditions: dict[str, Condition] = {}
        attrs = [a for p in parsed for a in p.file.account_attributes]
        self.attributes = tuple(dict.fromkeys(attrs))
        self.columns = motion_columns(feature_names, self.attributes)
        self.attribute_types = self._set_attributes()
        self.columns = {**self.columns,
                        **{motion_column(n): cast(ColumnType, t) for n, t in self.attribute_types.items()}}

    def _set_attributes(self) -> dict[str, str]:
        """The attributes set_attribute steps write, with one type each, checked against the columns there are."""
        types: dict[str, tuple[str, str]] = {}
        taken = {*self.columns, *self.attributes}
        for p in self.parsed:
            for i, book in enumerate(p.file.playbooks):
                for j, step in enumerate(book.steps):
                    if not isinstance(step, SetAttributeStep):
                        continue
                    path = ("playbooks", i, "steps", j)
                    where = f"playbooks[{i}].steps[{j}].name"
                    line = p.lines.get(path, p.lines.get(("playbooks", i), 1))
                    column = motion_column(step.name)
                    if column in taken:
                        raise ConfigError(locate(p.source, line, where, f"the attribute's column {column!r} is "
                                                 "already a feature or a listed account attribute; rename one of "
                                                 "them (motion-set attributes are read as motion_<name>)"))
                    first = types.setdefault(step.name, (step.value_type, f"{p.source}:{line}"))
                    if first[0] != step.value_type:
                        raise ConfigError(locate(p.source, line, f"playbooks[{i}].steps[{j}].value",
                                                 f"{step.name!r} is set to a {step.value_type} here but to a "
                                                 f"{first[0]} at {first[1]}; an attribute has one type"))
        return {name: kind for name, (kind, _) in types.items()}

    def build(self) -> Motion:
        segments: list[Segment] = []
        triggers: dict[str, Trigger] = {}
        playbooks: list[Playbook] = []
        tiers: tuple[_Parsed, Tiers] | None = None
        team: tuple[_Parsed, Team] | None = None
        for p in self.parsed:
            for i, seg in enumerate(p.file.segments):
                self._define(f"segment:{seg.id}", p, ("segments", i), seg)
                segments.append(seg)
            for i, trig in enumerate(p.file.triggers):
                key = f"trigger:{trig.id}"
                # A workspace may redefine a built-in trigger (its own thresholds); twice in the workspace is an error.
                if key in self.defined and self.defined[key].source != BUILTIN_SOURCE:
                    self._duplicate(key, p, ("triggers", i))
                self.defined[key] = Defined(p.source, p.lines.get(("triggers", i), 1), content_hash(trig))
                triggers[trig.id] = trig
            for i, book in enumerate(p.file.playbooks):
                self._define(f"playbook:{book.id}", p, ("playbooks", i), book)
                playbooks.append(book)
            if p.file.tiers is not None:
                if tiers is not None:
                    raise ConfigError(f"{p.source}:{p.lines.get(('tiers',), 1)}: tiers: also defined in "
                                      f"{tiers[0].source}; define tiers once")
                tiers = (p, p.file.tiers)
                self.defined["tiers"] = Defined(p.source, p.lines.get(("tiers",), 1), content_hash(p.file.tiers))
            if p.file.team is not None:
                if team is not None:
                    raise ConfigError(f"{p.source}:{p.lines.get(('team',), 1)}: team: also defined in "
                                      f"{team[0].source}; define team once")
                team = (p, p.file.team)
                self.defined["team"] = Defined(p.source, p.lines.get(("team",), 1), content_hash(p.file.team))
        tier_names = {b.tier for b in tiers[1].bands} if tiers else set()
        self._check_segments(segments, tier_names)
        self._check_triggers(triggers)
        if tiers:
            self._check_promotions(*tiers)
        self._check_playbooks(playbooks, triggers, {s.id for s in segments} | tier_names)
        return Motion(
            segments=tuple(segments), tiers=tiers[1] if tiers else None, triggers=triggers,
            playbooks=tuple(playbooks), team=team[1] if team else Team(), account_attributes=self.attributes,
            conditions=self.conditions, defined=self.defined, attribute_types=self.attribute_types,
        )

    def _define(self, key: str, p: _Parsed, path: Path_, model: Any) -> None:
        if key in self.defined:
            self._duplicate(key, p, path)
        self.defined[key] = Defined(p.source, p.lines.get(path, 1), content_hash(model))

    def _duplicate(self, key: str, p: _Parsed, path: Path_) -> None:
        first = self.defined[key]
        kind, _, name = key.partition(":")
        raise ConfigError(locate(p.source, p.lines.get(path, 1), f"{path[0]}[{path[1]}].id",
                                 f"{kind} {name!r} is already defined at {first.source}:{first.line}"))

    def _where(self, key: str, suffix: str) -> str:
        d = self.defined[key]
        return f"{d.source}:{d.line}: {key.replace(':', ' ')}: {suffix}"

    def _compile(self, key: str, owner: str, text: str, unknown: str) -> None:
        try:
            self.conditions[key] = parse_condition(text, self.columns, unknown="true" if unknown == "true" else "false")
        except ExpressionError as exc:
            raise ConfigError(self._where(owner, f"condition: {exc}")) from exc

    def _check_segments(self, segments: list[Segment], tier_names: set[str]) -> None:
        known = {s.id for s in segments} | tier_names
        clash = sorted({s.id for s in segments} & tier_names)
        if clash:
            raise ConfigError(self._where(f"segment:{clash[0]}", "has the name of a tier; tiers are segments "
                                          "already, pick another name"))
        for seg in segments:
            key = f"segment:{seg.id}"
            if seg.when is not None:
                self._compile(key, key, seg.when, seg.unknown)
            for ref in (*seg.all_of, *seg.any_of, *seg.none_of):
                if ref not in known:
                    raise ConfigError(self._where(key, f"refers to unknown segment {ref!r}{_hint(ref, known)}"))
        _check_cycles({s.id: (*s.all_of, *s.any_of, *s.none_of) for s in segments}, self._where)

    def _check_triggers(self, triggers: Mapping[str, Trigger]) -> None:
        for trig in triggers.values():
            if isinstance(trig, ConditionTrigger):
                key = f"trigger:{trig.id}"
                self._compile(key, key, trig.when, trig.unknown)
            elif isinstance(trig, DateTrigger) and "days_to_renewal" not in self.columns:
                raise ConfigError(self._where(f"trigger:{trig.id}", "needs the days_to_renewal feature"))
            elif isinstance(trig, EventTrigger):
                continue

    def _check_promotions(self, p: _Parsed, tiers: Tiers) -> None:
        names = [b.tier for b in tiers.bands]
        for i, promo in enumerate(tiers.promotions):
            line = p.lines.get(("tiers", "promotions", i), 1)
            if promo.to not in names:
                raise ConfigError(locate(p.source, line, f"tiers.promotions[{i}].to",
                                         f"no tier {promo.to!r}{_hint(promo.to, names)} (tiers: {', '.join(names)})"))
            try:
                # The tier is what a promotion decides, so its condition cannot read it.
                columns = {k: v for k, v in self.columns.items() if k != "tier"}
                self.conditions[f"promotion:{i}"] = parse_condition(promo.when, columns)
            except ExpressionError as exc:
                raise ConfigError(locate(p.source, line, f"tiers.promotions[{i}].when", str(exc))) from exc

    def _check_playbooks(self, playbooks: list[Playbook], triggers: Mapping[str, Trigger], segs: set[str]) -> None:
        for book in playbooks:
            key = f"playbook:{book.id}"
            if book.trigger not in triggers:
                raise ConfigError(self._where(key, f"trigger {book.trigger!r} is not defined"
                                              f"{_hint(book.trigger, triggers)}"))
            for ref in (*book.audience, *book.exclude):
                if ref not in segs:
                    raise ConfigError(self._where(key, f"audience refers to unknown segment {ref!r}{_hint(ref, segs)}"))
            if book.success is not None:
                self._compile(f"success:{book.id}", key, book.success.when, "false")


def _hint(name: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _check_cycles(graph: Mapping[str, Sequence[str]], where: Any) -> None:
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        if state.get(node) == 2:
            return
        if state.get(node) == 1:
            loop = " -> ".join(f"{n!r}" for n in [*trail[trail.index(node):], node])
            raise ConfigError(where(f"segment:{node}", f"segments refer to each other: {loop}"))
        state[node] = 1
        for ref in graph.get(node, ()):
            if ref in graph:
                visit(ref, [*trail, node])
        state[node] = 2

    for node in graph:
        visit(node, [])
