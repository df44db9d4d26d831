"""Shared helpers: load one journey from YAML with the standard columns, build facts, and run ticks."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from longtail.core.expressions import Columns, Condition
from longtail.core.featuredefs import load_feature_defs
from longtail.core.journeys.engine import Effect, Enrollment, Facts, SendMessage, Tick, advance, enroll
from longtail.core.journeys.load import JourneySet, load_journeys
from longtail.core.journeys.model import Journey
from longtail.core.motion.load import motion_columns
from longtail.errors import ConfigError

COLUMNS: Columns = motion_columns(load_feature_defs(None).names)
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
SALT = "test-salt"
ROW: dict[str, Any] = {"logins_7d": 1, "nps_latest": 10, "seats": 10, "days_to_renewal": 200, "tier": "pooled"}
"""A plain account row: far from any goal used in these tests (goals read logins_7d >= 5)."""


def load_set(*files: tuple[str, str], templates: Iterable[str] | None = None, segments: Iterable[str] = (),
             triggers: Iterable[str] = ()) -> JourneySet:
    return load_journeys(list(files), COLUMNS, templates=templates, segments=segments, triggers=triggers)


def load_one(text: str) -> tuple[Journey, Mapping[str, Condition]]:
    """The single journey of `text` and its compiled conditions."""
    loaded = load_set(("j.yml", text))
    (jid,) = loaded.journeys
    return loaded.journeys[jid], loaded.conditions[jid]


def config_error(*files: tuple[str, str], **kwargs: Any) -> str:
    """The ConfigError message of loading `files` (fails the test when they load)."""
    with pytest.raises(ConfigError) as info:
        load_set(*files, **kwargs)
    return str(info.value)


def facts(now: datetime, row: Mapping[str, Any] | None = None, *, account: bool = True,
          engagement: Mapping[str, frozenset[str]] | None = None, unsubscribed: bool = False) -> Facts:
    account_row = None if not account else {**ROW, **(row or {})}
    return Facts(now=now, account=account_row, engagement=engagement or {}, unsubscribed=unsubscribed)


def start(journey: Journey, account_id: str = "a1", contact_id: str = "c1", *, holdout: bool | None = None,
          now: datetime = T0) -> Enrollment:
    """A fresh enrollment; `holdout` forces the group (otherwise the salted hash decides)."""
    e = enroll(journey, account_id, contact_id, now, SALT)
    return e if holdout is None else replace(e, holdout=holdout)


def tick(e: Enrollment, journey: Journey, conditions: Mapping[str, Condition], f: Facts) -> Tick:
    return advance(e, journey, f, conditions, SALT)


def run(e: Enrollment, journey: Journey, conditions: Mapping[str, Condition],
        times: Iterable[datetime], row: Mapping[str, Any] | None = None) -> tuple[Enrollment, list[Effect]]:
    """Tick at each time with the same account row; the last enrollment and every effect in order."""
    effects: list[Effect] = []
    for now in times:
        t = tick(e, journey, conditions, facts(now, row))
        e = t.enrollment
        effects.extend(t.effects)
    return e, effects


def days(n: float) -> datetime:
    return T0 + timedelta(days=n)


def messages(effects: Iterable[Effect]) -> list[SendMessage]:
    return [x for x in effects if isinstance(x, SendMessage)]


def journey_yaml(steps: str, header: str = "") -> str:
    """A one-journey file with id `j`; `steps` is the YAML list under `steps:` (indented six spaces)."""
    return f"version: 1\njourneys:\n  - id: j\n{header}    steps:\n{steps}"
