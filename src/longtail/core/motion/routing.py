"""Who owns a CTA: owner-rule chains over a pooled team, capacity limits, and escalation of overdue CTAs.

A CTA carries an ordered chain of owner rules (`owner: [named, last_touch, least_loaded_ctas]` in a playbook
step). `route` tries the rules in order and the first one that yields an available CSM wins; "available"
means on the team and below `max_open_ctas` open CTAs. Every assignment updates the workload, so later
requests of the same batch see it, and the round-robin cursor survives across calls through `Workload`.
When no rule yields anyone the CTA stays unowned, the reason says why each rule failed, and the lead of the
tier is suggested.

`escalations` hands CTAs overdue by more than N days to the lead of their tier.

Pure: no I/O and no clock (`as_of` is a parameter). docs/motion.md describes the configuration.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

ROLES: tuple[str, ...] = ("csm", "lead", "ops", "admin")
RULE_KINDS: tuple[str, ...] = ("named", "round_robin", "least_loaded_ctas", "least_loaded_arr", "skill", "last_touch")
# Roles that can own an account by name (a named CSM or the last person to work it); ops/admin staff run the
# system and should not receive customer CTAs just because they touched an account.
OWNING_ROLES = frozenset({"csm", "lead"})
# A CTA in one of these states needs no chasing: finished, abandoned, or deliberately parked.
QUIET_STATUSES = frozenset({"done", "cancelled", "canceled", "snoozed"})
ALL_CSMS = "*"  # the round-robin cursor key of the pool used when a request has no tier

_SEPARATORS = re.compile(r"[;,]")


# --------------------------------------------------------------------------------------------- the team


def _names(value: Any) -> frozenset[str]:
    """A set of names from a list, a ';'/','-separated string or None (the team table accepts all three)."""
    if value is None:
        return frozenset()
    items = _SEPARATORS.split(value) if isinstance(value, str) else [str(v) for v in value]
    return frozenset(item.strip() for item in items if item.strip())


def _capacity(value: Any) -> int | None:
    """Accounts a person can own: an int, an integral float or numeric text; empty means no stated limit."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise ValueError(f"capacity must be a whole number, not {value!r}")
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError(f"capacity must be a whole number, not {value!r}")
        return int(value)
    try:
        return int(str(value).strip())
    except ValueError:
        raise ValueError(f"capacity must be a whole number, not {value!r}") from None


@dataclass(frozen=True)
class Member:
    """One person on the CS team (a row of the `team` table)."""

    member_id: str
    name: str
    role: str
    capacity: int | None = None
    skills: frozenset[str] = frozenset()
    tiers: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if not self.member_id:
            raise ValueError("a team member needs a member_id")
        if self.role not in ROLES:
            raise ValueError(f"member {self.member_id}: role {self.role!r} is not one of {', '.join(ROLES)}")
        if self.capacity is not None and self.capacity < 0:
            raise ValueError(f"member {self.member_id}: capacity {self.capacity} is negative")

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Member:
        """A member from a team-table row; skills/tiers may be lists, ';'/','-separated text or None."""
        member_id = str(row.get("member_id") or "").strip()
        role = str(row.get("role") or "").strip().lower()
        name = str(row.get("name") or "").strip() or member_id
        return cls(member_id=member_id, name=name, role=role, capacity=_capacity(row.get("capacity")),
                   skills=_names(row.get("skills")), tiers=_names(row.get("tiers")))

    @property
    def label(self) -> str:
        """How reasons name a person: 'Dana Lee (m5)'."""
        return f"{self.name} ({self.member_id})"


