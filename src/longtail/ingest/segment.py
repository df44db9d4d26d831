"""Segment's HTTP tracking API (track, identify, group, page, screen, alias, batch) mapped to contract rows.

Pure: bytes and dicts in, validated messages and rows out; no I/O and no clock (the caller passes `received_at`).
The adapter (`longtail.store.tracking`) looks up memberships, writes the rows and lands the events.

Segment's spec: https://segment.com/docs/connections/spec/ (common fields, track, identify, group, page, screen,
alias) and the HTTP API's limits (32 KB per call, 500 KB per batch request).
"""

from __future__ import annotations

import hashlib
import json
import re
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

MAX_BATCH_BYTES = 500 * 1024
"""Segment's limit for one /v1/batch request (after decompression)."""
MAX_MESSAGE_BYTES = 32 * 1024
"""Segment's limit for one call, alone or inside a batch."""
MAX_ID_CHARS = 255
"""Ids become keys in the operational database (String(255))."""
UNATTRIBUTED = "unattributed"
"""Account of an event (or contact) no group could be found for: kept and counted, never dropped, so a later
`group` call or a backfill can re-attribute it."""
MESSAGE_TYPES = ("track", "identify", "group", "page", "screen", "alias")
PAGE_EVENT = "page_viewed"
SCREEN_EVENT = "screen_viewed"
INT64_MAX = 2**63 - 1


class PayloadError(Exception):
    """A request the API refuses: `status` is the HTTP status (400 or 413), `reason` says why."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


# ------------------------------------------------------------------------------------------------ messages


def _as_id(value: Any) -> Any:
    """Segment's SDKs send ids as strings, some send numbers: accept both, treat empty as absent."""
    if isinstance(value, bool):
        return value  # let pydantic reject it: `true` is no id
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return value


def _empty_dict(value: Any) -> Any:
    return {} if value is None else value


