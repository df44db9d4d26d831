"""Coverage: how many accounts (and how much ARR) each CSM and each tier carries, against targets and cost.

Counting rules (docs/motion.md says the same for CS Ops):

* A named account counts for its named CSM, whatever their tiers. A named CSM who is not on the team does
  not count: the account falls back to its tier's pool, with a warning.
* Pooled accounts of a tier are shared equally by the tier's pool (the CSMs listing the tier). A tier whose
  pool is empty leaves its pooled accounts uncovered, with a warning.
* A CSM's time (one FTE) and loaded cost are split equally across the tiers they serve: the tiers they list
  plus the tiers of their named accounts. An account-count split would make each tier's ratio equal the
  person's whole book and hide which tier is stretched, so time is split by tier instead.
* A tier's ratio is its accounts per CSM FTE; above the target's max it is under-covered (too few CSMs),
  below the min over-covered (more CSM time than the accounts need).

Pure: no I/O. `as_dict()` gives plain JSON-able data for `--format json`; every list is sorted.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields, is_dataclass
from typing import Any

from longtail.core.motion.routing import Member, Team

NO_TIER = "(no tier)"  # how accounts without a tier are reported; no pool covers them
UTILISATION_WARNING = 0.9  # above this share of capacity a CSM gets a warning before they are over


@dataclass(frozen=True)
class CoveredAccount:
    account_id: str
    tier: str | None
    arr: float
    named_csm: str | None = None


@dataclass(frozen=True)
class CoverageTarget:
    """The healthy range of accounts per CSM in a tier, e.g. mid 75-150."""

    tier: str
    min_accounts_per_csm: int
    max_accounts_per_csm: int

    def __post_init__(self) -> None:
        if not 1 <= self.min_accounts_per_csm <= self.max_accounts_per_csm:
            raise ValueError(f"target for {self.tier!r} must have 1 <= min <= max, not "
                             f"{self.min_accounts_per_csm}-{self.max_accounts_per_csm}")


@dataclass(frozen=True)
class MemberShare:
    """What one member carries in one tier: named accounts, their share of the pool, time and cost."""

    member_id: str
    tier: str
    named_accounts: int
    pooled_accounts: float
    accounts: float
    arr: float
    fte: float
    cost: float


@dataclass(frozen=True)
class MemberCoverage:
    member_id: str
    name: str
    role: str
    capacity: int | None
    accounts: float
    named_accounts: int
    arr: float
    utilisation: float | None
    cost: float
    shares: tuple[MemberShare, ...]
    warning: str | None


@dataclass(frozen=True)
class TierCoverage:
    tier: str
    accounts: int
    arr: float
    named_accounts: int
    named_arr: float
    pooled_accounts: int
    pooled_arr: float
    uncovered_accounts: int
    pool: tuple[str, ...]
    fte: float
    accounts_per_csm: float | None
    target_min: int | None
    target_max: int | None
    status: str
    sentence: str
    cost: float
    cost_per_account: float | None
    cost_per_1k_arr: float | None
    shares: tuple[MemberShare, ...]


@dataclass(frozen=True)
class CoverageTotals:
    accounts: int
    arr: float
    uncovered_accounts: int
    csms: int
    accounts_per_csm: float | None
    csm_cost: float
    other_cost: float
    total_cost: float
    cost_per_account: float | None
    cost_per_1k_arr: float | None


@dataclass(frozen=True)
class CoverageReport:
    members: tuple[MemberCoverage, ...]
    tiers: tuple[TierCoverage, ...]
    totals: CoverageTotals
    warnings: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        """Plain dicts and lists (JSON-able), in the report's sorted order."""
        plain = _plain(self)
        assert isinstance(plain, dict)  # a dataclass always becomes a dict
        return plain


