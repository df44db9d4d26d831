"""Feature definitions: the built-in standard set plus what the workspace declares in `motion/features.yml`.

A definition is plain data: name, description, unit, kind and the parameters that fix its meaning
(event lists, window length). Its hash is the SHA-256 of the canonical JSON of kind, unit and
parameters (plus the engine version), so a changed event family or window changes the hash, while a
reworded description does not. See docs/features.md.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from longtail.errors import ConfigError

ENGINE_VERSION = 1
"""Bump when the computation of a standard feature changes meaning; every hash changes with it."""

FEATURES_FILE = "motion/features.yml"

DEFAULT_FAMILIES: dict[str, tuple[str, ...]] = {
    "core": ("project_created", "document_edited", "file_uploaded", "comment_added", "task_completed",
             "search_performed"),
    "sticky": ("dashboard_created", "automation_created", "workflow_run", "api_call", "template_used",
               "data_exported"),
    "integration": ("integration_synced", "integration_connected"),
    "admin": ("settings_updated", "role_assigned", "sso_configured", "billing_updated"),
    "reports": ("report_created", "report_viewed", "report_shared"),
    "invites": ("invite_accepted", "user_invited"),
}
"""Event families of the simulator's product (src/longtail/sim/catalog.py)."""
DEFAULT_SYSTEM_EVENTS: tuple[str, ...] = ("license_usage", "account_activated", "onboarding_milestone",
                                         "longtail.inapp.viewed", "longtail.inapp.clicked",
                                         "longtail.inapp.dismissed", "longtail.email.delivered",
                                         "longtail.email.bounced", "longtail.email.opened",
                                         "longtail.email.clicked", "longtail.email.unsubscribed",
                                         "longtail.email.replied")
"""Events emitted by the vendor's systems (and longtail's own engagement events) rather than by people's use of
the product; excluded from every usage feature."""
EMAIL_EVENT = "longtail.email."
INAPP_EVENT = "longtail.inapp."
ENGAGEMENT_WINDOW = 28
ENGAGEMENT_COUNTS: tuple[tuple[str, str, str], ...] = (
    ("emails_delivered_28d", EMAIL_EVENT + "delivered", "emails delivered"),
    ("emails_opened_28d", EMAIL_EVENT + "opened", "emails opened"),
    ("emails_clicked_28d", EMAIL_EVENT + "clicked", "emails with a tracked click"),
    ("emails_replied_28d", EMAIL_EVENT + "replied", "emails replied to"),
    ("emails_unsubscribed_28d", EMAIL_EVENT + "unsubscribed", "emails a contact unsubscribed from"),
    ("emails_bounced_28d", EMAIL_EVENT + "bounced", "emails bounced"),
    ("inapp_viewed_28d", INAPP_EVENT + "viewed", "in-app messages viewed"),
    ("inapp_clicked_28d", INAPP_EVENT + "clicked", "in-app messages clicked"),
    ("inapp_dismissed_28d", INAPP_EVENT + "dismissed", "in-app messages dismissed"),
)
"""(feature, warehouse event, what it counts) of the engagement counts: messages, over the last 28 days."""
EMAIL_ENGAGED: tuple[str, ...] = tuple(EMAIL_EVENT + k for k in ("opened", "clicked", "replied"))
"""The email events that show a contact engaged (days_since_email_engagement)."""
DEFAULT_MILESTONES: tuple[str, ...] = ("integration_connected", "user_invited", "report_shared")
DEFAULT_LOGINS: tuple[str, ...] = ("login",)
DEFAULT_HIGH_PRIORITY: tuple[str, ...] = ("high", "urgent")
STANDARD_WINDOWS: tuple[int, ...] = (7, 28, 90)
DEFAULT_FAMILY_WINDOWS: tuple[int, ...] = (28,)
"""Windows of the per-family counts; 7 and 90 can be added in features.yml (each adds a count per family)."""
KEY_ROLES: tuple[str, ...] = ("champion", "admin")

_IDENT = re.compile(r"^[a-z][a-z0-9_]*$")
_ATTR = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class FeatureDef:
    """One feature: a column of the feature table."""

    name: str
    description: str
    unit: str
    kind: str
    definition: str
    """Canonical JSON of kind, unit and parameters: what the hash covers."""
    hash: str
    standard: bool = True

    @property
    def params(self) -> dict[str, Any]:
        params: dict[str, Any] = json.loads(self.definition)
        return params


