"""Backtest statistics of a rule against churn: precision, recall, lead time, base rate, lift, CTA load.

The caller replays a rule over history and hands in its fires (one row per day and account it would have
fired). This module compares them with what happened, read from the subscription rows: when accounts
churned and when their terms came up for renewal. Everything here is pure (pyarrow and numpy, no I/O, no
clock) and vectorised, because a year of a rule over a large book is hundreds of thousands of fires.

Dates are handled as integer day numbers (days since 1970-01-01). Accounts are encoded as integer codes
shared by every table of one computation, and (account, day) pairs as one sortable integer key, so "the
next churn of this account after this fire" is a binary search, not a loop. docs/motion.md ("Backtest")
gives every formula.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from longtail.core.revenue import contract_terms

I64 = npt.NDArray[np.int64]
Mask = npt.NDArray[np.bool_]

EPOCH = date(1970, 1, 1)
DEFAULT_HORIZON_DAYS = 90
DAYS_PER_WEEK = 7.0
# Day numbers are shifted by _OFFSET so that they are positive, then packed below _STRIDE with the account
# code above: key = code * _STRIDE + day + _OFFSET. 2**20 days is ~2,900 years each side of 1970.
_OFFSET = 1 << 20
_STRIDE = 1 << 22
# An open-ended subscription never ends: a day number later than any real date.
_NO_END = 1 << 30

_DATES = pa.date32()


def _day_number(day: date) -> int:
    return (day - EPOCH).days


def _to_date(number: int) -> date:
    return EPOCH + timedelta(days=int(number))


def _day_numbers(column: pa.ChunkedArray | pa.Array, name: str, *, allow_null: bool = False) -> I64:
    """Day numbers of a date (or timestamp) column; nulls become _NO_END when allowed."""
    days = pc.cast(column, _DATES) if column.type != _DATES else column
    if not allow_null and days.null_count:
        raise ValueError(f"column {name} has {days.null_count} empty value(s); every row needs a date")
    numbers = pc.fill_null(pc.cast(days, pa.int32()), _NO_END) if days.null_count else pc.cast(days, pa.int32())
    return np.asarray(numbers.to_numpy(zero_copy_only=False), dtype=np.int64)


def _date_array(numbers: I64) -> pa.Array:
    return pa.array(numbers.astype(np.int32), type=pa.int32()).cast(_DATES)


def _require(table: pa.Table, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in table.column_names]
    if missing:
        raise ValueError(f"{what} needs the column(s) {', '.join(missing)}; it has {', '.join(table.column_names)}")


class _Accounts:
    """Integer codes for account ids, shared by every table of one computation."""

    def __init__(self, *columns: pa.ChunkedArray | pa.Array) -> None:
        chunks: list[pa.Array] = []
        for column in columns:
            parts = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
            chunks.extend(pc.cast(part, pa.string()) for part in parts)
        self.sizes = [len(c) for c in columns]
        joined = pa.concat_arrays(chunks) if chunks else pa.array([], pa.string())
        if joined.null_count:
            raise ValueError(f"{joined.null_count} row(s) have no account_id")
        encoded = joined.dictionary_encode()
        self.ids: pa.Array = encoded.dictionary
        self._codes = np.asarray(encoded.indices.to_numpy(zero_copy_only=False), dtype=np.int64)

    def codes(self, position: int) -> I64:
        """Codes of the `position`-th column given to the constructor."""
        begin = sum(self.sizes[:position])
        return self._codes[begin:begin + self.sizes[position]]

    def take(self, codes: I64) -> pa.Array:
        return self.ids.take(pa.array(codes, pa.int64()))


def _keys(codes: I64, days: I64) -> I64:
    return codes * _STRIDE + days + _OFFSET


def _sorted_unique(values: I64) -> I64:
    """Sorted distinct values (np.unique's hashing pass is several times slower than a sort here)."""
    ordered = np.sort(values)
    keep = np.ones(ordered.size, dtype=np.bool_)
    keep[1:] = ordered[1:] != ordered[:-1]
    return ordered[keep]


def _unkey(keys: I64) -> tuple[I64, I64]:
    return keys // _STRIDE, keys % _STRIDE - _OFFSET


def _next_within(queries: I64, targets: I64, horizon_days: int) -> tuple[Mask, I64]:
    """For each query key, whether the same account has a target in (day, day + horizon], and how far ahead.

    `targets` must be sorted and unique. The distance is only meaningful where the mask is true.
    """
    if targets.size == 0:
        return np.zeros(queries.size, dtype=np.bool_), np.zeros(queries.size, dtype=np.int64)
    at = np.searchsorted(targets, queries, side="right")
    nearest = targets[np.minimum(at, targets.size - 1)]
    ahead = nearest - queries
    same_account = nearest // _STRIDE == queries // _STRIDE
    found = (at < targets.size) & same_account & (ahead >= 1) & (ahead <= horizon_days)
    return found, ahead


def _merged_coverage(subs: pa.Table) -> tuple[_Accounts, I64, I64, I64]:
    """Each account's continuous coverage spells: (account codes, first day, exclusive end), sorted.

    Overlapping or touching subscriptions merge: the account is active without a break from the first
    start to the last end. Rows that cover no day (end on or before start) are dropped, since the
    account was never active under them.
    """
    _require(subs, ("account_id", "start_date", "end_date"), "the subscriptions table")
    accounts = _Accounts(subs["account_id"])
    code = accounts.codes(0)
    start = _day_numbers(subs["start_date"], "start_date")
    end = _day_numbers(subs["end_date"], "end_date", allow_null=True)
    keep = end > start
    code, start, end = code[keep], start[keep], end[keep]
    order = np.lexsort((start, code))
    code, start, end = code[order], start[order], end[order]
    if code.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return accounts, empty, empty, empty
    # Running latest end per account: shifting each account's ends into its own band keeps one global
    # cumulative maximum from leaking across accounts (codes are sorted ascending).
    band = code * (np.int64(_NO_END) * 4)
    covered_to = np.maximum.accumulate(end + band) - band
    new_spell = np.ones(code.size, dtype=np.bool_)
    new_spell[1:] = (code[1:] != code[:-1]) | (start[1:] > covered_to[:-1])
    firsts = np.flatnonzero(new_spell)
    lasts = np.append(firsts[1:] - 1, code.size - 1)
    return accounts, code[firsts], start[firsts], covered_to[lasts]


@dataclass(frozen=True)
class Outcomes:
    """What happened to each account, read from its subscriptions.

    `lapses` (account_id, lapse_day, return_day): every day an account stopped being active after being
    active (the exclusive end of a coverage spell, on or before `data_end`), and the first day it was
    active again (null if never). Whether a lapse is a churn depends on the re-activation window, so it
    is decided by `churns(reactivation_days)`.
    `renewals` (account_id, renewal_day): the end dates of the account's contract terms, past and future.
    `data_end`: the last day with data.
    """

    lapses: pa.Table
    renewals: pa.Table
    data_end: date

    def churns(self, reactivation_days: int = DEFAULT_HORIZON_DAYS) -> pa.Table:
        """(account_id, churn_day): lapses not followed by re-activation within `reactivation_days` days."""
        lapse = _day_numbers(self.lapses["lapse_day"], "lapse_day")
        back = _day_numbers(self.lapses["return_day"], "return_day", allow_null=True)
        final = back - lapse > reactivation_days
        table = self.lapses.filter(pa.array(final)).select(["account_id", "lapse_day"])
        return table.rename_columns(["account_id", "churn_day"])


def outcomes_from_subscriptions(subs: pa.Table, data_end: date) -> Outcomes:
    """Lapses and renewal days of every account in `subs` (account_id, start_date, end_date, ...).

    An end date after `data_end` is not a lapse yet: on `data_end` the account was still active. With
    `subscription_id` and `arr` columns, contiguous billing periods merge into contract terms
    (`longtail.core.revenue.contract_terms`) so that a monthly invoice is not mistaken for a renewal;
    without them every row is a term.
    """
    accounts, code, first, until = _merged_coverage(subs)
    lapsed = until <= _day_number(data_end)
    same_next = np.zeros(code.size, dtype=np.bool_)
    same_next[:-1] = code[1:] == code[:-1]
    next_first = np.append(first[1:], _NO_END)
    back = np.where(same_next, next_first, _NO_END)[lapsed]
    lapses = pa.table({
        "account_id": accounts.take(code[lapsed]),
        "lapse_day": _date_array(until[lapsed]),
        "return_day": pa.array(back.astype(np.int32), type=pa.int32(), mask=back == _NO_END).cast(_DATES),
    })
    return Outcomes(lapses=lapses, renewals=_renewal_days(subs), data_end=data_end)


def _renewal_days(subs: pa.Table) -> pa.Table:
    """(account_id, renewal_day), one row per account and day on which one of its terms ends."""
    if {"subscription_id", "arr"} <= set(subs.column_names):
        terms = contract_terms(subs.to_pylist())
        rows = [(t.account_id, t.end) for t in terms if t.end is not None]
        table = pa.table({"account_id": pa.array([r[0] for r in rows], pa.string()),
                          "renewal_day": pa.array([r[1] for r in rows], _DATES)})
    else:
        ends = subs.select(["account_id", "end_date"]).filter(pc.is_valid(subs["end_date"]))
        table = pa.table({"account_id": pc.cast(ends["account_id"], pa.string()),
                          "renewal_day": pc.cast(ends["end_date"], _DATES)})
    return table.group_by(["account_id", "renewal_day"]).aggregate([]).sort_by(
        [("account_id", "ascending"), ("renewal_day", "ascending")])


@dataclass(frozen=True)
class Population:
    """Accounts active on each evaluated day: `active` is pa.Table(day, account_id), one row per pair."""

    active: pa.Table


def population_from_subscriptions(subs: pa.Table, days: Sequence[date]) -> Population:
    """The accounts active on each of `days` (start_date <= day < end_date, or no end_date)."""
    accounts, code, first, until = _merged_coverage(subs)
    wanted = np.unique(np.asarray([_day_number(d) for d in days], dtype=np.int64))
    # Spells do not overlap, so each (account, day) pair comes from exactly one spell.
    lo = np.searchsorted(wanted, first, side="left")
    hi = np.searchsorted(wanted, until, side="left")
    counts = hi - lo
    total = int(counts.sum())
    step = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
    day_index = np.repeat(lo, counts) + step
    active = pa.table({
        "day": _date_array(wanted[day_index]),
        "account_id": accounts.take(np.repeat(code, counts)),
    })
    return Population(active=active)


@dataclass(frozen=True)
class RuleStats:
    """Backtest figures of one rule over [start, end] (docs/motion.md, "Backtest", defines each)."""

    start: date
    end: date
    horizon_days: int
    fires: int
    accounts: int
    censored_fires: int
    true_fires: int
    precision: float | None
    churns: int
    caught_churns: int
    recall: float | None
    lead_time_days: float | None
    renewal_lead_time_days: float | None
    base_rate_account_days: int
    censored_account_days: int
    base_rate: float | None
    lift: float | None
    csm_count: int
    weeks: float
    ctas_per_csm_week: float | None

    def as_dict(self) -> dict[str, Any]:
        """JSON-able figures (dates as ISO strings, missing ratios as None)."""
        out = asdict(self)
        out["start"], out["end"] = self.start.isoformat(), self.end.isoformat()
        return out


def _ratio(numerator: float, denominator: float) -> float | None:
    # A ratio over nothing is unknown, not zero: "0% precision" would claim the rule was wrong.
    return None if denominator == 0 else float(numerator) / float(denominator)


def _median(values: I64) -> float | None:
    return None if values.size == 0 else float(np.median(values))


def _window_keys(table: pa.Table, codes: I64, day_column: str, span: tuple[int, int]) -> I64:
    """Sorted unique (account, day) keys of `table` with the day in [span[0], span[1]]."""
    days = _day_numbers(table[day_column], day_column)
    first, last = span
    inside = (days >= first) & (days <= last)
    return _sorted_unique(_keys(codes[inside], days[inside]))


def rule_stats(fires: pa.Table, outcomes: Outcomes, population: Population, *,
               horizon_days: int = DEFAULT_HORIZON_DAYS, start: date, end: date, csm_count: int) -> RuleStats:
    """Precision, recall, lead times, base rate, lift and CTA load of `fires` (day, account_id) over [start, end].

    Only fires on days in [start, end] count, and one account fires at most once a day (duplicates are
    one CTA). A churn is a lapse with no re-activation within `horizon_days`. Fires and account-days
    whose horizon reaches past `outcomes.data_end` are censored out of precision and base rate.
    """
    if horizon_days < 1:
        raise ValueError(f"horizon_days must be at least 1, got {horizon_days}")
    if end < start:
        raise ValueError(f"the backtest must end on or after it starts: {start} to {end}")
    if csm_count < 0:
        raise ValueError(f"csm_count cannot be negative, got {csm_count}")
    _require(fires, ("day", "account_id"), "the fires table")
    _require(population.active, ("day", "account_id"), "the population table")
    churn_table = outcomes.churns(horizon_days)
    accounts = _Accounts(fires["account_id"], churn_table["account_id"], outcomes.renewals["account_id"],
                         population.active["account_id"])
    first, last, data_end = _day_number(start), _day_number(end), _day_number(outcomes.data_end)
    far = _NO_END - 1
    fire_keys = _window_keys(fires, accounts.codes(0), "day", (first, last))
    churn_keys = _window_keys(churn_table, accounts.codes(1), "churn_day", (-far, far))
    renewal_keys = _window_keys(outcomes.renewals, accounts.codes(2), "renewal_day", (-far, far))
    day_keys = _window_keys(population.active, accounts.codes(3), "day", (first, last))

    fire_codes, fire_days = _unkey(fire_keys)
    observed = fire_days + horizon_days <= data_end
    hit, _ = _next_within(fire_keys[observed], churn_keys, horizon_days)
    renewal_ahead, renewal_gap = _next_within(fire_keys, renewal_keys, horizon_days)

    in_window = churn_keys[_window_mask(churn_keys, first + 1, last)]
    caught, lead = _earliest_fire_before(in_window, fire_keys, horizon_days)

    _, account_days = _unkey(day_keys)
    day_observed = account_days + horizon_days <= data_end
    day_hit, _ = _next_within(day_keys[day_observed], churn_keys, horizon_days)

    precision = _ratio(int(hit.sum()), int(observed.sum()))
    base_rate = _ratio(int(day_hit.sum()), int(day_observed.sum()))
    weeks = (last - first + 1) / DAYS_PER_WEEK
    return RuleStats(
        start=start, end=end, horizon_days=horizon_days,
        fires=int(fire_keys.size), accounts=int(_sorted_unique(fire_codes).size),
        censored_fires=int((~observed).sum()), true_fires=int(hit.sum()), precision=precision,
        churns=int(in_window.size), caught_churns=int(caught.sum()), recall=_ratio(int(caught.sum()), in_window.size),
        lead_time_days=_median(lead[caught]), renewal_lead_time_days=_median(renewal_gap[renewal_ahead]),
        base_rate_account_days=int(day_observed.sum()), censored_account_days=int((~day_observed).sum()),
        base_rate=base_rate,
        lift=None if precision is None or base_rate is None else _ratio(precision, base_rate),
        csm_count=csm_count, weeks=weeks,
        ctas_per_csm_week=None if csm_count == 0 else fire_keys.size / csm_count / weeks,
    )


def _window_mask(keys: I64, first: int, last: int) -> Mask:
    _, days = _unkey(keys)
    return (days >= first) & (days <= last)


def _earliest_fire_before(churn_keys: I64, fire_keys: I64, horizon_days: int) -> tuple[Mask, I64]:
    """Whether each churn had a fire of its account in [churn - horizon, churn), and the earliest one's lead."""
    if fire_keys.size == 0:
        return np.zeros(churn_keys.size, dtype=np.bool_), np.zeros(churn_keys.size, dtype=np.int64)
    at = np.searchsorted(fire_keys, churn_keys - horizon_days, side="left")
    earliest = fire_keys[np.minimum(at, fire_keys.size - 1)]
    lead = churn_keys - earliest
    caught = (at < fire_keys.size) & (earliest // _STRIDE == churn_keys // _STRIDE) & (lead >= 1)
    return caught, lead


def band_entries(health: pa.Table, band: str) -> pa.Table:
    """(day, account_id) where an account is in `band` and was not on the previous evaluated day.

    The evaluated days are the distinct days of `health`. An account with no row on the previous day
    (new, or not scored) was not in the band. On the first day every account in the band counts as
    entering it: that is what switching the playbook on would do, so pass health from before the
    backtest start to leave that burst out of the window.
    """
    _require(health, ("day", "account_id", "band"), "the health table")
    in_band = health.filter(pc.equal(pc.cast(health["band"], pa.string()), band))
    all_days = _sorted_unique(_day_numbers(health["day"], "day"))
    accounts = _Accounts(in_band["account_id"])
    codes = accounts.codes(0)
    position = np.searchsorted(all_days, _day_numbers(in_band["day"], "day"))
    # Keys over day positions, not dates: "previous" is the previous evaluated day, whatever the gap.
    here = _sorted_unique(_keys(codes, position))
    # Sorted and distinct: the account was in the band the day before exactly when the previous key is key - 1.
    fresh = np.ones(here.size, dtype=np.bool_)
    fresh[1:] = here[1:] - 1 != here[:-1]
    entered = here[fresh]
    entered_codes, entered_positions = _unkey(entered)
    return pa.table({"day": _date_array(all_days[entered_positions]),
                     "account_id": accounts.take(entered_codes)})


def band_stats(health: pa.Table, band: str, outcomes: Outcomes, population: Population, *,
               horizon_days: int = DEFAULT_HORIZON_DAYS, start: date, end: date, csm_count: int) -> RuleStats:
    """`rule_stats` of "the account entered health band `band`" (see `band_entries`)."""
    return rule_stats(band_entries(health, band), outcomes, population, horizon_days=horizon_days,
                      start=start, end=end, csm_count=csm_count)


__all__ = [
    "DEFAULT_HORIZON_DAYS",
    "Outcomes",
    "Population",
    "RuleStats",
    "band_entries",
    "band_stats",
    "outcomes_from_subscriptions",
    "population_from_subscriptions",
    "rule_stats",
]