@dataclass(frozen=True)
class Team:
    """The CS team. Lookups are deterministic: ties always resolve by member_id."""

    members: tuple[Member, ...]

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for member in self.members:
            if member.member_id in seen:
                raise ValueError(f"member_id {member.member_id!r} appears twice in the team")
            seen.add(member.member_id)

    @classmethod
    def from_rows(cls, rows: Iterable[Mapping[str, Any]]) -> Team:
        """A team from team-table rows."""
        return cls(tuple(Member.from_row(row) for row in rows))

    @property
    def by_id(self) -> dict[str, Member]:
        return {m.member_id: m for m in self.members}

    def csms(self) -> list[Member]:
        return sorted((m for m in self.members if m.role == "csm"), key=lambda m: m.member_id)

    def pool(self, tier: str | None) -> list[Member]:
        """The CSMs covering `tier`, by member_id. No tier means any CSM: nothing restricts who may take it."""
        return [m for m in self.csms() if tier is None or tier in m.tiers]

    def lead_for(self, tier: str | None) -> Member | None:
        """The lead covering `tier`, else any lead (lowest member_id), else None."""
        leads = sorted((m for m in self.members if m.role == "lead"), key=lambda m: m.member_id)
        covering = [m for m in leads if tier is not None and tier in m.tiers]
        candidates = covering or leads
        return candidates[0] if candidates else None


def pool_label(tier: str | None) -> str:
    return "all CSMs" if tier is None else f"pool {tier!r}"


# --------------------------------------------------------------------------------------------- requests


@dataclass(frozen=True)
class OwnerRule:
    """One link of an owner chain; `skill` is set only for the skill rule."""

    kind: str
    skill: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in RULE_KINDS:
            raise ValueError(f"unknown owner rule {self.kind!r}; use one of {', '.join(RULE_KINDS)}")
        if (self.kind == "skill") != bool(self.skill):
            raise ValueError("the skill rule, and only it, names a skill: OwnerRule('skill', 'renewals')")

    @property
    def label(self) -> str:
        return f"skill {self.skill!r}" if self.kind == "skill" else self.kind


DEFAULT_RULES: tuple[OwnerRule, ...] = (OwnerRule("named"), OwnerRule("least_loaded_ctas"))


@dataclass(frozen=True)
class RouteRequest:
    """A CTA to own: `key` is the CTA id; `last_touch` is the member who last worked the account."""

    key: str
    account_id: str
    tier: str | None = None
    arr: float = 0.0
    named_csm: str | None = None
    last_touch: str | None = None
    rules: tuple[OwnerRule, ...] = DEFAULT_RULES


@dataclass(frozen=True)
class Workload:
    """Open CTAs and ARR per member, and the last member each round-robin pool handed a CTA to.

    ARR starts as whatever the caller counts as a person's book (usually the ARR of accounts they own);
    each assignment adds the request's ARR, so least_loaded_arr spreads a batch instead of piling it on one.
    The cursor stores a member_id rather than a position, so hires and leavers do not reshuffle the turn.
    """

    open_ctas: Mapping[str, int] = field(default_factory=dict)
    arr: Mapping[str, float] = field(default_factory=dict)
    cursors: Mapping[str, str] = field(default_factory=dict)

    def open_for(self, member_id: str) -> int:
        return self.open_ctas.get(member_id, 0)

    def arr_for(self, member_id: str) -> float:
        return self.arr.get(member_id, 0.0)


@dataclass(frozen=True)
class Assignment:
    """The owner chosen for one request (None when nobody was available) and why."""

    key: str
    owner_id: str | None
    rule: str | None
    reason: str
    escalate_to: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        return {"key": self.key, "owner_id": self.owner_id, "rule": self.rule, "reason": self.reason,
                "escalate_to": self.escalate_to}


# --------------------------------------------------------------------------------------------- routing


@dataclass
class _Ledger:
    """The workload while a batch is routed (a private mutable copy; `route` returns a new Workload)."""

    open_ctas: dict[str, int]
    arr: dict[str, float]
    cursors: dict[str, str]
    limit: int | None

    def full(self, member_id: str) -> bool:
        return self.limit is not None and self.open_ctas.get(member_id, 0) >= self.limit

    def add(self, member_id: str, arr: float) -> None:
        self.open_ctas[member_id] = self.open_ctas.get(member_id, 0) + 1
        self.arr[member_id] = self.arr.get(member_id, 0.0) + arr


# A rule returns (member, detail) when it found someone, or (None, why it could not).
_Outcome = tuple[Member | None, str]


