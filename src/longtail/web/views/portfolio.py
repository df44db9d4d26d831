"""The portfolio dashboard: retention by month, health bands over time, the book by tier and segment,
coverage per CSM, and leading indicators (email engagement, journey and CTA completion) beside lagging ones.

Formulas are not re-implemented here: retention comes from `longtail.core.retention` (what `longtail metrics`
runs) and coverage from `longtail.core.motion.coverage` (what `longtail coverage` runs).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import ibis
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from sqlalchemy import Connection, func, select

from longtail.analytics.connect import ensure_snapshots
from longtail.analytics.coverage_run import covered_accounts
from longtail.analytics.health_store import day_file, stored_dates
from longtail.analytics.motion_source import workspace_motion
from longtail.core.motion.coverage import CoverageReport, CoverageTarget, coverage_report
from longtail.core.motion.routing import Team
from longtail.core.retention import add_month, monthly_retention
from longtail.settings import Workspace
from longtail.store import tables
from longtail.web.views._shared import day_start, engine_of
from longtail.web.views.account import history_days

BANDS = ("green", "yellow", "red")
LEADING_WINDOW_DAYS = 30  # recent enough to react to, long enough to hold a few hundred messages
CTA_WINDOW_DAYS = 90
NO_TIER = "(no tier)"


@dataclass(frozen=True)
class MonthRetention:
    start: date
    end: date
    accounts_at_start: int
    churned: int
    logo_churn_rate: float | None
    start_mrr: float
    end_mrr: float
    nrr: float | None
    grr: float | None


@dataclass(frozen=True)
class BandWeek:
    day: date
    counts: Mapping[str, int]  # band -> accounts


@dataclass(frozen=True)
class GroupRow:
    group: str
    accounts: int
    arr: float


@dataclass(frozen=True)
class Indicator:
    name: str
    value: float | None  # a rate in [0, 1], or None when nothing was measured
    numerator: int
    denominator: int
    sentence: str


@dataclass(frozen=True)
class PortfolioView:
    as_of: date
    months: tuple[MonthRetention, ...]
    bands: tuple[BandWeek, ...]
    by_tier: tuple[GroupRow, ...]
    by_segment: tuple[GroupRow, ...]
    coverage: CoverageReport | None
    leading: tuple[Indicator, ...]
    lagging: tuple[Indicator, ...]
    accounts: int
    arr: float


def portfolio_view(ws: Workspace, as_of: date, months: int = 12) -> PortfolioView:
    """The portfolio on `as_of`: the last `months` complete calendar months, bands weekly over the same span."""
    ensure_snapshots(ws)
    subs = pq.read_table(ws.tables_dir / "subscriptions.parquet", columns=["account_id", "start_date", "end_date",
                                                                         "mrr", "arr"])
    retention = monthly_rows(subs, as_of, months)
    arr = active_arr(subs, as_of)
    with engine_of(ws).connect() as conn:
        tiers = {r.account_id: r.tier for r in conn.execute(select(tables.tier_history.c.account_id,
                                                                   tables.tier_history.c.tier)
                                                            .where(tables.tier_history.c.left.is_(None)))}
        segments = _segment_members(conn)
        leading = _leading(conn, as_of)
        team = Team.from_rows([dict(r) for r in conn.execute(select(tables.team_members)).mappings()])
    by_tier = _groups({a: [tiers.get(a) or NO_TIER] for a in arr}, arr)
    by_segment = _groups({a: segments.get(a, []) for a in arr}, arr)
    span = (as_of - _months_back(as_of, months)).days
    return PortfolioView(
        as_of=as_of, months=retention, bands=band_weeks(ws, as_of, span), by_tier=by_tier, by_segment=by_segment,
        coverage=_coverage(ws, tiers, arr, team), leading=tuple(leading), lagging=tuple(_lagging(retention)),
        accounts=len(arr), arr=sum(arr.values()),
    )


def _months_back(as_of: date, months: int) -> date:
    first = date(as_of.year, as_of.month, 1)
    year, month = divmod(first.year * 12 + first.month - 1 - months, 12)
    return date(year, month + 1, 1)


def monthly_rows(subs: pa.Table, as_of: date, months: int) -> tuple[MonthRetention, ...]:
    """Retention of each of the `months` complete calendar months before `as_of`'s month (oldest first),
    computed by `monthly_retention` exactly as `longtail metrics --monthly` does."""
    end = date(as_of.year, as_of.month, 1)
    start = _months_back(as_of, months)
    if months < 1 or add_month(start) > end:
        return ()
    con = ibis.duckdb.connect()
    try:
        rows = con.to_pyarrow(monthly_retention(ibis.memtable(subs), start, end)).to_pylist()
    finally:
        con.disconnect()
    return tuple(MonthRetention(r["period_start"], r["period_end"], int(r["n_start"]), int(r["n_churned"]),
                                r["logo_churn_rate"], float(r["start_mrr"] or 0), float(r["end_mrr"] or 0),
                                r["nrr"], r["grr"]) for r in rows)


def active_arr(subs: pa.Table, as_of: date) -> dict[str, float]:
    """ARR per account over the subscriptions active on `as_of` (start <= day < end), as the features count it."""
    active = subs.filter(pc.and_(pc.less_equal(subs.column("start_date"), pa.scalar(as_of, pa.date32())),
                                 pc.or_kleene(pc.is_null(subs.column("end_date")),
                                              pc.greater(subs.column("end_date"), pa.scalar(as_of, pa.date32())))))
    summed = active.group_by("account_id").aggregate([("arr", "sum")])
    return {a: float(v or 0.0) for a, v in zip(summed.column("account_id").to_pylist(),
                                               summed.column("arr_sum").to_pylist(), strict=True)}


def band_weeks(ws: Workspace, as_of: date, days: int) -> tuple[BandWeek, ...]:
    """Accounts per health band on stored days about a week apart over `days`, oldest first (one column read
    per day)."""
    out = []
    for day in history_days(stored_dates(ws), as_of, days, 7):
        bands = pq.read_table(day_file(ws, day), columns=["band"]).column("band")
        counted = Counter({str(v["values"]): int(v["counts"]) for v in pc.value_counts(bands).to_pylist()})
        out.append(BandWeek(day, {b: counted.get(b, 0) for b in (*BANDS, *sorted(set(counted) - set(BANDS)))}))
    return tuple(out)


def _segment_members(conn: Connection) -> dict[str, list[str]]:
    t = tables.segment_membership
    out: dict[str, list[str]] = {}
    for account, segment in conn.execute(select(t.c.account_id, t.c.segment_id).where(t.c.left.is_(None))):
        out.setdefault(account, []).append(segment)
    return out


def _groups(groups: Mapping[str, list[str]], arr: Mapping[str, float]) -> tuple[GroupRow, ...]:
    """Accounts and ARR per group (an account in several segments counts in each), biggest ARR first."""
    accounts: Counter[str] = Counter()
    money: dict[str, float] = {}
    for account, names in groups.items():
        for name in names:
            accounts[name] += 1
            money[name] = money.get(name, 0.0) + arr.get(account, 0.0)
    return tuple(sorted((GroupRow(g, accounts[g], money[g]) for g in accounts), key=lambda r: (-r.arr, r.group)))


def _coverage(ws: Workspace, tiers: Mapping[str, str], arr: Mapping[str, float], team: Team) -> CoverageReport:
    """`longtail coverage`'s report for the customers on the day (accounts with an active subscription)."""
    motion = workspace_motion(ws)
    accounts = pq.read_table(ws.tables_dir / "accounts.parquet", columns=["account_id", "attributes"]).to_pylist()
    attribute = motion.team.routing.named_csm_attribute
    named = {r["account_id"]: _named(r["attributes"], attribute) for r in accounts}
    arr_table = pa.table({"account_id": pa.array(list(arr), pa.string()), "arr": pa.array(list(arr.values()),
                                                                                          pa.float64())})
    fields = pa.table({"account_id": pa.array(list(named), pa.string()),
                       "named_csm": pa.array(list(named.values()), pa.string())})
    covered, warnings = covered_accounts({a: t for a, t in tiers.items() if a in arr}, arr_table, fields)
    coverage = motion.team.coverage
    targets = [CoverageTarget(tier, low, high) for tier, (low, high) in sorted(coverage.targets.items())]
    report = coverage_report(covered, team, targets, coverage.loaded_cost)
    return CoverageReport(report.members, report.tiers, report.totals, (*warnings, *report.warnings))


