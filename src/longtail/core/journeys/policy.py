"""The contact policy: one contact-pressure budget that every program (journey) respects.

`arbitrate` decides, for each candidate message due now, whether it is sent now, held for quiet hours,
deferred or skipped because a cap binds, or suppressed (unsubscribed, hard bounce, role opt-out, no email).
It is pure: no I/O and no clock (`now` is a parameter). docs/journeys.md ("Contact policy") is the reference.

Caps and quiet hours apply only to contact-facing channels (email, in_app). Internal channels (webhook,
slack, task) notify our own systems and people, never the customer, so they are never capped, held or
suppressed.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping, Sequence, Set
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Literal, get_args
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Channel = Literal["email", "in_app", "webhook", "slack", "task"]
ContactChannel = Literal["email", "in_app"]
PriorityClass = Literal["high", "normal", "low"]
OnCap = Literal["defer", "skip"]
Action = Literal["send", "hold", "defer", "skip", "suppress"]
SuppressRule = Literal["unsubscribed", "hard_bounced", "role_opt_out", "no_email"]

CONTACT_CHANNELS: frozenset[str] = frozenset(get_args(ContactChannel))
INTERNAL_CHANNELS: frozenset[str] = frozenset(get_args(Channel)) - CONTACT_CHANNELS

# Journeys declare priority as a word; the policy ranks integers so callers can order finer than three classes.
PRIORITY_OF: Mapping[PriorityClass, int] = {"high": 100, "normal": 50, "low": 0}
WINDOW_7_DAYS = timedelta(hours=168)

_NOUN = {"email": ("email", "emails"), "in_app": ("in-app message", "in-app messages")}


def priority_class(priority: int) -> PriorityClass:
    """The class of an integer priority: high from 100, normal from 50, low below (see PRIORITY_OF)."""
    if priority >= PRIORITY_OF["high"]:
        return "high"
    if priority >= PRIORITY_OF["normal"]:
        return "normal"
    return "low"


# ----------------------------------------------------------------------------------------------- policy


@dataclass(frozen=True)
class Cap:
    """At most `per_day` messages per local calendar day and `per_7_days` per rolling 168 hours (None: no cap)."""

    per_day: int | None = None
    per_7_days: int | None = None

    def __post_init__(self) -> None:
        for value in (self.per_day, self.per_7_days):
            if value is not None and value < 1:
                raise ValueError(f"a cap must allow at least 1 message, got {value} (use opt-outs to stop a channel)")


@dataclass(frozen=True)
class QuietHours:
    """No contact-facing message between `start` and `end` local time (may cross midnight); `weekends`: Sat+Sun too."""

    start: time
    end: time
    weekends: bool = False

    def __post_init__(self) -> None:
        if self.start == self.end:
            raise ValueError("quiet hours need a start different from the end (omit them for no quiet hours)")

    def quiet(self, wall: datetime) -> bool:
        """Whether a local wall-clock time falls in quiet hours."""
        return (self.weekends and wall.weekday() >= 5) or self._night(wall.time())

    def _night(self, t: time) -> bool:
        if self.start < self.end:
            return self.start <= t < self.end
        return t >= self.start or t < self.end

    def next_allowed(self, wall: datetime) -> datetime:
        """The first local wall-clock time at or after `wall` outside quiet hours."""
        while True:
            if self.weekends and wall.weekday() >= 5:
                wall = datetime.combine(wall.date() + timedelta(days=7 - wall.weekday()), time())
            elif self._night(wall.time()):
                # Past the start of a window that crosses midnight, the window ends tomorrow.
                day = wall.date() + timedelta(days=1) if self.start > self.end and wall.time() >= self.start \
                    else wall.date()
                wall = datetime.combine(day, self.end)
            else:
                return wall

    def describe(self) -> str:
        weekends = ", all weekend" if self.weekends else ""
        return f"quiet hours {self.start:%H:%M}-{self.end:%H:%M}{weekends}"


@dataclass(frozen=True)
class ContactPolicy:
    """The contact-pressure budget, built by the caller (usually from `ContactPolicyConfig.to_policy`)."""

    workspace_tz: str = "UTC"
    contact_caps: Mapping[ContactChannel, Cap] = field(default_factory=dict)
    account_caps: Mapping[ContactChannel, Cap] = field(default_factory=dict)
    quiet_hours: QuietHours | None = None
    on_cap: Mapping[PriorityClass, OnCap] = field(default_factory=dict)
    opt_out_roles: frozenset[str] = frozenset()
    opt_out_channels: frozenset[ContactChannel] = frozenset({"email"})

    def __post_init__(self) -> None:
        ZoneInfo(self.workspace_tz)  # fail at construction on an unknown zone, not mid-arbitration
        for caps in (self.contact_caps, self.account_caps):
            internal = sorted(set(caps) - CONTACT_CHANNELS)
            if internal:
                raise ValueError(f"internal channels are never capped: {', '.join(internal)}")
        object.__setattr__(self, "opt_out_roles", frozenset(r.casefold() for r in self.opt_out_roles))

    def on_cap_for(self, priority: int) -> OnCap:
        """What happens to a message of this priority when a cap binds (default: defer)."""
        return self.on_cap.get(priority_class(priority), "defer")


# ---------------------------------------------------------------------------------------- inputs/outputs


@dataclass(frozen=True)
class Candidate:
    """A message a program wants to send now; `key` is its idempotency key (unique within one call)."""

    key: str
    contact_id: str
    account_id: str
    channel: Channel
    priority: int
    due: datetime
    program: str
    contact_tz: str | None = None
    role: str | None = None
    email: str | None = None
    account_tz: str | None = None


@dataclass(frozen=True)
class Sent:
    contact_id: str
    account_id: str
    channel: Channel
    sent_at: datetime


@dataclass(frozen=True)
class History:
    """Messages sent in (at least) the last 8 days, and who must not be contacted.

    `unsubscribed` maps a contact to the channels it left, or to "all" (a set holding "all" means the same).
    """

    sent: Sequence[Sent] = ()
    unsubscribed: Mapping[str, Set[str] | Literal["all"]] = field(default_factory=dict)
    hard_bounced: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        # Mail systems treat addresses case-insensitively, so a bounce of Ana@X.test also stops ana@x.test.
        object.__setattr__(self, "hard_bounced", frozenset(e.casefold() for e in self.hard_bounced))


@dataclass(frozen=True)
class Verdict:
    """The decision for one candidate. `until` (UTC) is set for hold and defer; `rule` for suppress;
    `caps` names the caps that bound (contact_day, contact_7d, account_day, account_7d) and `taken_by` the
    keys of messages granted earlier in the same call that used the last slots."""

    key: str
    action: Action
    reason: str
    until: datetime | None = None
    rule: SuppressRule | None = None
    caps: tuple[str, ...] = ()
    taken_by: tuple[str, ...] = ()


# ------------------------------------------------------------------------------------------------ time


def to_instant(wall: datetime, tz: ZoneInfo) -> datetime:
    """The UTC instant of a naive local wall-clock time.

    Ambiguous times (fall back) use the first occurrence; a time that does not exist (spring-forward gap)
    moves to the first valid instant after the gap, i.e. the transition itself.
    """
    first = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
    if first.astimezone(tz).replace(tzinfo=None) == wall:
        return first
    other = wall.replace(tzinfo=tz, fold=1).astimezone(UTC)
    lo, hi = int(min(first, other).timestamp()), int(max(first, other).timestamp())
    # Wall time only grows across a gap, so search the first second whose local time reaches `wall`.
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if datetime.fromtimestamp(mid, tz).replace(tzinfo=None) >= wall:
            hi = mid
        else:
            lo = mid
    return datetime.fromtimestamp(hi, UTC)


@dataclass(frozen=True)
class _Local:
    """Everything about `now` that depends only on a time zone, computed once per zone."""

    tz: ZoneInfo
    wall: datetime
    day_start: datetime
    next_midnight: datetime
    hold_until: datetime | None
    hold_reason: str


def _local(name: str, now: datetime, quiet: QuietHours | None) -> _Local:
    tz = ZoneInfo(name)
    wall = now.astimezone(tz).replace(tzinfo=None)
    today = wall.date()
    hold, reason = None, ""
    if quiet is not None and quiet.quiet(wall):
        allowed = quiet.next_allowed(wall)
        hold = to_instant(allowed, tz)
        if hold <= now:
            # `now` is in the repeated hour of a fall back and the first occurrence has passed: use the second.
            hold = allowed.replace(tzinfo=tz, fold=1).astimezone(UTC)
        reason = f"{quiet.describe()} in {name} (now {wall:%a %H:%M} local); held until {_fmt(hold, tz)}"
    return _Local(tz, wall, to_instant(datetime.combine(today, time()), tz),
                  to_instant(datetime.combine(today + timedelta(days=1), time()), tz), hold, reason)


def _fmt(instant: datetime, tz: ZoneInfo) -> str:
    return f"{instant.astimezone(tz):%Y-%m-%d %H:%M} local ({tz.key})"


# ---------------------------------------------------------------------------------------------- buckets


@dataclass(frozen=True)
class _Binding:
    """A cap that binds: its name, a human phrase, when it frees up (UTC) and the zone to show that in."""

    name: str
    phrase: str
    frees: datetime
    tz: ZoneInfo


@dataclass
class _Bucket:
    """One capped budget (a contact or account, on one channel): history in its windows plus grants so far."""

    scope: Literal["contact", "account"]
    channel: ContactChannel
    cap: Cap
    local: _Local
    day_count: int
    week: list[datetime]  # sent times in the rolling window, ascending (history only)
    granted: list[Candidate] = field(default_factory=list)

    def binding(self, now: datetime) -> list[_Binding]:
        """The caps that leave no room, each with when it frees up."""
        out: list[_Binding] = []
        n_granted = len(self.granted)
        singular, plural = _NOUN[self.channel]
        if self.cap.per_day is not None and self.day_count + n_granted >= self.cap.per_day:
            n = self.day_count + n_granted
            out.append(_Binding(f"{self.scope}_day",
                                f"{self.scope} already got {n} {singular if n == 1 else plural} today "
                                f"(cap {self.cap.per_day}/day, {self.local.tz.key})",
                                self.local.next_midnight, self.local.tz))
        if self.cap.per_7_days is not None and len(self.week) + n_granted >= self.cap.per_7_days:
            times = self.week + [now] * n_granted
            n = len(times)
            # The window has room again once all but cap-1 of these messages have aged out.
            frees = times[n - self.cap.per_7_days] + WINDOW_7_DAYS
            out.append(_Binding(f"{self.scope}_7d",
                                f"{self.scope} already got {n} {singular if n == 1 else plural} in the last "
                                f"7 days (cap {self.cap.per_7_days}/7 days)", frees, self.local.tz))
        return out

    def usage(self) -> str:
        parts = []
        n = len(self.granted) + 1
        if self.cap.per_day is not None:
            parts.append(f"{self.day_count + n}/{self.cap.per_day} today")
        if self.cap.per_7_days is not None:
            parts.append(f"{len(self.week) + n}/{self.cap.per_7_days} in 7 days")
        return f"{self.scope} {self.channel} {', '.join(parts)}"


class _Ledger:
    """History indexed by (contact or account, channel) so each bucket is counted once, with bisect."""

    def __init__(self, sent: Iterable[Sent], now: datetime) -> None:
        self.now = now
        by_contact: dict[tuple[str, str], list[datetime]] = {}
        by_account: dict[tuple[str, str], list[datetime]] = {}
        for s in sent:
            if s.channel not in CONTACT_CHANNELS or s.sent_at > now:
                continue  # internal sends cost no contact pressure; later sends are a replay's future
            at = _aware(s.sent_at, "sent_at")
            by_contact.setdefault((s.contact_id, s.channel), []).append(at)
            by_account.setdefault((s.account_id, s.channel), []).append(at)
        for times in (*by_contact.values(), *by_account.values()):
            times.sort()
        self.times = {"contact": by_contact, "account": by_account}
        self.buckets: dict[tuple[str, str, str], _Bucket] = {}

    def bucket(self, scope: Literal["contact", "account"], ident: str, channel: ContactChannel, cap: Cap,
               local: _Local) -> _Bucket:
        key = (scope, ident, channel)
        found = self.buckets.get(key)
        if found is None:
            times = self.times[scope].get((ident, channel), [])
            day = len(times) - bisect_left(times, local.day_start)
            week = times[bisect_right(times, self.now - WINDOW_7_DAYS):]
            found = self.buckets[key] = _Bucket(scope, channel, cap, local, day, week)
        return found


def _aware(value: datetime, what: str) -> datetime:
    if value.tzinfo is None:
        raise ValueError(f"{what} must be time-zone aware (UTC), got {value.isoformat()}")
    return value


# ---------------------------------------------------------------------------------------------- decisions


def _suppressed(c: Candidate, history: History, policy: ContactPolicy) -> Verdict | None:
    """The first suppression rule that stops a contact-facing message, if any."""
    left = history.unsubscribed.get(c.contact_id)
    if left is not None and (left == "all" or "all" in left or c.channel in left):
        scope = "all messages" if left == "all" or "all" in left else f"{c.channel} messages"
        return Verdict(c.key, "suppress", f"contact unsubscribed from {scope}", rule="unsubscribed")
    if c.channel == "email":
        if not c.email:
            return Verdict(c.key, "suppress", "contact has no email address", rule="no_email")
        if c.email.casefold() in history.hard_bounced:
            return Verdict(c.key, "suppress", f"{c.email} hard-bounced before", rule="hard_bounced")
    if c.role is not None and c.role.casefold() in policy.opt_out_roles and c.channel in policy.opt_out_channels:
        return Verdict(c.key, "suppress", f"contacts with role '{c.role}' opted out of {c.channel} from programs",
                       rule="role_opt_out")
    return None


def _taken_by(buckets: Iterable[_Bucket]) -> tuple[Candidate, ...]:
    """The messages granted earlier in this call that use the given budgets, without repeats."""
    seen: dict[str, Candidate] = {}
    for b in buckets:
        for g in b.granted:
            seen.setdefault(g.key, g)
    return tuple(seen.values())


def _capped(c: Candidate, binding: list[_Binding], takers: tuple[Candidate, ...],
            policy: ContactPolicy) -> Verdict:
    """Defer or skip a message whose caps bind, naming the messages of this call that took the slots."""
    reason = "; ".join(b.phrase for b in binding)
    if takers:
        named = ", ".join(f"'{t.key}' ({t.program}, priority {t.priority})" for t in takers[:3])
        more = f" and {len(takers) - 3} more" if len(takers) > 3 else ""
        reason += f"; the last slot went to {named}{more}, ranked ahead of this one (priority {c.priority})"
    caps = tuple(b.name for b in binding)
    keys = tuple(t.key for t in takers)
    if policy.on_cap_for(c.priority) == "skip":
        return Verdict(c.key, "skip", f"{reason}; skipped ({priority_class(c.priority)} priority skips on cap)",
                       caps=caps, taken_by=keys)
    last = max(binding, key=lambda b: b.frees)  # every binding cap must have freed up
    return Verdict(c.key, "defer", f"{reason}; deferred to {_fmt(last.frees, last.tz)}", until=last.frees,
                   caps=caps, taken_by=keys)


def _rank(c: Candidate) -> tuple[int, datetime, str]:
    return (-c.priority, c.due, c.key)


def arbitrate(candidates: Sequence[Candidate], history: History, policy: ContactPolicy,
              now: datetime) -> list[Verdict]:
    """One verdict per candidate, in input order; the same whatever the input order.

    Candidates are served by priority (higher first), then due time, then key; a grant counts against the
    caps of every later candidate in the same call. Raises ValueError on duplicate keys, naive datetimes, or
    a contact or account given two different time zones.
    """
    now = _aware(now, "now")
    ranked = sorted(candidates, key=_rank)
    _check(ranked, policy)
    ledger = _Ledger(history.sent, now)
    zones: dict[str, _Local] = {}

    def local(name: str | None) -> _Local:
        name = name or policy.workspace_tz
        if name not in zones:
            zones[name] = _local(name, now, policy.quiet_hours)
        return zones[name]

    verdicts: dict[str, Verdict] = {}
    for c in ranked:
        verdicts[c.key] = _decide(c, history=history, policy=policy, ledger=ledger, contact=local(c.contact_tz),
                                account=local(c.account_tz), now=now)
    return [verdicts[c.key] for c in candidates]


def _decide(c: Candidate, *, history: History, policy: ContactPolicy, ledger: _Ledger, contact: _Local,
            account: _Local, now: datetime) -> Verdict:
    """The verdict for one candidate, given the grants made so far in this call (kept in `ledger`)."""
    if c.channel not in CONTACT_CHANNELS:
        return Verdict(c.key, "send", f"{c.channel} is an internal channel: never capped or held")
    suppressed = _suppressed(c, history, policy)
    if suppressed is not None:
        return suppressed
    if contact.hold_until is not None:
        return Verdict(c.key, "hold", contact.hold_reason, until=contact.hold_until)
    channel: ContactChannel = "email" if c.channel == "email" else "in_app"
    buckets = []
    if channel in policy.contact_caps:
        buckets.append(ledger.bucket("contact", c.contact_id, channel, policy.contact_caps[channel], contact))
    if channel in policy.account_caps:
        buckets.append(ledger.bucket("account", c.account_id, channel, policy.account_caps[channel], account))
    per_bucket = [(bucket, bucket.binding(now)) for bucket in buckets]
    binding = [b for _, bound in per_bucket for b in bound]
    if binding:
        return _capped(c, binding, _taken_by(bucket for bucket, bound in per_bucket if bound), policy)
    usage = "; ".join(b.usage() for b in buckets) or "no caps configured"
    for bucket in buckets:
        bucket.granted.append(c)
    return Verdict(c.key, "send", f"within caps ({usage})")


def _check(ranked: Sequence[Candidate], policy: ContactPolicy) -> None:
    """Reject inputs that would make the outcome depend on input order."""
    contact_tz: dict[str, str] = {}
    account_tz: dict[str, str] = {}
    keys: set[str] = set()
    for c in ranked:
        _aware(c.due, f"due of {c.key}")
        if c.key in keys:
            raise ValueError(f"duplicate candidate key {c.key!r}: idempotency keys must be unique in one call")
        keys.add(c.key)
        for seen, ident, tz, what in ((contact_tz, c.contact_id, c.contact_tz, "contact"),
                                      (account_tz, c.account_id, c.account_tz, "account")):
            zone = tz or policy.workspace_tz
            if seen.setdefault(ident, zone) != zone:
                raise ValueError(f"{what} {ident!r} has two time zones in one call: {seen[ident]} and {zone}")


# ----------------------------------------------------------------------------------------------- config

_HHMM = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ChannelCapConfig(_Strict):
    per_day: int | None = Field(default=None, ge=1)
    per_7_days: int | None = Field(default=None, ge=1)


class CapsConfig(_Strict):
    """Caps per contact-facing channel; internal channels (webhook, slack, task) are never capped."""

    contact: dict[ContactChannel, ChannelCapConfig] = Field(default_factory=dict)
    account: dict[ContactChannel, ChannelCapConfig] = Field(default_factory=dict)


class QuietHoursConfig(_Strict):
    # Quoted "HH:MM" strings: unquoted 20:00 is the integer 1200 to a YAML 1.1 parser.
    start: str = Field(pattern=_HHMM, description='local time, quoted "HH:MM"')
    end: str = Field(pattern=_HHMM, description='local time, quoted "HH:MM"; may be earlier than start')
    weekends: bool = Field(default=False, description="also quiet all Saturday and Sunday")

    @model_validator(mode="after")
    def _differ(self) -> QuietHoursConfig:
        if self.start == self.end:
            raise ValueError("quiet_hours start and end must differ (omit quiet_hours for none)")
        return self


class OnCapConfig(_Strict):
    high: OnCap = "defer"
    normal: OnCap = "defer"
    low: OnCap = "defer"


class OptOutsConfig(_Strict):
    roles: tuple[str, ...] = Field(default=(), description="contact roles that never get program messages")
    channels: tuple[ContactChannel, ...] = Field(default=("email",), min_length=1,
                                                 description="the channels the role opt-outs cover")

    @field_validator("roles")
    @classmethod
    def _roles(cls, roles: tuple[str, ...]) -> tuple[str, ...]:
        if any(not r.strip() for r in roles):
            raise ValueError("opt-out roles must be non-empty")
        return roles


class ContactPolicyConfig(_Strict):
    """The `contact_policy:` section of motion/contact_policy.yml."""

    caps: CapsConfig = CapsConfig()
    quiet_hours: QuietHoursConfig | None = None
    on_cap: OnCapConfig = OnCapConfig()
    opt_outs: OptOutsConfig = OptOutsConfig()

    def to_policy(self, workspace_tz: str = "UTC") -> ContactPolicy:
        """The policy the arbiter runs; accounts without a time zone use `workspace_tz`."""
        quiet = self.quiet_hours
        return ContactPolicy(
            workspace_tz=workspace_tz,
            contact_caps={ch: Cap(c.per_day, c.per_7_days) for ch, c in self.caps.contact.items()},
            account_caps={ch: Cap(c.per_day, c.per_7_days) for ch, c in self.caps.account.items()},
            quiet_hours=None if quiet is None else QuietHours(time.fromisoformat(quiet.start),
                                                              time.fromisoformat(quiet.end), quiet.weekends),
            on_cap={"high": self.on_cap.high, "normal": self.on_cap.normal, "low": self.on_cap.low},
            opt_out_roles=frozenset(self.opt_outs.roles),
            opt_out_channels=frozenset(self.opt_outs.channels),
        )