def _personal(member_id: str | None, what: str, account_id: str, team: Team, ledger: _Ledger) -> _Outcome:
    """The named CSM or last toucher, if still on the team, able to own accounts and below the limit."""
    if not member_id:
        return None, f"no {what} recorded"
    member = team.by_id.get(member_id)
    if member is None:
        return None, f"{what} {member_id} is not on the team"
    if member.role not in OWNING_ROLES:
        return None, f"{what} {member.label} is {member.role}, not a CSM or lead"
    if ledger.full(member.member_id):
        return None, f"{what} {member.label} is at the limit of {ledger.limit} open CTAs"
    return member, f"{what} of account {account_id}"


def _available(pool: list[Member], ledger: _Ledger, label: str) -> tuple[list[Member], str]:
    """The pool members below the limit, and why there are none when there are none."""
    if not pool:
        return [], f"{label} has no CSM"
    free = [m for m in pool if not ledger.full(m.member_id)]
    if free:
        return free, ""
    return [], f"{label} has no CSM with capacity: {len(pool)} of {len(pool)} at the limit of {ledger.limit} open CTAs"


def _round_robin(request: RouteRequest, team: Team, ledger: _Ledger) -> _Outcome:
    """The next pool member after the last one served (by member_id, wrapping), skipping full ones."""
    label = pool_label(request.tier)
    free, why = _available(team.pool(request.tier), ledger, label)
    if not free:
        return None, why
    cursor_key = ALL_CSMS if request.tier is None else request.tier
    last = ledger.cursors.get(cursor_key)
    after = [m for m in free if last is None or m.member_id > last]
    chosen = (after or free)[0]
    ledger.cursors[cursor_key] = chosen.member_id
    turn = "first turn" if last is None else f"next turn after {last}"
    return chosen, f"{turn} in {label}"


def _least_loaded(request: RouteRequest, team: Team, ledger: _Ledger, by_arr: bool) -> _Outcome:
    label = pool_label(request.tier)
    free, why = _available(team.pool(request.tier), ledger, label)
    if not free:
        return None, why
    if by_arr:
        chosen = min(free, key=lambda m: (ledger.arr.get(m.member_id, 0.0), m.member_id))
        return chosen, (f"least ARR in {label} (${ledger.arr.get(chosen.member_id, 0.0):,.0f} "
                        f"among {len(free)} available)")
    chosen = min(free, key=lambda m: (ledger.open_ctas.get(m.member_id, 0), m.member_id))
    return chosen, (f"fewest open CTAs in {label} ({ledger.open_ctas.get(chosen.member_id, 0)} "
                    f"among {len(free)} available)")


def _skill(request: RouteRequest, skill: str, team: Team, ledger: _Ledger) -> _Outcome:
    """The least loaded (open CTAs) pool member having the skill."""
    label = pool_label(request.tier)
    skilled = [m for m in team.pool(request.tier) if skill in m.skills]
    if not skilled:
        return None, f"no CSM in {label} has skill {skill!r}"
    free, _ = _available(skilled, ledger, label)
    if not free:
        return None, (f"{label} has no CSM with skill {skill!r} and capacity: {len(skilled)} of {len(skilled)} "
                      f"at the limit of {ledger.limit} open CTAs")
    chosen = min(free, key=lambda m: (ledger.open_ctas.get(m.member_id, 0), m.member_id))
    return chosen, (f"skill {skill!r}, fewest open CTAs in {label} ({ledger.open_ctas.get(chosen.member_id, 0)} "
                    f"among {len(free)} with the skill)")


def _apply(rule: OwnerRule, request: RouteRequest, team: Team, ledger: _Ledger) -> _Outcome:
    rules: dict[str, Callable[[], _Outcome]] = {
        "named": lambda: _personal(request.named_csm, "named CSM", request.account_id, team, ledger),
        "last_touch": lambda: _personal(request.last_touch, "last toucher", request.account_id, team, ledger),
        "round_robin": lambda: _round_robin(request, team, ledger),
        "least_loaded_ctas": lambda: _least_loaded(request, team, ledger, by_arr=False),
        "least_loaded_arr": lambda: _least_loaded(request, team, ledger, by_arr=True),
        "skill": lambda: _skill(request, rule.skill or "", team, ledger),
    }
    return rules[rule.kind]()