def _stripped(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


OptionalId = Annotated[Annotated[str, Field(max_length=MAX_ID_CHARS)] | None, BeforeValidator(_as_id)]
RequiredId = Annotated[str, BeforeValidator(_as_id), Field(min_length=1, max_length=MAX_ID_CHARS)]
Object = Annotated[dict[str, Any], BeforeValidator(_empty_dict)]
"""A JSON object; null counts as empty (some SDKs send `"properties": null`)."""


class _Common(BaseModel):
    """Fields every Segment call carries."""

    # Unknown top-level fields (integrations, receivedAt, version, writeKey) are ignored, as Segment does.
    model_config = ConfigDict(extra="ignore")

    messageId: OptionalId = None
    userId: OptionalId = None
    anonymousId: OptionalId = None
    timestamp: datetime | None = None
    originalTimestamp: datetime | None = None
    sentAt: datetime | None = None
    context: Object = Field(default_factory=dict)

    @model_validator(mode="after")
    def _someone(self) -> _Common:
        if self.userId is None and self.anonymousId is None:
            raise ValueError("needs a userId or an anonymousId")
        return self

    @property
    def person(self) -> str:
        """The id the message is about: userId, else anonymousId (the validator guarantees one)."""
        return self.userId or self.anonymousId or ""


class Track(_Common):
    type: Literal["track"]
    event: Annotated[str, BeforeValidator(_stripped), Field(min_length=1, max_length=1024)]
    properties: Object = Field(default_factory=dict)


class Identify(_Common):
    type: Literal["identify"]
    traits: Object = Field(default_factory=dict)


class Group(_Common):
    type: Literal["group"]
    groupId: RequiredId
    traits: Object = Field(default_factory=dict)


class Page(_Common):
    type: Literal["page"]
    name: str | None = None
    category: str | None = None
    properties: Object = Field(default_factory=dict)


class Screen(Page):
    type: Literal["screen"]  # type: ignore[assignment]


class Alias(_Common):
    type: Literal["alias"]
    previousId: RequiredId

    @model_validator(mode="after")
    def _needs_user(self) -> Alias:
        if self.userId is None:
            raise ValueError("alias needs the new userId")
        return self


Message = Annotated[Track | Identify | Group | Page | Screen | Alias, Field(discriminator="type")]
_MESSAGE: TypeAdapter[Track | Identify | Group | Page | Screen | Alias] = TypeAdapter(Message)
_MESSAGES: TypeAdapter[list[Track | Identify | Group | Page | Screen | Alias]] = TypeAdapter(list[Message])


# ------------------------------------------------------------------------------------------------ parsing


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def decompress(body: bytes, encoding: str | None, limit: int) -> bytes:
    """Undo `Content-Encoding: gzip` without ever inflating more than `limit` bytes (a gzip bomb stops here)."""
    if not encoding or encoding.strip().lower() == "identity":
        return body
    if encoding.strip().lower() != "gzip":
        raise PayloadError(415, f"unsupported Content-Encoding {encoding!r}; send identity or gzip")
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise PayloadError(400, f"the gzip body is corrupt ({exc})") from exc
    if len(out) > limit:
        raise PayloadError(413, f"the decompressed body is larger than {limit // 1024} KB")
    if not inflater.eof:
        raise PayloadError(400, "the gzip body is truncated")
    return out


def parse_body(body: bytes) -> dict[str, Any]:
    """The request body as a JSON object, or a 400 saying what is wrong with it."""
    try:
        data = json.loads(body, parse_constant=_reject_constant)
    except RecursionError as exc:
        raise PayloadError(400, "malformed JSON: nested too deeply") from exc
    except UnicodeDecodeError as exc:
        raise PayloadError(400, f"malformed JSON: not UTF-8 ({exc.reason} at byte {exc.start})") from exc
    except ValueError as exc:
        raise PayloadError(400, f"malformed JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise PayloadError(400, f"the body must be a JSON object, not {type(data).__name__}")
    return data


def _message_size(raw: dict[str, Any], where: str) -> int:
    """Bytes of the message as compact JSON; refuses strings no store can hold (lone surrogates, NUL)."""
    try:
        text = json.dumps(raw, ensure_ascii=False, separators=(",", ":"))
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError as exc:
        raise PayloadError(400, f"{where}: contains an invalid Unicode escape (a lone surrogate)") from exc
    except (RecursionError, ValueError) as exc:
        raise PayloadError(400, f"{where}: cannot be read as JSON ({exc})") from exc
    # NUL is valid JSON but PostgreSQL text cannot hold it; fail here rather than half-way through a write.
    if "\\u0000" in text and _has_nul(raw):
        raise PayloadError(400, f"{where}: contains a NUL character (\\u0000)")
    return size


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


_RISKY_ESCAPE = re.compile(rb"\\u(?:[dD][89a-fA-F]|0000)")


def needs_message_checks(body: bytes) -> bool:
    """False when no message can break a limit or hold an unstorable string, so the per-message checks can
    be skipped: the whole body is within one message's limit and has no surrogate or NUL escape (raw UTF-8
    cannot encode either; invalid UTF-8 fails parsing). A false alarm only costs the checks."""
    return len(body) > MAX_MESSAGE_BYTES or _RISKY_ESCAPE.search(body) is not None


def raw_messages(payload: dict[str, Any], kind: str | None, checks: bool = True) -> list[dict[str, Any]]:
    """The messages of a request: `kind` is the endpoint's type (/v1/track), None for /v1/batch.

    A batch's top-level `context` and `sentAt` apply to every message that does not set its own, as in Segment.
    `checks` False skips the per-message size and string checks (see `needs_message_checks`).
    """
    if kind is not None:
        msg = dict(payload)
        if msg.get("type", kind) != kind:
            raise PayloadError(400, f"message 0: type {msg.get('type')!r} sent to /v1/{kind}")
        msg["type"] = kind
        if checks:
            _message_size(msg, "message 0")
        return [msg]
    batch = payload.get("batch")
    if not isinstance(batch, list):
        raise PayloadError(400, "a batch needs a `batch` list of messages")
    shared = payload.get("context")
    sent_at = payload.get("sentAt")
    out: list[dict[str, Any]] = []
    for i, item in enumerate(batch):
        if not isinstance(item, dict):
            raise PayloadError(400, f"message {i}: must be a JSON object, not {type(item).__name__}")
        size = _message_size(item, f"message {i}") if checks else 0
        if size > MAX_MESSAGE_BYTES:
            limit = MAX_MESSAGE_BYTES // 1024
            raise PayloadError(413, f"message {i}: {size} bytes; the limit is {limit} KB per message")
        msg = item
        if isinstance(shared, dict) and shared:
            own = msg.get("context")
            msg = {**msg, "context": {**shared, **own} if isinstance(own, dict) else shared}
        if sent_at is not None and "sentAt" not in msg:
            msg = {**msg, "sentAt": sent_at}
        out.append(msg)
    return out


def _reason(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:3]:
        loc = ".".join(str(p) for p in err["loc"][1:] if p not in MESSAGE_TYPES) or "message"
        msg = err["msg"].removeprefix("Value error, ")
        parts.append(msg if loc == "message" else f"{loc}: {msg}")
    return "; ".join(parts)


def validate(raw: list[dict[str, Any]]) -> list[Track | Identify | Group | Page | Screen | Alias]:
    """Typed messages, or a 400 naming the first bad message's index and what is wrong with it."""
    for i, msg in enumerate(raw):
        kind = msg.get("type")
        if kind not in MESSAGE_TYPES:
            raise PayloadError(400, f"message {i}: unknown type {kind!r}; expected one of {', '.join(MESSAGE_TYPES)}")
    try:
        # One call for the whole list: a third faster than one call per message.
        return _MESSAGES.validate_python(raw)
    except ValidationError as exc:
        first = exc.errors()[0]["loc"][0]
        i = first if isinstance(first, int) else 0
        try:
            _MESSAGE.validate_python(raw[i])
        except ValidationError as one:
            raise PayloadError(400, f"message {i} ({raw[i].get('type')}): {_reason(one)}") from exc
        raise PayloadError(400, f"message {i}: {exc.errors()[0]['msg']}") from exc


def read_request(
    body: bytes, encoding: str | None, kind: str | None
) -> list[Track | Identify | Group | Page | Screen | Alias]:
    """Body bytes of /v1/<kind> (None: /v1/batch) to validated messages; raises PayloadError with a reason."""
    limit = MAX_BATCH_BYTES if kind is None else MAX_MESSAGE_BYTES
    if len(body) > limit:
        raise PayloadError(413, f"the body is {len(body)} bytes; the limit is {limit // 1024} KB")
    data = decompress(body, encoding, limit)
    return validate(raw_messages(parse_body(data), kind, needs_message_checks(data)))


# ------------------------------------------------------------------------------------------------ mapping

AnyMessage = Track | Identify | Group | Page | Screen | Alias

_CONTACT_COLUMNS = ("email", "name", "title")
_ACCOUNT_COLUMNS = ("name", "industry")
_SKIPPED_TRAITS = frozenset({"id", "userId", "groupId", "company", "firstName", "lastName", "createdAt",
                             "created_at", "address"})
_DATETIME: TypeAdapter[datetime] = TypeAdapter(datetime)


@dataclass
class Mapped:
    """What a request changes: event rows to land, partial contact and account rows to merge, and counts.

    Contact and account rows are partial: only the fields the messages set, plus `attributes` (a dict of
    custom traits to merge into the stored ones), so a `group` with just a name never wipes an industry loaded
    from the CRM. A contact's `account_id` is set only when a message decides it.
    """

    events: list[dict[str, Any]] = field(default_factory=list)
    contacts: dict[str, dict[str, Any]] = field(default_factory=dict)
    accounts: dict[str, dict[str, Any]] = field(default_factory=dict)
    unattributed: int = 0
    notes: list[str] = field(default_factory=list)


def lookups(messages: Iterable[AnyMessage]) -> set[str]:
    """User ids whose current account the adapter must look up before `map_messages`."""
    wanted: set[str] = set()
    for msg in messages:
        if isinstance(msg, Alias):
            wanted.update((msg.previousId, msg.userId or ""))
        elif isinstance(msg, Track | Page) and msg.userId is not None and _group_of(msg) is None:
            wanted.add(msg.userId)
    return wanted


def _utc(ts: datetime) -> datetime:
    """Naive timestamps are UTC, as in Segment."""
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def event_time(msg: AnyMessage, received_at: datetime) -> datetime:
    """When it happened: `timestamp`; else `originalTimestamp` corrected for the device clock's skew
    (received_at - sentAt), as Segment does; else when it arrived."""
    if msg.timestamp is not None:
        return _utc(msg.timestamp)
    if msg.originalTimestamp is not None:
        if msg.sentAt is not None:
            return _utc(msg.originalTimestamp) + (_utc(received_at) - _utc(msg.sentAt))
        return _utc(msg.originalTimestamp)
    return _utc(received_at)


def event_id(msg: AnyMessage) -> str:
    """`messageId`, so a retried batch lands the same ids and is de-duplicated; a content hash when absent."""
    if msg.messageId is not None:
        return msg.messageId
    content = msg.model_dump(mode="json", exclude={"sentAt"})
    digest = hashlib.sha256(json.dumps(content, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    return f"sg_{digest[:32]}"


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _group_of(msg: AnyMessage) -> str | None:
    """The account a call names itself: `context.groupId` (Segment's per-call account)."""
    value = _as_id(msg.context.get("groupId"))
    return value if isinstance(value, str) and len(value) <= MAX_ID_CHARS else None


def _timestamp(value: Any) -> datetime | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return _utc(_DATETIME.validate_python(value))
    except ValidationError:
        return None


def _text(value: Any) -> str | None:
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def _extras(traits: Mapping[str, Any], used: Iterable[str]) -> dict[str, Any]:
    skip = set(used) | _SKIPPED_TRAITS
    return {k: v for k, v in traits.items() if k not in skip and v is not None}


def contact_fields(traits: Mapping[str, Any], context: Mapping[str, Any]) -> dict[str, Any]:
    """Contact columns (and custom `attributes`) from identify traits (Segment's reserved traits)."""
    row: dict[str, Any] = {}
    used: list[str] = []
    for name in _CONTACT_COLUMNS:
        if (value := _text(traits.get(name))) is not None:
            row[name] = value
            used.append(name)
    if "name" not in row:
        full = " ".join(p for p in (_text(traits.get("firstName")), _text(traits.get("lastName"))) if p)
        if full:
            row["name"] = full
    if (role := _text(traits.get("role"))) is not None:
        row["role"] = role.lower()
        used.append("role")
    # An unknown zone in the traits stays an attribute; the device's zone (context) is the fallback.
    zones = [z for z in (_text(traits.get("timezone")), _text(context.get("timezone"))) if z and _known_zone(z)]
    if zones:
        row["timezone"] = zones[0]
        if zones[0] == traits.get("timezone"):
            used.append("timezone")
    created = _timestamp(traits.get("createdAt", traits.get("created_at")))
    if created is not None:
        row["created_at"] = created
    row["attributes"] = _extras(traits, used)
    return row


def account_fields(traits: Mapping[str, Any]) -> dict[str, Any]:
    """Account columns (and custom `attributes`) from group traits (Segment's reserved group traits)."""
    row: dict[str, Any] = {}
    used: list[str] = []
    for name in _ACCOUNT_COLUMNS:
        if (value := _text(traits.get(name))) is not None:
            row[name] = value
            used.append(name)
    employees = traits.get("employees")
    if isinstance(employees, int) and not isinstance(employees, bool) and 0 <= employees <= INT64_MAX:
        row["employees"] = employees
        used.append("employees")
    address = traits.get("address")
    country = _text(traits.get("country")) or (_text(address.get("country")) if isinstance(address, dict) else None)
    if country is not None:
        row["country"] = country
        used.append("country")
    created = _timestamp(traits.get("createdAt", traits.get("created_at")))
    if created is not None:
        row["created_at"] = created
    attributes = _extras(traits, used)
    if isinstance(address, dict):
        attributes["address"] = address  # kept whole: only its country has a column
    row["attributes"] = attributes
    return row


def _known_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def _merge(target: dict[str, dict[str, Any]], key: str, fields: dict[str, Any]) -> None:
    """Later calls in a request win field by field; attributes merge key by key."""
    row = target.setdefault(key, {"attributes": {}})
    attributes = {**row["attributes"], **fields.get("attributes", {})}
    row.update({k: v for k, v in fields.items() if k != "attributes"})
    row["attributes"] = attributes


class _Mapper:
    """Walks the messages in order, so a `group` earlier in a batch attributes the tracks after it."""

    def __init__(self, known: Mapping[str, str], received_at: datetime) -> None:
        self.members = dict(known)
        self.received_at = received_at
        self.out = Mapped()

    def join(self, user: str, account: str) -> None:
        self.members[user] = account
        _merge(self.out.contacts, user, {"account_id": account})

    def event(self, msg: AnyMessage, name: str, properties: dict[str, Any]) -> None:
        account = _group_of(msg) or (self.members.get(msg.userId) if msg.userId else None)
        if account is None:
            account = UNATTRIBUTED
            self.out.unattributed += 1
        if msg.userId is None and msg.anonymousId is not None:
            properties = {"anonymous_id": msg.anonymousId, **properties}
        self.out.events.append({
            "event_id": event_id(msg),
            "account_id": account,
            "contact_id": msg.userId,
            "event": name,
            "ts": event_time(msg, self.received_at),
            "value": _number(properties.get("value", properties.get("revenue"))),
            "properties": json.dumps(properties, ensure_ascii=False, separators=(",", ":")) if properties else None,
        })

    def identify(self, msg: Identify) -> None:
        if msg.userId is None:
            self.out.notes.append(f"identify of anonymous {msg.anonymousId!r}: no contact stored (needs a userId)")
            return
        _merge(self.out.contacts, msg.userId, contact_fields(msg.traits, msg.context))
        company = msg.traits.get("company")
        company_id = _as_id(company.get("id")) if isinstance(company, dict) else None
        account = _group_of(msg) or (company_id if isinstance(company_id, str) else None)
        if account is not None and len(account) <= MAX_ID_CHARS:
            self.join(msg.userId, account)
            if isinstance(company, dict) and (name := _text(company.get("name"))) is not None:
                _merge(self.out.accounts, account, {"name": name})

    def group(self, msg: Group) -> None:
        _merge(self.out.accounts, msg.groupId, account_fields(msg.traits))
        if msg.userId is None:
            self.out.notes.append(f"group {msg.groupId!r} from anonymous {msg.anonymousId!r}: account updated, "
                                  "no membership (needs a userId)")
            return
        self.join(msg.userId, msg.groupId)

    def alias(self, msg: Alias) -> None:
        user = msg.userId or ""
        previous = self.members.get(msg.previousId)
        if user in self.members or previous is None:
            self.out.notes.append(f"alias {msg.previousId!r} -> {user!r}: nothing to carry over")
            return
        self.join(user, previous)

    def add(self, msg: AnyMessage) -> None:
        if isinstance(msg, Track):
            self.event(msg, msg.event, msg.properties)
        elif isinstance(msg, Identify):
            self.identify(msg)
        elif isinstance(msg, Group):
            self.group(msg)
        elif isinstance(msg, Page):  # Screen is a Page
            extra = {k: v for k, v in (("name", msg.name), ("category", msg.category)) if v is not None}
            self.event(msg, SCREEN_EVENT if isinstance(msg, Screen) else PAGE_EVENT, {**extra, **msg.properties})
        else:
            self.alias(msg)


def map_messages(messages: Iterable[AnyMessage], known: Mapping[str, str], received_at: datetime) -> Mapped:
    """Contract rows for validated messages, in order.

    `known` maps user ids to their account from earlier requests (the latest `group`); `received_at` is when
    the request arrived (for messages without a timestamp and for clock-skew correction).
    """
    mapper = _Mapper(known, received_at)
    for msg in messages:
        mapper.add(msg)
    return mapper.out

