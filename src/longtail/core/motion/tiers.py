"""Tiers by contract value (pooled / mid / named ...), with hysteresis, promotions and manual overrides.

The warehouse computes the inputs (`tier_inputs`: the metric and one boolean per promotion); `assign_tiers`
then decides every account at once with numpy/pyarrow, and says why in a human `reason` on every row.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

import ibis.expr.types as ir
import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from longtail.core.expressions import Condition, to_ibis
from longtail.errors import ConfigError

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
PROMOTED_PREFIX = "promoted_"
OUTPUT_SCHEMA = pa.schema([("account_id", pa.string()), ("tier", pa.string()), ("value_tier", pa.string()),
                           ("reason", pa.string()), ("changed", pa.bool_()), ("previous_tier", pa.string())])
# How a value-based tier was reached; the reason text is chosen by (case, tier).
_BAND, _UP, _DOWN, _STAY_BELOW, _STAY_ABOVE = range(5)


class TierError(ConfigError):
    """The tier policy or an override is invalid (unordered bands, unknown tier, bad hysteresis)."""


@dataclass(frozen=True)
class TierBand:
    """Accounts whose metric is >= `min_value` (and below the next band) belong to `tier`. The lowest band
    takes everything below the second band, so its `min_value` may be None."""

    tier: str
    min_value: float | None = None


@dataclass(frozen=True)
class Promotion:
    """When `condition` holds, the account moves up to at least `to_tier` (never down), because of `reason`."""

    condition: Condition
    to_tier: str
    reason: str


@dataclass(frozen=True)
class Override:
    """A person's decision: `account_id` is in `tier` until `expires` (exclusive; None = until removed)."""

    account_id: str
    tier: str
    reason: str
    expires: date | None = None

    def active(self, as_of: date) -> bool:
        return self.expires is None or self.expires > as_of


@dataclass(frozen=True)
class TierPolicy:
    """Bands in ascending order of `metric`, the hysteresis (percent of a boundary) an account must cross
    before it changes tier, and the promotions that lift accounts regardless of value."""

    metric: str = "arr"
    bands: tuple[TierBand, ...] = ()
    hysteresis_pct: float = 0.0
    promotions: tuple[Promotion, ...] = ()
    unit: str = "$"

    def __post_init__(self) -> None:
        if not self.bands:
            raise TierError("a tier policy needs at least one band")
        names = [b.tier for b in self.bands]
        if len(set(names)) != len(names):
            raise TierError(f"tier names must be unique, got {names}")
        mins = [b.min_value for b in self.bands[1:]]
        if any(m is None for m in mins):
            raise TierError("every band but the lowest needs a min value")
        floats = [float(m) for m in mins if m is not None]
        if any(b <= a for a, b in itertools.pairwise(floats)):
            raise TierError(f"band minimums must increase: {floats}")
        if not 0 <= self.hysteresis_pct < 100:
            raise TierError(f"hysteresis_pct must be a percentage in [0, 100), got {self.hysteresis_pct}")
        for promotion in self.promotions:
            self.index_of(promotion.to_tier, f"promotion {promotion.reason!r}")

    @property
    def tiers(self) -> tuple[str, ...]:
        return tuple(b.tier for b in self.bands)

    @property
    def boundaries(self) -> FloatArray:
        """The minimum of every band above the lowest, ascending."""
        return np.array([float(b.min_value or 0.0) for b in self.bands[1:]], dtype=np.float64)

    def shifted(self, sign: int) -> FloatArray:
        """Boundaries moved up (sign 1) or down (sign -1) by the hysteresis; computed as min * (100 ± pct) / 100
        and rounded to 1e-6 so 25,000 + 10% is exactly 27,500 (not 27,500.000000000004)."""
        return np.round(self.boundaries * (100.0 + sign * self.hysteresis_pct) / 100.0, 6)

    def index_of(self, tier: str, where: str) -> int:
        if tier not in self.tiers:
            raise TierError(f"{where}: unknown tier {tier!r}; tiers are {list(self.tiers)}")
        return self.tiers.index(tier)

    @property
    def label(self) -> str:
        return self.metric.upper() if self.metric in ("arr", "mrr") else self.metric