def _route_one(request: RouteRequest, team: Team, ledger: _Ledger) -> Assignment:
    tried: list[str] = []
    for rule in request.rules:
        member, detail = _apply(rule, request, team, ledger)
        if member is not None:
            ledger.add(member.member_id, request.arr)
            before = f" (tried first: {'; '.join(tried)})" if tried else ""
            reason = f"assigned to {member.label} by {rule.label}: {detail}{before}"
            return Assignment(request.key, member.member_id, rule.kind, reason)
        tried.append(f"{rule.label}: {detail}")
    lead = team.lead_for(request.tier)
    why = "; ".join(tried) if tried else "the CTA has no owner rule"
    suggestion = f"escalate to team lead {lead.label}" if lead else "the team has no lead to escalate to"
    return Assignment(request.key, None, None, f"nobody available: {why}; {suggestion}",
                      escalate_to=lead.member_id if lead else None)


def route(requests: Sequence[RouteRequest], team: Team, workload: Workload, *,
          max_open_ctas: int | None = None) -> tuple[list[Assignment], Workload]:
    """One assignment per request, in request order, and the workload after them (the input is not changed).

    `max_open_ctas` is the per-member limit: a member with that many open CTAs gets no more (None: no limit).
    """
    if max_open_ctas is not None and max_open_ctas < 0:
        raise ValueError(f"max_open_ctas must be >= 0, not {max_open_ctas}")
    ledger = _Ledger(dict(workload.open_ctas), dict(workload.arr), dict(workload.cursors), max_open_ctas)
    assignments = [_route_one(request, team, ledger) for request in requests]
    return assignments, Workload(ledger.open_ctas, ledger.arr, ledger.cursors)


# --------------------------------------------------------------------------------------------- escalation


@dataclass(frozen=True)
class OpenCtaView:
    """What escalation needs to know about a CTA."""

    cta_id: str
    owner_id: str | None
    tier: str | None
    due: date
    status: str
    escalated_to: str | None = None


@dataclass(frozen=True)
class Escalation:
    """A CTA to hand to `to_member` (None when the team has nobody to escalate to: it is still reported)."""

    cta_id: str
    to_member: str | None
    reason: str

    def as_dict(self) -> dict[str, str | None]:
        return {"cta_id": self.cta_id, "to_member": self.to_member, "reason": self.reason}


def _escalation_target(cta: OpenCtaView, team: Team) -> tuple[Member | None, str]:
    """The tier's lead; when the owner is that lead, another lead, since escalating to oneself changes nothing."""
    lead = team.lead_for(cta.tier)
    if lead is None:
        return None, "the team has no lead to escalate to"
    if lead.member_id != cta.owner_id:
        return lead, f"escalated to team lead {lead.name}"
    others = sorted((m for m in team.members if m.role == "lead" and m.member_id != lead.member_id),
                    key=lambda m: m.member_id)
    if others:
        return others[0], f"the owner is the tier's lead; escalated to team lead {others[0].name}"
    return None, f"the owner {lead.name} is the only team lead, so there is nobody to escalate to"


def escalations(open_ctas: Iterable[OpenCtaView], team: Team, as_of: date, overdue_days: int) -> list[Escalation]:
    """CTAs due more than `overdue_days` before `as_of`, still active and not yet escalated; most overdue first.

    Exactly `overdue_days` late is not escalated: the setting reads "escalate after N days".
    """
    if overdue_days < 0:
        raise ValueError(f"overdue_days must be >= 0, not {overdue_days}")
    late = [c for c in open_ctas if c.status.strip().lower() not in QUIET_STATUSES and not c.escalated_to
            and (as_of - c.due).days > overdue_days]
    result = []
    for cta in sorted(late, key=lambda c: (c.due, c.cta_id)):
        target, how = _escalation_target(cta, team)
        days = (as_of - cta.due).days
        reason = f"overdue by {days} days (due {cta.due.isoformat()}); {how}"
        result.append(Escalation(cta.cta_id, target.member_id if target else None, reason))
    return result