def _named(attributes: Any, attribute: str) -> str | None:
    data = json.loads(attributes) if isinstance(attributes, str) else (attributes or {})
    value = data.get(attribute) if isinstance(data, dict) else None
    return str(value) if value else None


def _rate(name: str, num: int, den: int, what: str) -> Indicator:
    value = num / den if den else None
    sentence = f"{num:,} of {den:,} {what}" if den else f"no {what} yet"
    return Indicator(name, value, num, den, sentence)


def _leading(conn: Connection, as_of: date) -> list[Indicator]:
    """Email engagement over the last 30 days, journey completion and CTA completion over the last 90."""
    since, until = day_start(as_of - timedelta(days=LEADING_WINDOW_DAYS)), day_start(as_of + timedelta(days=1))
    o, ev = tables.outbox, tables.engagement_events
    sent_keys = select(o.c.id).where(o.c.channel == "email", o.c.status == "sent", o.c.sent_at >= since,
                                     o.c.sent_at < until)
    sent = int(conn.execute(select(func.count()).select_from(sent_keys.subquery())).scalar_one())

    def engaged(kind: str) -> int:
        query = select(func.count(func.distinct(ev.c.message_key))).where(ev.c.kind == kind,
                                                                         ev.c.message_key.in_(sent_keys))
        return int(conn.execute(query).scalar_one())

    e = tables.enrollments
    cta_since = as_of - timedelta(days=CTA_WINDOW_DAYS)
    journeys: dict[str, int] = {str(k): int(n) for k, n in conn.execute(select(e.c.status, func.count()).where(
        e.c.holdout.is_(False), e.c.entered_at >= day_start(cta_since), e.c.entered_at < until)
        .group_by(e.c.status))}
    c = tables.ctas
    ctas: dict[str, int] = {str(k): int(n) for k, n in conn.execute(select(c.c.status, func.count()).where(
        c.c.created_on >= cta_since, c.c.created_on <= as_of).group_by(c.c.status))}
    finished = int(journeys.get("completed", 0)) + int(journeys.get("exited", 0))
    closed = int(ctas.get("done", 0)) + int(ctas.get("cancelled", 0))
    return [
        _rate("email open rate", engaged("opened"), sent, f"emails sent in the last {LEADING_WINDOW_DAYS} days opened"),
        _rate("email click rate", engaged("clicked"), sent,
              f"emails sent in the last {LEADING_WINDOW_DAYS} days clicked"),
        _rate("journey completion", int(journeys.get("completed", 0)), finished,
              f"journeys entered in the last {CTA_WINDOW_DAYS} days and finished, completed (not exited)"),
        _rate("CTA completion", int(ctas.get("done", 0)), closed,
              f"CTAs created in the last {CTA_WINDOW_DAYS} days and closed, done (not cancelled)"),
    ]


def _lagging(months: tuple[MonthRetention, ...]) -> list[Indicator]:
    """The last complete month's NRR, GRR and logo churn (outcomes the leading indicators should predict)."""
    if not months:
        return []
    last = months[-1]
    label = f"{last.start:%b %Y}"

    def money(name: str, value: float | None) -> Indicator:
        return Indicator(name, value, 0, 0, f"{label}: MRR {last.start_mrr:,.0f} at start, {last.end_mrr:,.0f} at end")

    return [money("NRR", last.nrr), money("GRR", last.grr),
            Indicator("logo churn", last.logo_churn_rate, last.churned, last.accounts_at_start,
                      f"{label}: {last.churned:,} of {last.accounts_at_start:,} accounts churned")]
