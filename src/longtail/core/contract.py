"""The data contract: which kinds of records longtail accepts and what each field means.

The contract is plain data so that the loader, the docs and the JSON Schema export all read one
source of truth.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class FieldType(StrEnum):
    STRING = "string"
    INTEGER = "integer"
    DECIMAL = "decimal"
    FLOAT = "float"
    TIMESTAMP = "timestamp"
    DATE = "date"
    JSON = "json"
    LIST = "list"
    TIMEZONE = "timezone"


MAX_TEXT = 65_536
"""Longest accepted text value (characters); longer values are rejected, not truncated."""


@dataclass(frozen=True)
class FieldSpec:
    name: str
    type: FieldType
    description: str
    required: bool = False
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] | None = None
    open_choices: bool = False
    """When True, values outside `choices` are accepted as custom values (e.g. contact roles)."""


@dataclass(frozen=True)
class Reference:
    field: str
    kind: str
    key: str


@dataclass(frozen=True)
class KindSpec:
    name: str
    description: str
    key: tuple[str, ...]
    fields: tuple[FieldSpec, ...]
    references: tuple[Reference, ...] = ()
    table: str = ""
    keeps_extra_columns: bool = True
    """Extra columns become typed custom attributes (entities) or are reported as ignored (events)."""
    aliases: tuple[str, ...] = field(default=())

    def field(self, name: str) -> FieldSpec:
        for spec in self.fields:
            if spec.name == name:
                return spec
        raise KeyError(name)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields if f.required)


S, INT, D, F = FieldType.STRING, FieldType.INTEGER, FieldType.DECIMAL, FieldType.FLOAT
TS, DT, J, L, TZ = (
    FieldType.TIMESTAMP,
    FieldType.DATE,
    FieldType.JSON,
    FieldType.LIST,
    FieldType.TIMEZONE,
)

CONTACT_ROLES = ("admin", "champion", "power_user", "exec_sponsor", "billing", "user")

ACCOUNTS = KindSpec(
    "accounts",
    "Customer accounts (companies). Extra columns are kept as typed custom attributes.",
    key=("account_id",),
    table="accounts",
    fields=(
        FieldSpec("account_id", S, "Stable identifier of the account.", required=True),
        FieldSpec("name", S, "Display name."),
        FieldSpec("created_at", TS, "When the account became a customer."),
        FieldSpec("industry", S, "Industry label."),
        FieldSpec("country", S, "Country (ISO 3166 alpha-2 recommended)."),
        FieldSpec("employees", INT, "Employee count.", minimum=0),
        FieldSpec("parent_account_id", S, "Parent account for hierarchies (not enforced)."),
    ),
)

SUBSCRIPTIONS = KindSpec(
    "subscriptions",
    "Contract terms or billing periods. Either shape works; contiguous periods form a term.",
    key=("subscription_id", "start_date"),
    table="subscriptions",
    references=(Reference("account_id", "accounts", "account_id"),),
    fields=(
        FieldSpec(
            "subscription_id",
            S,
            "Identifier; derived from account_id, plan and start_date when absent.",
        ),
        FieldSpec("account_id", S, "Account the subscription belongs to.", required=True),
        FieldSpec("plan", S, "Plan or product name."),
        FieldSpec("start_date", DT, "First day of the term or period.", required=True),
        FieldSpec("end_date", DT, "Day after the last day (exclusive); empty = open-ended."),
        FieldSpec("mrr", D, "Monthly recurring revenue; derived as arr / 12 when absent.", minimum=0),
        FieldSpec("arr", D, "Annual recurring revenue; derived as mrr x 12 when absent.", minimum=0),
        FieldSpec("quantity", INT, "Seats (licensed users).", minimum=0),
        FieldSpec("currency", S, "ISO 4217 code; default USD."),
    ),
)

CONTACTS = KindSpec(
    "contacts",
    "People at customer accounts.",
    key=("contact_id",),
    table="contacts",
    references=(Reference("account_id", "accounts", "account_id"),),
    fields=(
        FieldSpec("contact_id", S, "Stable identifier of the contact.", required=True),
        FieldSpec("account_id", S, "Account the contact works at.", required=True),
        FieldSpec("email", S, "Email address."),
        FieldSpec("name", S, "Full name."),
        FieldSpec(
            "role",
            S,
            "Role: admin, champion, power_user, exec_sponsor, billing, user, or a custom value.",
            choices=CONTACT_ROLES,
            open_choices=True,
        ),
        FieldSpec("title", S, "Job title."),
        FieldSpec("timezone", TZ, "IANA time zone, e.g. Europe/Berlin."),
        FieldSpec("created_at", TS, "When the contact was created."),
    ),
)

EVENTS = KindSpec(
    "events",
    "Product usage events. De-duplicated by event_id (a content hash when absent).",
    key=("event_id",),
    table="events",
    keeps_extra_columns=False,
    references=(
        Reference("account_id", "accounts", "account_id"),
        Reference("contact_id", "contacts", "contact_id"),
    ),
    fields=(
        FieldSpec("account_id", S, "Account the event belongs to.", required=True),
        FieldSpec("contact_id", S, "Contact who acted, when known."),
        FieldSpec("event", S, "Event name, e.g. report_shared.", required=True),
        FieldSpec("ts", TS, "When it happened.", required=True),
        FieldSpec("value", F, "Optional numeric value."),
        FieldSpec("properties", J, "Optional JSON object of properties."),
        FieldSpec("event_id", S, "De-duplication key; a content hash when absent."),
    ),
)

TICKETS = KindSpec(
    "tickets",
    "Support tickets.",
    key=("ticket_id",),
    table="tickets",
    references=(Reference("account_id", "accounts", "account_id"),),
    fields=(
        FieldSpec("ticket_id", S, "Ticket identifier.", required=True),
        FieldSpec("account_id", S, "Account that opened it.", required=True),
        FieldSpec("opened_at", TS, "When it was opened.", required=True),
        FieldSpec("closed_at", TS, "When it was closed; empty while open."),
        FieldSpec("priority", S, "low, normal, high, urgent (or custom)."),
        FieldSpec("status", S, "open, pending, solved, closed (or custom)."),
        FieldSpec("csat", F, "Satisfaction rating given on the ticket (1-5).", minimum=1, maximum=5),
    ),
)

SURVEYS = KindSpec(
    "surveys",
    "Survey responses: NPS, CSAT, CES and churn reasons.",
    key=("response_id",),
    table="survey_responses",
    references=(
        Reference("account_id", "accounts", "account_id"),
        Reference("contact_id", "contacts", "contact_id"),
    ),
    fields=(
        FieldSpec("response_id", S, "Response identifier.", required=True),
        FieldSpec("account_id", S, "Account of the respondent.", required=True),
        FieldSpec("contact_id", S, "Respondent, when known."),
        FieldSpec("ts", TS, "When the response was given.", required=True),
        FieldSpec("kind", S, "nps, csat, ces or churn_reason.", choices=("nps", "csat", "ces", "churn_reason")),
        FieldSpec("score", F, "Score (NPS 0-10, CSAT 1-5, CES 1-7).", minimum=0, maximum=10),
        FieldSpec("comment", S, "Free text."),
    ),
)

TEAM = KindSpec(
    "team",
    "The Customer Success team.",
    key=("member_id",),
    table="team_members",
    fields=(
        FieldSpec("member_id", S, "Team member identifier.", required=True),
        FieldSpec("name", S, "Full name."),
        FieldSpec("email", S, "Email address."),
        FieldSpec("role", S, "csm, lead, ops or admin.", choices=("csm", "lead", "ops", "admin")),
        FieldSpec("capacity", INT, "How many accounts this person can own.", minimum=0),
        FieldSpec("skills", L, "Skills, separated by ';' or ','."),
        FieldSpec("tiers", L, "Tiers this person covers, separated by ';' or ','."),
    ),
)

KINDS: dict[str, KindSpec] = {
    k.name: k for k in (ACCOUNTS, SUBSCRIPTIONS, CONTACTS, EVENTS, TICKETS, SURVEYS, TEAM)
}
LOAD_ORDER: tuple[str, ...] = ("team", "accounts", "contacts", "subscriptions", "tickets", "surveys", "events")
"""Order in which kinds must be loaded so that references resolve."""


def kind_spec(name: str) -> KindSpec:
    try:
        return KINDS[name]
    except KeyError:
        known = ", ".join(sorted(KINDS))
        raise KeyError(f"unknown kind {name!r}; expected one of: {known}") from None


_JSON_TYPES: dict[FieldType, dict[str, Any]] = {
    FieldType.STRING: {"type": "string", "maxLength": MAX_TEXT},
    FieldType.INTEGER: {"type": "integer"},
    FieldType.DECIMAL: {"type": "number"},
    FieldType.FLOAT: {"type": "number"},
    FieldType.TIMESTAMP: {"type": "string", "format": "date-time"},
    FieldType.DATE: {"type": "string", "format": "date"},
    FieldType.JSON: {"type": "object"},
    FieldType.LIST: {"type": "array", "items": {"type": "string"}},
    FieldType.TIMEZONE: {"type": "string", "description": "IANA time zone name"},
}


def json_schema(kind: KindSpec) -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of one record of `kind`, as accepted by the loader."""
    properties: dict[str, Any] = {}
    for spec in kind.fields:
        prop: dict[str, Any] = dict(_JSON_TYPES[spec.type])
        prop["description"] = spec.description
        if spec.minimum is not None:
            prop["minimum"] = spec.minimum
        if spec.maximum is not None:
            prop["maximum"] = spec.maximum
        if spec.choices and not spec.open_choices:
            prop["enum"] = list(spec.choices)
        if not spec.required:
            prop = {"anyOf": [prop, {"type": "null"}], "description": spec.description}
        properties[spec.name] = prop
    schema: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://longtail.dev/schema/{kind.name}.json",
        "title": kind.name,
        "description": kind.description,
        "type": "object",
        "properties": properties,
        "required": list(kind.required),
        "additionalProperties": kind.keeps_extra_columns,
    }
    if kind.name == "subscriptions":
        schema["anyOf"] = [{"required": ["mrr"]}, {"required": ["arr"]}]
    return schema


def contract_schema() -> dict[str, Any]:
    """All kinds in one JSON Schema document, keyed under `$defs`."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://longtail.dev/schema/contract.json",
        "title": "longtail data contract",
        "$defs": {name: json_schema(spec) for name, spec in KINDS.items()},
    }