def _define(name: str, description: str, unit: str, kind: str, standard: bool = True, **params: Any) -> FeatureDef:
    body = {"engine": ENGINE_VERSION, "kind": kind, "unit": unit, **params}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
    digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    return FeatureDef(name, description, unit, kind, canonical, digest, standard)


@dataclass(frozen=True)
class FeatureSet:
    """The features to compute, in column order, and the vocabularies they are built from."""

    features: tuple[FeatureDef, ...]
    families: tuple[tuple[str, tuple[str, ...]], ...]
    system_events: tuple[str, ...]
    milestone_events: tuple[str, ...]
    login_events: tuple[str, ...]
    high_priority: tuple[str, ...]
    attributes: tuple[str, ...]
    family_windows: tuple[int, ...] = DEFAULT_FAMILY_WINDOWS

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.features)

    @property
    def hash(self) -> str:
        """SHA-256 over every feature's name and definition hash, in column order."""
        lines = "".join(f"{f.name}\t{f.hash}\n" for f in self.features)
        return hashlib.sha256(lines.encode("utf-8")).hexdigest()

    def get(self, name: str) -> FeatureDef:
        for feature in self.features:
            if feature.name == name:
                return feature
        raise KeyError(name)

    def family(self, name: str) -> tuple[str, ...]:
        return dict(self.families)[name]

    @property
    def custom(self) -> tuple[FeatureDef, ...]:
        return tuple(f for f in self.features if not f.standard)


class _CustomFeature(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="Column name: lower case letters, digits and underscores.")
    description: str
    unit: str = "count"
    kind: Literal["event_count", "active_users"]
    events: list[str] | None = None
    family: str | None = None
    window_days: int = Field(28, ge=1, le=3650)

    @field_validator("name")
    @classmethod
    def _ident(cls, value: str) -> str:
        if not _IDENT.match(value):
            raise ValueError(f"{value!r} is not a valid feature name (lower case letters, digits, _)")
        return value


class _FeaturesFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: Literal[1] = 1
    event_families: dict[str, list[str]] | None = None
    family_windows: list[Literal[7, 28, 90]] | None = None
    system_events: list[str] | None = None
    milestone_events: list[str] | None = None
    login_events: list[str] | None = None
    high_priority: list[str] | None = None
    attributes: list[str] = Field(default_factory=list)
    features: list[_CustomFeature] = Field(default_factory=list)

    @field_validator("event_families")
    @classmethod
    def _family_names(cls, value: dict[str, list[str]] | None) -> dict[str, list[str]] | None:
        for name in value or {}:
            if not _IDENT.match(name):
                raise ValueError(f"family {name!r} is not a valid name (lower case letters, digits, _)")
        return value

    @field_validator("attributes")
    @classmethod
    def _attribute_names(cls, value: list[str]) -> list[str]:
        for name in value:
            if not _ATTR.match(name):
                raise ValueError(f"attribute {name!r} is not a valid name (letters, digits, _)")
        return value


