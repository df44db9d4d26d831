"""Time to value: how long new accounts take to reach their first value milestone, by signup cohort.

An account's *first value* is the first time any declared milestone event happened for it (the same
definition as the `days_to_first_value` feature). Accounts are grouped into cohorts by the calendar month
of their `created_at`. Everything is measured as of a date: a milestone after `as_of` has not happened yet,
so an account that reaches value later is counted as not reached (right-censored), never dropped.

Per cohort (and group when one is given):

* `accounts`: accounts created in the cohort month (and on or before `as_of`);
* `reached`: those with a first value on or before `as_of`; `reached_share` = reached / accounts;
* `median_days`, `p75_days`: days from creation to first value among those that reached it;
* `within_30d`, `within_90d`: the share reaching value within 30 (90) days of creation, among the accounts
  at least 30 (90) days old on `as_of` (younger ones have not had the chance; NULL when none qualify).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import ibis
import ibis.expr.types as ir

from longtail.core.features import DAY_S
from longtail.errors import UsageError

WINDOWS: tuple[int, ...] = (30, 90)


def first_value(events: ir.Table, milestones: tuple[str, ...]) -> ir.Table:
    """account_id, first_value_at: the first milestone event of each account that has one."""
    if not milestones:
        raise UsageError("time to value needs milestone events: declare `milestones` in motion/features.yml")
    hits = events.filter(events.event.isin(list(milestones)))
    return hits.group_by("account_id").aggregate(first_value_at=hits.ts.min())


def _midnight(day: date) -> ir.TimestampScalar:
    """The start of `day` in UTC, as the contract's timestamps are."""
    return ibis.timestamp(datetime.combine(day, time(0), tzinfo=UTC))


def _epoch(ts: ir.TimestampValue) -> ir.IntegerValue:
    return ts.epoch_seconds().cast("int64")


def time_to_value(accounts: ir.Table, firsts: ir.Table, d1: date, d2: date, *, as_of: date,
                  by: str | None = None) -> ir.Table:
    """Time to value of the accounts created in [d1, d2), by creation month (and `by`), measured on `as_of`.

    `accounts` has account_id, created_at (and the `by` column); `firsts` is `first_value`'s result.
    """
    if d2 <= d1:
        raise UsageError(f"--to ({d2}) must be after --from ({d1})")
    end = _midnight(as_of + timedelta(days=1))
    created = accounts.filter(accounts.created_at >= _midnight(d1), accounts.created_at < _midnight(d2),
                              accounts.created_at < end)
    joined = created.left_join(firsts, "account_id")
    reached_at = ibis.ifelse(joined.first_value_at < end, joined.first_value_at, ibis.null("timestamp"))
    age = (_epoch(end) - _epoch(joined.created_at)) // DAY_S
    days = (_epoch(reached_at) - _epoch(joined.created_at)) // DAY_S
    base = joined.select(
        cohort=joined.created_at.truncate("M").date(),
        group=joined[by].cast("string") if by else ibis.literal(None, "string"),
        # A milestone stamped before `created_at` (clock skew in the source) counts as day 0. The NULL is explicit:
        # DuckDB's greatest() skips NULLs, which would turn "not reached" into day 0.
        age=age, days=ibis.ifelse(reached_at.notnull(), ibis.greatest(days, ibis.literal(0, "int64")),
                                  ibis.null("int64")),
        reached=reached_at.notnull(),
    )
    aggs: dict[str, ir.Value] = {
        "accounts": base.count(),
        "reached": base.reached.sum().cast("int64"),
        "median_days": base.days.quantile(0.5),
        "p75_days": base.days.quantile(0.75),
    }
    for w in WINDOWS:
        eligible = base.age >= w
        aggs[f"_eligible_{w}"] = eligible.sum().cast("int64")
        aggs[f"_hit_{w}"] = (eligible & base.reached & (base.days <= w)).sum().cast("int64")
    out = base.group_by(["cohort", "group"]).aggregate(**aggs)
    share = {f"within_{w}d": ibis.ifelse(out[f"_eligible_{w}"] > 0,
                                         out[f"_hit_{w}"].cast("float64") / out[f"_eligible_{w}"], None)
             for w in WINDOWS}
    return out.select("cohort", "group", "accounts", "reached",
                      reached_share=out.reached.cast("float64") / out.accounts,
                      median_days=out.median_days.cast("float64"), p75_days=out.p75_days.cast("float64"),
                      **share).order_by(["cohort", "group"])