def _plain(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None


def _tier_key(tier: str) -> tuple[bool, str]:
    return tier == NO_TIER, tier


# --------------------------------------------------------------------------------------------- counting


@dataclass
class _Book:
    """Running sums while accounts are dealt out."""

    named: dict[tuple[str, str], int]
    pooled: dict[tuple[str, str], float]
    arr: dict[tuple[str, str], float]
    uncovered: dict[str, int]
    warnings: list[str]


def _deal(accounts: list[CoveredAccount], team: Team) -> _Book:
    """Named accounts to their CSM, pooled ones shared equally by the tier's pool."""
    book = _Book(defaultdict(int), defaultdict(float), defaultdict(float), defaultdict(int), [])
    members = team.by_id
    gone: dict[str, int] = defaultdict(int)
    for account in accounts:
        tier = account.tier or NO_TIER
        if account.named_csm and account.named_csm in members:
            book.named[(account.named_csm, tier)] += 1
            book.arr[(account.named_csm, tier)] += account.arr
            continue
        if account.named_csm:
            gone[account.named_csm] += 1
        pool = team.pool(tier) if account.tier else []
        if not pool:
            book.uncovered[tier] += 1
            continue
        for member in pool:
            book.pooled[(member.member_id, tier)] += 1 / len(pool)
            book.arr[(member.member_id, tier)] += account.arr / len(pool)
    book.warnings.extend(f"named CSM {member_id} is not on the team: their {n} account(s) fall back to the tier's pool"
                         for member_id, n in sorted(gone.items()))
    return book


def _served(member: Member, book: _Book) -> list[str]:
    """The tiers a CSM's time is split over: the tiers they list plus those of their named accounts."""
    named_tiers = {tier for (member_id, tier) in book.named if member_id == member.member_id}
    return sorted(set(member.tiers) | named_tiers, key=_tier_key) if member.role == "csm" else []


def _shares(member: Member, book: _Book, cost: float) -> tuple[MemberShare, ...]:
    served = _served(member, book)
    carried = {tier for (member_id, tier) in book.arr if member_id == member.member_id}
    result = []
    for tier in sorted(set(served) | carried, key=_tier_key):
        key = (member.member_id, tier)
        fte = 1 / len(served) if tier in served else 0.0
        named, pooled = book.named.get(key, 0), book.pooled.get(key, 0.0)
        result.append(MemberShare(member.member_id, tier, named, pooled, named + pooled, book.arr.get(key, 0.0),
                                  fte, cost * fte))
    return tuple(result)


def _capacity_warning(member: Member, accounts: float) -> tuple[float | None, str | None]:
    """Utilisation (accounts / capacity) and a warning when above 90% or over capacity."""
    if member.capacity is None:
        return None, None
    if member.capacity == 0:
        return None, (f"{member.label} has capacity 0 but carries {accounts:.1f} accounts" if accounts else None)
    utilisation = accounts / member.capacity
    if accounts > member.capacity:
        return utilisation, (f"{member.label} is over capacity: {accounts:.1f} accounts for a capacity of "
                             f"{member.capacity} ({utilisation:.0%})")
    if utilisation > UTILISATION_WARNING:
        return utilisation, (f"{member.label} is at {utilisation:.0%} of capacity ({accounts:.1f} of "
                             f"{member.capacity} accounts)")
    return utilisation, None


def _member_rows(team: Team, book: _Book, cost_per_role: Mapping[str, float]) -> list[MemberCoverage]:
    """A row per CSM and per other member who owns named accounts, by member_id."""
    owners = {member_id for (member_id, _tier) in book.named}
    rows = []
    for member in sorted(team.members, key=lambda m: m.member_id):
        if member.role != "csm" and member.member_id not in owners:
            continue
        cost = float(cost_per_role.get("csm", 0.0)) if member.role == "csm" else 0.0
        shares = _shares(member, book, cost)
        accounts = sum((s.accounts for s in shares), 0.0)
        utilisation, warning = _capacity_warning(member, accounts)
        if member.role == "csm" and not any(s.fte for s in shares):
            book.warnings.append(f"{member.label} covers no tier and owns no named account: their cost counts "
                                 "in the totals but in no tier")
        arr = sum((s.arr for s in shares), 0.0)
        rows.append(MemberCoverage(member.member_id, member.name, member.role, member.capacity, accounts,
                                   sum(s.named_accounts for s in shares), arr, utilisation, cost, shares, warning))
    return rows


# --------------------------------------------------------------------------------------------- tiers


def _status(tier: str, accounts: int, fte: float, target: CoverageTarget | None) -> tuple[str, str]:
    """The tier's coverage status and a sentence saying what it means."""
    if not fte:
        return "no CSM", f"no CSM covers tier {tier!r} ({accounts} accounts)"
    ratio = accounts / fte
    if target is None:
        return "no target", f"{ratio:.1f} accounts per CSM; tier {tier!r} has no coverage target"
    low, high = target.min_accounts_per_csm, target.max_accounts_per_csm
    if ratio > high:
        return "under-covered", (f"{ratio:.1f} accounts per CSM is above the target of {low}-{high}: under-covered; "
                                 f"about {accounts / high - fte:.1f} more CSM FTE would bring it to {high}")
    if ratio < low:
        return "over-covered", (f"{ratio:.1f} accounts per CSM is below the target of {low}-{high}: over-covered; "
                                f"the accounts need about {accounts / low:.1f} CSM FTE and get {fte:.1f}")
    return "within target", f"{ratio:.1f} accounts per CSM is within the target of {low}-{high}"


def _tier_row(tier: str, accounts: list[CoveredAccount], shares: list[MemberShare], team: Team, *,
              book: _Book, target: CoverageTarget | None) -> TierCoverage:
    mine = [a for a in accounts if (a.tier or NO_TIER) == tier]
    members = team.by_id
    named = [a for a in mine if a.named_csm and a.named_csm in members]
    named_ids = {a.account_id for a in named}
    pooled = [a for a in mine if a.account_id not in named_ids]
    arr = sum((a.arr for a in mine), 0.0)
    fte = sum((s.fte for s in shares), 0.0)
    cost = sum((s.cost for s in shares), 0.0)
    status, sentence = _status(tier, len(mine), fte, target)
    uncovered = book.uncovered.get(tier, 0)
    if uncovered:
        book.warnings.append(f"tier {tier!r}: {uncovered} account(s) have no named CSM and no CSM covering the tier")
    return TierCoverage(
        tier=tier, accounts=len(mine), arr=arr, named_accounts=len(named), named_arr=sum((a.arr for a in named), 0.0),
        pooled_accounts=len(pooled), pooled_arr=sum((a.arr for a in pooled), 0.0), uncovered_accounts=uncovered,
        pool=tuple(m.member_id for m in (team.pool(tier) if tier != NO_TIER else [])), fte=fte,
        accounts_per_csm=_ratio(len(mine), fte),
        target_min=target.min_accounts_per_csm if target else None,
        target_max=target.max_accounts_per_csm if target else None,
        status=status, sentence=sentence, cost=cost, cost_per_account=_ratio(cost, len(mine)),
        cost_per_1k_arr=_ratio(cost, arr / 1000), shares=tuple(sorted(shares, key=lambda s: s.member_id)))


def _totals(accounts: list[CoveredAccount], team: Team, members: list[MemberCoverage], book: _Book,
            cost_per_role: Mapping[str, float]) -> CoverageTotals:
    arr = sum((a.arr for a in accounts), 0.0)
    csms = sum(1 for m in team.members if m.role == "csm")
    csm_cost = sum((m.cost for m in members if m.role == "csm"), 0.0)
    other_cost = sum((float(cost_per_role.get(m.role, 0.0)) for m in team.members if m.role != "csm"), 0.0)
    total = csm_cost + other_cost
    return CoverageTotals(len(accounts), arr, sum(book.uncovered.values()), csms, _ratio(len(accounts), csms),
                          csm_cost, other_cost, total, _ratio(total, len(accounts)), _ratio(total, arr / 1000))


def coverage_report(accounts: Iterable[CoveredAccount], team: Team, targets: Iterable[CoverageTarget],
                    cost_per_role: Mapping[str, float]) -> CoverageReport:
    """Per-CSM load and utilisation, per-tier ratio against target with cost, totals and warnings."""
    rows = sorted(accounts, key=lambda a: a.account_id)
    by_tier: dict[str, CoverageTarget] = {}
    for target in targets:
        if target.tier in by_tier:
            raise ValueError(f"two coverage targets for tier {target.tier!r}")
        by_tier[target.tier] = target
    book = _deal(rows, team)
    # Only the roles that carry accounts are worth a warning; ops and admin staff often have no loaded cost set.
    roles = {m.role for m in team.members} & {"csm", "lead"}
    book.warnings.extend(f"no loaded cost for role {role!r}: it counts as 0 in costs"
                         for role in sorted(roles) if role not in cost_per_role)
    members = _member_rows(team, book, cost_per_role)
    shares: dict[str, list[MemberShare]] = defaultdict(list)
    for row in members:
        for share in row.shares:
            shares[share.tier].append(share)
    tier_names = {a.tier or NO_TIER for a in rows} | {t for m in team.csms() for t in m.tiers} | set(shares)
    tiers = [_tier_row(tier, rows, shares[tier], team, book=book, target=by_tier.get(tier))
             for tier in sorted(tier_names, key=_tier_key)]
    totals = _totals(rows, team, members, book, cost_per_role)
    return CoverageReport(tuple(members), tuple(tiers), totals, tuple(book.warnings))