def tier_inputs(features: ir.Table, policy: TierPolicy, previous: ir.Table | None = None) -> ir.Table:
    """What `assign_tiers` needs, computed in the warehouse: account_id, `value` (the metric as float64) and
    one non-null boolean `promoted_<i>` per promotion (its condition's unknown policy applied).

    With `previous` (account_id, tier; at most one row per account) it is left-joined in the warehouse and the
    result also has `previous_tier` (null for accounts without one), which `assign_tiers_from` then uses; the
    rows may come back in any order."""
    promoted = {f"{PROMOTED_PREFIX}{i}": to_ibis(p.condition, features) for i, p in enumerate(policy.promotions)}
    if previous is None:
        return features.select(features.account_id, value=features[policy.metric].cast("float64"), **promoted)
    prior = previous.select(_prev_account=previous.account_id, previous_tier=previous.tier.cast("string"))
    joined = features.left_join(prior, features.account_id == prior._prev_account)
    return joined.select(features.account_id, value=features[policy.metric].cast("float64"), **promoted,
                         previous_tier=prior.previous_tier).order_by(features.account_id)


def assign_tiers_from(inputs: pa.Table, previous: Mapping[str, str] | pa.Table | None, overrides: Sequence[Override],
                      as_of: date, policy: TierPolicy) -> pa.Table:
    """`assign_tiers` over a materialised `tier_inputs` result. With `previous` None the previous tiers are the
    inputs' `previous_tier` column (`tier_inputs(..., previous=...)` joined them in the warehouse)."""
    promoted = [inputs.column(f"{PROMOTED_PREFIX}{i}") for i in range(len(policy.promotions))]
    if previous is None:
        if "previous_tier" not in inputs.column_names:
            raise TierError("no previous tiers: pass `previous`, or build the inputs with tier_inputs(previous=...)")
        previous = _array(inputs.column("previous_tier"))
    return assign_tiers(inputs.column("account_id"), inputs.column("value"), promoted, previous, overrides,
                        as_of=as_of, policy=policy)


def assign_tiers(account_ids: pa.Array | pa.ChunkedArray, values: pa.Array | pa.ChunkedArray,
                 promoted: Mapping[int, pa.Array | pa.ChunkedArray] | Sequence[pa.Array | pa.ChunkedArray],
                 previous: Mapping[str, str] | pa.Table | pa.Array, overrides: Sequence[Override], *, as_of: date,
                 policy: TierPolicy) -> pa.Table:
    """The tier of every account, with (account_id, tier, value_tier, reason, changed, previous_tier).

    Order of precedence: an active manual override; else the value tier (with hysteresis against the previous
    tier; a missing value keeps the previous tier, or the lowest without one), lifted by any promotion that
    holds. `previous` maps account -> tier (a dict, or a table of account_id, tier), or is an array of previous
    tier names aligned with `account_ids` (null = none); a previous tier no longer in the policy counts as none.
    `changed` is true when the tier differs from the previous one, including a first assignment.

    Every row's `reason` is a sentence. Rows whose tier changed because of their value quote the value
    ('ARR $31,200 is >= $27,500 (mid threshold $25,000 + 10% hysteresis)'); rows that keep their tier share one
    sentence per (case, tier) without it ('ARR is in the mid band ($25,000 to below $100,000)'), because
    formatting a million amounts nobody reads is most of the cost."""
    ids = _array(account_ids).cast(pa.string())
    n = len(ids)
    raw = _array(values).cast(pa.float64())
    if len(raw) != n:
        raise TierError(f"{len(raw)} values for {n} accounts")
    value = raw.to_numpy(zero_copy_only=False)
    missing = np.asarray(raw.is_null().to_numpy(zero_copy_only=False), dtype=np.bool_) | np.isnan(value)
    previous_tier = _previous(ids, previous)
    prev = _indices(previous_tier, policy)
    plain = np.searchsorted(policy.boundaries, value, side="right").astype(np.int64)
    base, case = _with_hysteresis(value, plain, prev, policy)
    base = np.where(missing, np.where(prev >= 0, prev, 0), base)
    tier, which = _promote(base, _promotion_masks(promoted, n, policy), policy)
    tier, chosen = _override(ids, tier, overrides, as_of=as_of, policy=policy)
    changed = tier != prev
    reason = _reasons(value, _Why(base, case, missing, prev, which, chosen, changed), overrides, policy)
    names = pa.array(policy.tiers, pa.string())
    final = names.take(pa.array(tier))
    value_tier = names.take(pa.array(plain.clip(0), mask=missing))
    return pa.table([ids, final, value_tier, reason, pa.array(changed), previous_tier], schema=OUTPUT_SCHEMA)