def _sorted(values: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    return tuple(sorted(set(values)))


def _standard(spec: _FeaturesFile) -> tuple[list[FeatureDef], dict[str, tuple[str, ...]], dict[str, Any]]:
    families = (
        {k: _sorted(v) for k, v in spec.event_families.items()} if spec.event_families is not None
        else dict(DEFAULT_FAMILIES)
    )
    system = _sorted(spec.system_events if spec.system_events is not None else DEFAULT_SYSTEM_EVENTS)
    milestones = _sorted(spec.milestone_events if spec.milestone_events is not None else DEFAULT_MILESTONES)
    logins = _sorted(spec.login_events if spec.login_events is not None else DEFAULT_LOGINS)
    high = _sorted([p.lower() for p in (spec.high_priority if spec.high_priority is not None
                                        else DEFAULT_HIGH_PRIORITY)])
    usage = {"exclude": list(system)}
    d: list[FeatureDef] = []
    for n in STANDARD_WINDOWS:
        d.append(_define(f"events_{n}d", f"Usage events in the {n} days ending with the as-of date.", "events",
                         "event_count", events=usage, window_days=n))
    family_windows = tuple(sorted(set(spec.family_windows))) if spec.family_windows else DEFAULT_FAMILY_WINDOWS
    for fam, names in families.items():
        for n in family_windows:
            d.append(_define(f"{fam}_events_{n}d", f"Events of the {fam} family in the {n} days ending with the "
                             "as-of date.", "events", "event_count", events={"include": list(names)},
                             window_days=n))
    d += [
        _define("events_prev_28d", "Usage events in the 28 days before the last 28 days (days 29-56 back).",
                "events", "event_count", events=usage, window_days=28, offset_days=28),
        _define("events_change_pct", "Percent change of events_28d over events_prev_28d; null when the prior "
                "28 days had no events.", "percent", "change_pct", current="events_28d", previous="events_prev_28d"),
    ]
    for n in (7, 28):
        d.append(_define(f"logins_{n}d", f"Login events in the {n} days ending with the as-of date.", "events",
                         "event_count", events={"include": list(logins)}, window_days=n))
    for n in (7, 28):
        d.append(_define(f"active_users_{n}d", f"Distinct contacts with a usage event in the {n} days ending with "
                         "the as-of date.", "users", "active_users", events=usage, window_days=n))
    d += [
        _define("seats", "Seats: sum of quantity over subscriptions active on the as-of date (0 when none).",
                "seats", "seats"),
        _define("seat_utilisation", "active_users_28d / seats; null when seats is 0 or unknown.", "ratio", "ratio",
                numerator="active_users_28d", denominator="seats"),
        _define("feature_breadth_28d", "Distinct usage event names used in the 28 days ending with the as-of date.",
                "event names", "breadth", events=usage, window_days=28),
        _define("days_since_last_activity", "Days from the day of the account's last usage event to the as-of "
                "date (0: active on the as-of date); null when it never had one.", "days", "days_since_activity",
                events=usage),
    ]
    for role in KEY_ROLES:
        d.append(_define(f"days_since_{role}_active", f"Days from the day of the last usage event of any {role} "
                         "contact to the as-of date; null when no such contact was ever active.", "days",
                         "days_since_activity", events=usage, role=role))
    d += [
        _define("milestones_reached", "Distinct milestone events the account has ever reached, up to the as-of "
                "date.", "milestones", "milestones", events=list(milestones)),
        _define("days_to_first_value", "Whole 24-hour days from account creation to its first milestone event; "
                "null when none yet (or no creation date).", "days", "days_to_first_value", events=list(milestones)),
        _define("tickets_open", "Tickets opened before the end of the as-of date and not closed by then.",
                "tickets", "tickets_open"),
        _define("tickets_opened_30d", "Tickets opened in the 30 days ending with the as-of date.", "tickets",
                "tickets_opened", window_days=30),
        _define("tickets_high_priority_open", "Open tickets with a high priority.", "tickets", "tickets_open",
                priorities=list(high)),
        _define("median_resolution_hours_90d", "Median hours from opening to closing of tickets closed in the 90 "
                "days ending with the as-of date; null when none.", "hours", "median_resolution", window_days=90),
        _define("nps_latest", "Score of the account's latest NPS response up to the as-of date.", "score 0-10",
                "survey_latest", survey="nps"),
        _define("nps_change", "Latest NPS response minus the one before it (same account); null with fewer than "
                "two.", "points", "survey_change", survey="nps"),
        _define("csat_latest", "Score of the account's latest CSAT survey response up to the as-of date.",
                "score 1-5", "survey_latest", survey="csat"),
        _define("days_to_renewal", "Earliest end_date among subscriptions active on the as-of date minus the "
                "as-of date; null when none has an end date.", "days", "days_to_renewal"),
        _define("tenure_days", "Days from the day the account was created to the as-of date (0: created "
                "that day); null without created_at.", "days", "tenure"),
        _define("mrr", "Monthly recurring revenue of subscriptions active on the as-of date.", "currency/month",
                "revenue", measure="mrr"),
        _define("arr", "Annual recurring revenue of subscriptions active on the as-of date.", "currency/year",
                "revenue", measure="arr"),
        _define("is_customer", "1 when the account has a subscription active on the as-of date (started on or "
                "before it, not ended by it), else 0; never null.", "flag", "customer", measure="active_subscriptions"),
    ]
    d += _engagement()
    vocab: dict[str, Any] = {"system": system, "milestones": milestones, "logins": logins, "high": high,
                             "family_windows": family_windows}
    return d, families, vocab


def _engagement() -> list[FeatureDef]:
    """Engagement with longtail's own messages: the `longtail.email.*` / `longtail.inapp.*` events.

    They are fixed names, not workspace vocabulary: longtail (or the provider webhooks it is fed) writes them. A
    message counts once per kind, however many events of that kind it has (3 opens of one email: 1 opened).
    """
    n = ENGAGEMENT_WINDOW
    d = [_define(name, f"Distinct {what} in the {n} days ending with the as-of date (event {event}, one per "
                 "message: properties.message, else the event id).", "messages", "engagement_count",
                 event=event, window_days=n, distinct="message")
         for name, event, what in ENGAGEMENT_COUNTS]
    d += [
        _define("email_open_rate_28d", f"emails_opened_{n}d / emails_delivered_{n}d; null when none was "
                "delivered. Can exceed 1 when opens in the window belong to emails delivered before it.", "ratio",
                "ratio", numerator=f"emails_opened_{n}d", denominator=f"emails_delivered_{n}d"),
        _define("days_since_email_engagement", "Days from the day of the account's last email open, click or "
                "reply to the as-of date (0: on the as-of date); null when it never had one.", "days",
                "days_since_engagement", events=list(EMAIL_ENGAGED)),
    ]
    return d


def _custom(spec: _FeaturesFile, source: str, families: dict[str, tuple[str, ...]], system: tuple[str, ...],
            taken: set[str]) -> list[FeatureDef]:
    """The workspace's own features, then its numeric attributes, after the standard ones."""
    defs: list[FeatureDef] = []
    for i, custom in enumerate(spec.features):
        where = f"{source}: features.{i}"
        if custom.name in taken:
            raise ConfigError(f"{where}.name: {custom.name!r} is already a feature name")
        if custom.events is not None and custom.family is not None:
            raise ConfigError(f"{where}: give either events or family, not both")
        if custom.family is not None:
            if custom.family not in families:
                raise ConfigError(f"{where}.family: unknown family {custom.family!r}; known: "
                                  f"{', '.join(sorted(families)) or '(none)'}")
            events: dict[str, list[str]] = {"include": list(families[custom.family])}
        elif custom.events is not None:
            events = {"include": list(_sorted(custom.events))}
        else:
            events = {"exclude": list(system)}
        defs.append(_define(custom.name, custom.description, custom.unit, custom.kind, standard=False,
                            events=events, window_days=custom.window_days))
        taken.add(custom.name)
    for attr in spec.attributes:
        name = f"attr_{attr}"
        if name in taken:
            raise ConfigError(f"{source}: attributes: {attr!r} is listed twice or clashes with a feature")
        defs.append(_define(name, f"Custom account attribute {attr!r} as a number (null when absent or not "
                            "numeric).", "value", "attribute", attribute=attr, standard=False))
        taken.add(name)
    return defs


def _where(source: str, loc: tuple[Any, ...]) -> str:
    return f"{source}: " + ".".join(str(p) for p in loc) if loc else source


def load_feature_defs(yaml_text: str | None, source: str = FEATURES_FILE) -> FeatureSet:
    """The standard feature set merged with a workspace's features.yml text (None or empty: defaults only).

    Raises ConfigError naming `source` and the offending field.
    """
    data: Any = None
    if yaml_text is not None and yaml_text.strip():
        try:
            data = yaml.safe_load(yaml_text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"{source}: invalid YAML ({str(exc).splitlines()[0]})") from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping at the top level, got {type(data).__name__}")
    try:
        spec = _FeaturesFile.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ConfigError(f"{_where(source, tuple(first['loc']))}: {first['msg']}") from exc
    defs, families, vocab = _standard(spec)
    defs += _custom(spec, source, families, vocab["system"], {f.name for f in defs})
    return FeatureSet(
        features=tuple(defs),
        families=tuple(families.items()),
        system_events=vocab["system"],
        milestone_events=vocab["milestones"],
        login_events=vocab["logins"],
        high_priority=vocab["high"],
        attributes=tuple(spec.attributes),
        family_windows=vocab["family_windows"],
    )
