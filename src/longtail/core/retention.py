"""Retention metrics over subscription rows, as Ibis expressions (no database driver here).

The definitions are those of chapter 2 of *Fighting Churn With Data* (Carl Gold), listings 2.1, 2.2, 2.4
to 2.8; docs/metrics.md gives every formula and says where longtail adds to them (GRR, the expansion and
contraction split, the renewals-due basis). An account is active on day d when one of its subscriptions
has start_date <= d and (end_date > d or no end_date): the end date is exclusive.

Dates are parameters; nothing here reads the clock. Money comes back as double precision.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import ibis
import ibis.expr.types as ir
import pyarrow as pa
from ibis import _

DAYS_PER_YEAR = 365.0
MONTHS_PER_YEAR = 12.0

SUBSCRIPTION_SCHEMA = ibis.schema(
    {"account_id": "string", "start_date": "date", "end_date": "date", "mrr": "float64"}
)

PERIOD_KEYS = ("period_start", "period_end", "days", "periods_per_year")

COUNT_COLUMNS = ("n_start", "n_end", "n_retained", "n_churned", "n_new")
MRR_COLUMNS = (
    "start_mrr", "end_mrr", "retained_mrr", "churned_mrr", "contraction_mrr", "expansion_mrr", "new_mrr",
)
RATE_COLUMNS = (
    "logo_churn_rate", "logo_retention_rate", "annualised_logo_churn_rate", "monthly_logo_churn_rate",
    "nrr", "net_mrr_churn_rate", "annualised_nrr", "grr", "mrr_churn_rate", "annualised_mrr_churn_rate",
)
RENEWAL_COLUMNS = (
    "renewals_due", "renewals_renewed", "renewals_churned", "renewal_rate", "renewal_churn_rate",
    "renewals_due_mrr", "renewals_churned_mrr", "renewal_mrr_churn_rate",
)
METRIC_COLUMNS = COUNT_COLUMNS + MRR_COLUMNS + RATE_COLUMNS + RENEWAL_COLUMNS


@dataclass(frozen=True)
class Period:
    """A measurement period [start, end) and how many of it make a year (for annualising)."""

    start: date
    end: date
    periods_per_year: float

    @property
    def days(self) -> int:
        return (self.end - self.start).days


def add_month(day: date) -> date:
    """One calendar month later, clamped to the month's last day (PostgreSQL's date + interval '1 month')."""
    year, month = (day.year + 1, 1) if day.month == 12 else (day.year, day.month + 1)
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _check_range(d1: date, d2: date) -> None:
    if d2 <= d1:
        raise ValueError(f"the period must end after it starts: {d1} to {d2}")


def span_period(d1: date, d2: date) -> Period:
    """One period [d1, d2), annualised by its length in days (listing 2.5)."""
    _check_range(d1, d2)
    return Period(d1, d2, DAYS_PER_YEAR / (d2 - d1).days)


def month_periods(d1: date, d2: date) -> list[Period]:
    """Consecutive one-month periods from d1, each start one month after the previous one (listings 2.6-2.8).

    Starts step cumulatively, as PostgreSQL's generate_series(d1, ..., interval '1 month') does, so a
    series from the 31st continues on the 28th/29th/30th. A last period cut short by d2 is annualised
    by its length in days instead of by 12.
    """
    _check_range(d1, d2)
    periods: list[Period] = []
    start = d1
    while start < d2:
        end = add_month(start)
        periods.append(Period(start, end, MONTHS_PER_YEAR) if end <= d2 else span_period(start, d2))
        start = end
    return periods


def subscriptions_table(rows: Iterable[Mapping[str, Any]]) -> ir.Table:
    """An Ibis table of subscription rows (account_id, start_date, end_date, mrr as double)."""
    data: dict[str, list[Any]] = {name: [] for name in SUBSCRIPTION_SCHEMA.names}
    for row in rows:
        data["account_id"].append(str(row["account_id"]))
        data["start_date"].append(row["start_date"])
        data["end_date"].append(row.get("end_date"))
        data["mrr"].append(None if row.get("mrr") is None else float(row["mrr"]))
    return ibis.memtable(pa.table(data, schema=SUBSCRIPTION_SCHEMA.to_pyarrow()))


def _clean_subscriptions(subs: ir.Table) -> ir.Table:
    # A missing MRR counts as zero: the account is still active (a free or unpriced plan).
    return subs.select(
        account_id=subs.account_id.cast("string"),
        start_date=subs.start_date.cast("date"),
        end_date=subs.end_date.cast("date"),
        mrr=subs.mrr.cast("float64").fill_null(0.0),
    )


def _active_on(subs: ir.Table, day: ir.DateValue) -> ir.BooleanValue:
    return (subs.start_date <= day) & (subs.end_date.isnull() | (subs.end_date > day))


def active_mrr(subs: ir.Table, day: date) -> ir.Table:
    """MRR per account active on `day` (account_id, mrr): the sum over the subscriptions covering it."""
    clean = _clean_subscriptions(subs)
    return clean.filter(_active_on(clean, ibis.literal(day, "date"))).group_by("account_id").aggregate(
        mrr=_.mrr.sum()
    )


def periods_table(periods: Sequence[Period]) -> ir.Table:
    schema = ibis.schema(
        {"period_start": "date", "period_end": "date", "days": "int64", "periods_per_year": "float64"}
    )
    data = {
        "period_start": [p.start for p in periods],
        "period_end": [p.end for p in periods],
        "days": [p.days for p in periods],
        "periods_per_year": [p.periods_per_year for p in periods],
    }
    return ibis.memtable(pa.table(data, schema=schema.to_pyarrow()))


_NULL_MRR = ibis.literal(None, "float64")


def _side(subs: ir.Table, periods: ir.Table, at_start: bool) -> ir.Table:
    """Accounts active at the start (or end) of each period, with their MRR on that day."""
    day = periods.period_start if at_start else periods.period_end
    joined = subs.join(periods, [subs.start_date <= day]).filter(
        lambda t: t.end_date.isnull() | (t.end_date > (t.period_start if at_start else t.period_end))
    )
    mrr = joined.group_by([*PERIOD_KEYS, "account_id"]).aggregate(mrr=_.mrr.sum())
    return mrr.select(
        *PERIOD_KEYS, "account_id",
        s=mrr.mrr if at_start else _NULL_MRR,
        e=_NULL_MRR if at_start else mrr.mrr,
        due=ibis.literal(0, "int8"),
        renewed=ibis.literal(0, "int8"),
        due_mrr=_NULL_MRR,
    )


def _renewals(subs: ir.Table, periods: ir.Table) -> ir.Table:
    """Accounts with a term ending in the period, whether they were covered again before its end.

    An account's renewal date is its last subscription end date in [start, end). It renewed when some
    subscription covers a day in [renewal date, period end): it started before the period end and does
    not end on or before the renewal date. Its due MRR is its MRR on the last covered day of the term.
    """
    ending = subs.join(periods, [subs.end_date >= periods.period_start, subs.end_date < periods.period_end])
    due = ending.group_by([*PERIOD_KEYS, "account_id"]).aggregate(due_date=_.end_date.max())
    other = subs.select(o_account=subs.account_id, o_start=subs.start_date, o_end=subs.end_date, o_mrr=subs.mrr)
    both = due.join(other, due.account_id == other.o_account)
    covers_after = (both.o_start < both.period_end) & (both.o_end.isnull() | (both.o_end > both.due_date))
    covers_last_day = (both.o_start < both.due_date) & (both.o_end.isnull() | (both.o_end >= both.due_date))
    per_account = both.group_by([*PERIOD_KEYS, "account_id"]).aggregate(
        # max over 0/1 rather than casting any(): PostgreSQL cannot cast boolean to smallint
        renewed=ibis.ifelse(covers_after, 1, 0).cast("int8").max(),
        due_mrr=both.o_mrr.sum(where=covers_last_day).fill_null(0.0),
    )
    return per_account.select(
        *PERIOD_KEYS, "account_id", s=_NULL_MRR, e=_NULL_MRR, due=ibis.literal(1, "int8"),
        renewed=per_account.renewed, due_mrr=per_account.due_mrr,
    )


def _placeholders(periods: ir.Table) -> ir.Table:
    """One empty row per period (no account), so that a period without any account still gets a row."""
    return periods.select(
        *PERIOD_KEYS, account_id=ibis.literal(None, "string"), s=_NULL_MRR, e=_NULL_MRR,
        due=ibis.literal(0, "int8"), renewed=ibis.literal(0, "int8"), due_mrr=_NULL_MRR,
    )


def _per_account(subs: ir.Table, periods: ir.Table, every_period: bool) -> ir.Table:
    """One row per period and account: MRR at start (s) and end (e), null when inactive; renewal flags."""
    clean = _clean_subscriptions(subs)
    parts = [_side(clean, periods, True), _side(clean, periods, False), _renewals(clean, periods)]
    sides = ibis.union(*parts, *([_placeholders(periods)] if every_period else []))
    return sides.group_by([*PERIOD_KEYS, "account_id"]).aggregate(
        s=_.s.max(), e=_.e.max(), due=_.due.max(), renewed=_.renewed.max(), due_mrr=_.due_mrr.max()
    )


def _with_group(per_account: ir.Table, accounts: ir.Table | None, by: str | None) -> ir.Table:
    if by is None:
        return per_account
    if accounts is None or by not in accounts.columns or "account_id" not in accounts.columns:
        raise ValueError(f"grouping by {by!r} needs an accounts table with account_id and {by!r}")
    # min() keeps one value per account portably (PostgreSQL has no FIRST()); keys are unique anyway
    keyed = accounts.select(g_account=accounts.account_id.cast("string"), _value=accounts[by])
    groups = keyed.group_by("g_account").aggregate(**{by: keyed._value.min()})
    joined = per_account.left_join(groups, per_account.account_id == groups.g_account)
    return joined.drop("g_account")


def _sums(t: ir.Table) -> dict[str, ir.Value]:
    s, e = t.s, t.e
    retained = s.notnull() & e.notnull()
    churned = s.notnull() & e.isnull()
    not_renewed = (t.due == 1) & (t.renewed == 0)
    return {
        "n_start": s.count(),
        "n_end": e.count(),
        "n_retained": retained.sum(),
        "n_churned": churned.sum(),
        "n_new": (s.isnull() & e.notnull()).sum(),
        "start_mrr": s.sum().fill_null(0.0),
        "end_mrr": e.sum().fill_null(0.0),
        "retained_mrr": e.sum(where=retained).fill_null(0.0),
        "churned_mrr": s.sum(where=churned).fill_null(0.0),
        "contraction_mrr": (s - e).sum(where=retained & (e < s)).fill_null(0.0),
        "expansion_mrr": (e - s).sum(where=retained & (e > s)).fill_null(0.0),
        "new_mrr": e.sum(where=s.isnull()).fill_null(0.0),
        "capped_mrr": ibis.least(s, e).sum(where=retained).fill_null(0.0),
        "renewals_due": t.due.cast("int64").sum(),
        "renewals_renewed": (t.renewed == 1).sum(),
        "renewals_churned": not_renewed.sum(),
        "renewals_due_mrr": t.due_mrr.sum().fill_null(0.0),
        "renewals_churned_mrr": t.due_mrr.sum(where=not_renewed).fill_null(0.0),
    }


def _ratio(num: ir.NumericValue, den: ir.NumericValue) -> ir.FloatingValue:
    # An empty denominator gives null, not an error or infinity: nothing to measure.
    return ibis.ifelse(den == 0, ibis.literal(None, "float64"), num.cast("float64") / den.cast("float64"))


def _rates(t: ir.Table) -> ir.Table:
    churn = _ratio(t.n_churned, t.n_start)
    nrr = _ratio(t.retained_mrr, t.start_mrr)
    mrr_churn = _ratio(t.churned_mrr + t.contraction_mrr, t.start_mrr)
    ppy = t.periods_per_year
    return t.mutate(
        logo_churn_rate=churn,
        logo_retention_rate=1.0 - churn,
        annualised_logo_churn_rate=1.0 - (1.0 - churn) ** ppy,
        monthly_logo_churn_rate=1.0 - (1.0 - churn) ** (ppy / MONTHS_PER_YEAR),
        nrr=nrr,
        net_mrr_churn_rate=1.0 - nrr,
        annualised_nrr=nrr**ppy,
        grr=_ratio(t.capped_mrr, t.start_mrr),
        mrr_churn_rate=mrr_churn,
        annualised_mrr_churn_rate=1.0 - (1.0 - mrr_churn) ** ppy,
        renewal_rate=_ratio(t.renewals_renewed, t.renewals_due),
        renewal_churn_rate=_ratio(t.renewals_churned, t.renewals_due),
        renewal_mrr_churn_rate=_ratio(t.renewals_churned_mrr, t.renewals_due_mrr),
    )


def retention_over(
    subs: ir.Table, periods: Sequence[Period], accounts: ir.Table | None = None, by: str | None = None
) -> ir.Table:
    """The metrics of every period (and group), one row each, ordered by period then group.

    Without `by` every period has a row, even an empty one; with `by`, a group appears in a period when
    one of its accounts is active at the start or end or has a renewal due.
    """
    if not periods:
        raise ValueError("no periods to measure")
    per_account = _with_group(_per_account(subs, periods_table(periods), by is None), accounts, by)
    keys = [*PERIOD_KEYS, *([by] if by else [])]
    totals = per_account.group_by(keys).aggregate(**_sums(per_account))
    result = _rates(totals)
    columns = ["period_start", "period_end", *([by] if by else []), "days", *METRIC_COLUMNS]
    return result.select(*columns).order_by(["period_start", *([by] if by else [])])


def retention(
    subs: ir.Table, d1: date, d2: date, accounts: ir.Table | None = None, by: str | None = None
) -> ir.Table:
    """Retention over [d1, d2): one row, or one per value of `by` (a column of `accounts`)."""
    return retention_over(subs, [span_period(d1, d2)], accounts, by)


def monthly_retention(
    subs: ir.Table, d1: date, d2: date, accounts: ir.Table | None = None, by: str | None = None
) -> ir.Table:
    """Retention in consecutive one-month periods from d1 until d2 (see month_periods)."""
    return retention_over(subs, month_periods(d1, d2), accounts, by)