def _array(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values


def _previous(ids: pa.Array, previous: Mapping[str, str] | pa.Table | pa.Array) -> pa.Array:
    """Each account's previous tier name (null when it had none): given aligned, or looked up with a vectorised
    hash lookup (skipped when the previous accounts are already in the same order)."""
    if isinstance(previous, pa.Array | pa.ChunkedArray):
        aligned = _array(previous).cast(pa.string())
        if len(aligned) != len(ids):
            raise TierError(f"{len(aligned)} previous tiers for {len(ids)} accounts")
        return aligned
    if isinstance(previous, pa.Table):
        keys, tiers = _array(previous.column("account_id")), _array(previous.column("tier"))
    else:
        keys, tiers = pa.array(list(previous.keys()), pa.string()), pa.array(list(previous.values()), pa.string())
    keys, tiers = keys.cast(pa.string()), tiers.cast(pa.string())
    if len(keys) == len(ids) and pc.all(pc.equal(keys, ids)).as_py():
        return tiers
    return tiers.take(pc.index_in(ids, value_set=keys))


def _indices(names: pa.Array, policy: TierPolicy) -> IntArray:
    position = pc.index_in(names, value_set=pa.array(policy.tiers, pa.string()))
    return np.asarray(pc.fill_null(position, -1).to_numpy(zero_copy_only=False), dtype=np.int64)


def _with_hysteresis(value: FloatArray, plain: IntArray, prev: IntArray,
                     policy: TierPolicy) -> tuple[IntArray, IntArray]:
    """The value tier and how it was reached. With a previous tier an account moves up only past a boundary
    raised by the hysteresis, down only below a boundary lowered by it, and otherwise stays."""
    raised = np.searchsorted(policy.shifted(1), value, side="right").astype(np.int64)
    lowered = np.searchsorted(policy.shifted(-1), value, side="right").astype(np.int64)
    has_prev = prev >= 0
    up = has_prev & (raised > prev)
    down = has_prev & (lowered < prev)
    tier = np.where(up, raised, np.where(down, lowered, np.where(has_prev, prev, plain)))
    case = np.full(len(value), _BAND, dtype=np.int64)
    case[up] = _UP
    case[down] = _DOWN
    kept = has_prev & ~up & ~down
    case[kept & (plain > prev)] = _STAY_BELOW
    case[kept & (plain < prev)] = _STAY_ABOVE
    return tier, case


@dataclass(frozen=True)
class _Why:
    """Per row, what decided the tier: the value tier and its case, a missing value, the previous tier (-1 =
    none), the promotion that lifted it (-1 = none), the override that set it (-1 = none) and whether it changed."""

    base: IntArray
    case: IntArray
    missing: BoolArray
    prev: IntArray
    which: IntArray
    chosen: IntArray
    changed: BoolArray


def _reasons(value: FloatArray, why: _Why, overrides: Sequence[Override], policy: TierPolicy) -> pa.Array:
    """The reason of every row as one code into a short table of sentences (value cases with and without the
    amount, missing values, promotions, overrides), so no Python loop over accounts; the amount is formatted
    only for rows whose tier changed because of their value."""
    count, label = len(policy.tiers), policy.label
    suffixes = [_suffix(c, t, policy) for c in range(5) for t in range(count)]
    texts = [*suffixes, *(f"{label}{s}" for s in suffixes)]
    texts += [f"{label} is missing; keeps previous tier {t}" for t in policy.tiers]
    texts.append(f"{label} is missing and there is no previous tier; lowest tier {policy.tiers[0]}")
    texts += [f"promoted from {policy.tiers[b]} to {p.to_tier}: {p.reason}" for p in policy.promotions
              for b in range(count)]
    texts += [_override_text(o) for o in overrides]
    missing_at, promoted_at = 10 * count, 11 * count + 1
    overridden_at = promoted_at + len(policy.promotions) * count
    quoted = ~why.missing & (why.which < 0) & (why.chosen < 0) & why.changed
    code = why.case * count + why.base + np.where(quoted, 0, 5 * count)
    code = np.where(why.missing, missing_at + np.where(why.prev >= 0, why.prev, count), code)
    code = np.where(why.which >= 0, promoted_at + why.which * count + why.base, code)
    code = np.where(why.chosen >= 0, overridden_at + why.chosen, code)
    tails = pa.array(texts, pa.string()).take(pa.array(code))
    if not quoted.any():
        return tails
    rows = np.flatnonzero(quoted)
    slot = np.full(len(value), -1, dtype=np.int64)
    slot[rows] = np.arange(len(rows))
    quoted_heads = pc.binary_join_element_wise(f"{label} ", _amounts(value[rows], policy.unit), "")
    heads = quoted_heads.take(pa.array(slot, mask=slot < 0))
    return pc.binary_join_element_wise(heads, tails, "", null_handling="skip")


def _override_text(override: Override) -> str:
    until = override.expires.isoformat() if override.expires else "removed"
    return f"manual override: {override.reason} (until {until})"


def _suffix(case: int, tier: int, policy: TierPolicy) -> str:
    """The text after the value for one (case, tier); impossible pairs (no band above the top) get ''."""
    names, mins, count = policy.tiers, policy.boundaries, len(policy.tiers)
    pct = policy.hysteresis_pct
    if case == _BAND:
        return f" is in the {names[tier]} band ({_band_range(tier, policy)})"
    if case in (_UP, _STAY_ABOVE) and tier > 0:
        line = _amount(policy.shifted(1 if case == _UP else -1)[tier - 1], policy.unit)
        what = _threshold(names[tier], mins[tier - 1], pct if case == _UP else -pct, policy.unit)
        return f" is >= {line} ({what})" + ("" if case == _UP else f"; stays {names[tier]}")
    if case in (_DOWN, _STAY_BELOW) and tier < count - 1:
        line = _amount(policy.shifted(-1 if case == _DOWN else 1)[tier], policy.unit)
        what = _threshold(names[tier + 1], mins[tier], -pct if case == _DOWN else pct, policy.unit)
        return f" is < {line} ({what})" + ("" if case == _DOWN else f"; stays {names[tier]}")
    return ""


def _threshold(name: str, minimum: float, pct: float, unit: str) -> str:
    if pct == 0:
        return f"{name} threshold"
    return f"{name} threshold {_amount(minimum, unit)} {'+' if pct > 0 else '-'} {abs(pct):g}% hysteresis"


def _band_range(tier: int, policy: TierPolicy) -> str:
    mins, count = policy.boundaries, len(policy.tiers)
    if count == 1:
        return "the only band"
    if tier == 0:
        return f"below {_amount(mins[0], policy.unit)}"
    if tier == count - 1:
        return f"{_amount(mins[tier - 1], policy.unit)} or more"
    return f"{_amount(mins[tier - 1], policy.unit)} to below {_amount(mins[tier], policy.unit)}"


def _amount(value: float, unit: str) -> str:
    text = f"{abs(value):,.0f}" if float(value).is_integer() else f"{abs(value):,.2f}"
    return ("-" if value < 0 else "") + unit + text


def _amounts(value: FloatArray, unit: str) -> pa.Array:
    """`_amount` for a whole column with Arrow string kernels: thousands separators are added by reversing the
    digits, putting a comma after every third one and reversing back; cents only when there are some."""
    cents = np.rint(np.abs(np.nan_to_num(value)) * 100.0).astype(np.int64)
    whole = pc.cast(pa.array(cents // 100), pa.string())
    grouped = pc.utf8_reverse(pc.utf8_rtrim(pc.replace_substring_regex(pc.utf8_reverse(whole), r"(\d{3})", r"\1,"),
                                            characters=","))
    fraction = pc.utf8_lpad(pc.cast(pa.array(cents % 100), pa.string()), width=2, padding="0")
    decimals = pc.if_else(pa.array(cents % 100 != 0), pc.binary_join_element_wise(".", fraction, ""), "")
    sign = pc.if_else(pa.array(np.nan_to_num(value) < 0), "-", "")
    return pc.binary_join_element_wise(sign, unit, grouped, decimals, "")


def _promotion_masks(promoted: Mapping[int, pa.Array | pa.ChunkedArray] | Sequence[pa.Array | pa.ChunkedArray],
                     n: int, policy: TierPolicy) -> dict[int, BoolArray]:
    items = promoted.items() if isinstance(promoted, Mapping) else enumerate(promoted)
    masks: dict[int, BoolArray] = {}
    for index, array in items:
        if not 0 <= index < len(policy.promotions):
            raise TierError(f"promotion index {index} is not in the policy (it has {len(policy.promotions)})")
        flags = pc.fill_null(_array(array).cast(pa.bool_()), False)
        if len(flags) != n:
            raise TierError(f"promotion {index} has {len(flags)} flags for {n} accounts")
        masks[index] = np.asarray(flags.to_numpy(zero_copy_only=False), dtype=np.bool_)
    return masks


def _promote(base: IntArray, masks: Mapping[int, BoolArray], policy: TierPolicy) -> tuple[IntArray, IntArray]:
    """Lift accounts to each holding promotion's tier (never lower them). Returns the tiers and, per row, the
    promotion that set the final tier (-1 = none), which gives the reason."""
    tier = base.copy()
    which = np.full(len(base), -1, dtype=np.int64)
    for index in sorted(masks):
        target = policy.index_of(policy.promotions[index].to_tier, "promotion")
        lift = masks[index] & (target > tier)
        tier[lift] = target
        which[lift] = index
    return tier, which


def _override(ids: pa.Array, tier: IntArray, overrides: Sequence[Override], *, as_of: date,
              policy: TierPolicy) -> tuple[IntArray, IntArray]:
    """Active overrides win; when one account has several, the last in the sequence wins (the newest entry).
    Returns the tiers and, per row, the position in `overrides` of the one applied (-1 = none)."""
    active: dict[str, int] = {o.account_id: i for i, o in enumerate(overrides) if o.active(as_of)}
    chosen = np.full(len(tier), -1, dtype=np.int64)
    if not active:
        return tier, chosen
    picked = np.array(list(active.values()), dtype=np.int64)
    targets = np.array([policy.index_of(overrides[i].tier, f"override for account {overrides[i].account_id!r}")
                        for i in picked], dtype=np.int64)
    position = pc.index_in(ids, value_set=pa.array(list(active), pa.string()))
    where = np.asarray(pc.fill_null(position, -1).to_numpy(zero_copy_only=False), dtype=np.int64)
    hit = where >= 0
    out = tier.copy()
    out[hit] = targets[where[hit]]
    chosen[hit] = picked[where[hit]]
    return out, chosen
