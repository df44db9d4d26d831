"""The default world lands in the documented ranges (docs/simulator.md, Calibration).

Each range is the documented one widened by two standard errors of the sample
it is measured on, so a 4000-account world can check it without flaking across
model changes, while a real mis-calibration (e.g. a tier's churn off by a few
points) still fails.
"""

from __future__ import annotations

import math
from pathlib import Path

import duckdb
import numpy as np

from longtail.sim import Summary

CHURN_RANGES = {"pooled": (0.20, 0.35), "mid": (0.08, 0.20), "enterprise": (0.05, 0.10)}
MILESTONE_RANGES = {
    "first_integration_connected": (0.75, 0.95),
    "five_users_invited": (0.60, 0.90),
    "first_report_shared": (0.55, 0.85),
}


def _within(value: float, lo: float, hi: float, n: int) -> bool:
    se_lo = math.sqrt(lo * (1 - lo) / n)
    se_hi = math.sqrt(hi * (1 - hi) / n)
    return lo - 2 * se_lo <= value <= hi + 2 * se_hi


def _book_sizes(out: Path) -> dict[str, int]:
    rows = duckdb.sql(f"""select tier, count(*) from '{out}/truth/accounts.parquet'
                          where created_day < date '2025-01-01' group by tier""").fetchall()
    return {str(tier): int(n) for tier, n in rows}


def test_churn_by_tier_in_documented_ranges(mid_world: tuple[Summary, Path]) -> None:
    summary, out = mid_world
    sizes = _book_sizes(out)
    for tier, (lo, hi) in CHURN_RANGES.items():
        rate = summary.churn_by_tier[tier]
        assert _within(rate, lo, hi, sizes[tier]), f"{tier} churn {rate:.3f} outside [{lo}, {hi}]"
    # Smaller customers churn more: the ordering is part of the model, not noise.
    c = summary.churn_by_tier
    assert c["pooled"] > c["mid"] > c["enterprise"]


def test_nrr_and_grr_plausible(mid_world: tuple[Summary, Path]) -> None:
    summary, _ = mid_world
    assert 0.95 <= summary.nrr <= 1.10
    assert 0.80 <= summary.grr <= 0.95
    assert summary.grr < summary.nrr  # expansions exist


def test_activation_and_milestone_rates(mid_world: tuple[Summary, Path]) -> None:
    summary, out = mid_world
    rates = duckdb.sql(f"""
        with new as (select account_id, created_at from '{out}/accounts.parquet'
                     where created_at >= '2025-01-01' and created_at < '2025-10-01'),
             m as (select account_id, json_extract_string(properties, '$.milestone') ms, min(ts) ts
                   from '{out}/events.parquet' where event = 'onboarding_milestone' group by all)
        select ms, count(*) filter (where m.ts <= new.created_at + interval 90 day) as n,
               (select count(*) from new) as total
        from new join m using (account_id) group by ms""").fetchall()
    got = {ms: (n / total, total) for ms, n, total in rates}
    assert set(got) == set(MILESTONE_RANGES)
    for ms, (lo, hi) in MILESTONE_RANGES.items():
        rate, total = got[ms]
        assert _within(rate, lo, hi, total), f"{ms} {rate:.3f} outside [{lo}, {hi}]"
    assert 0.35 <= summary.activation_rate <= 0.65


def test_weekday_pattern(mid_world: tuple[Summary, Path]) -> None:
    _, out = mid_world
    per_day = dict(duckdb.sql(f"""
        select isodow(ts), count(*) / count(distinct ts::date) from '{out}/events.parquet'
        where event = 'login' group by 1""").fetchall())
    weekday = sum(per_day[d] for d in range(1, 6)) / 5
    weekend = (per_day[6] + per_day[7]) / 2
    assert 0.05 <= weekend / weekday <= 0.30
    assert per_day[5] < per_day[2] and per_day[5] < per_day[3]  # Friday is quieter


def test_usage_predicts_churn_but_does_not_give_it_away(mid_world: tuple[Summary, Path]) -> None:
    """Logins per contact in the 60 days before a decision: informative, far from perfect."""
    _, out = mid_world
    rows = duckdb.sql(f"""
        with d as (select account_id, day, outcome in ('churn', 'cancel') as lost
                   from '{out}/truth/renewals.parquet' where day >= date '2025-03-15'
                   qualify row_number() over (partition by account_id order by day) = 1),
             l as (select d.account_id, d.lost, count(e.ts) as logins from d
                   left join '{out}/events.parquet' e on e.account_id = d.account_id
                        and e.event = 'login' and e.ts >= d.day - interval 60 day and e.ts < d.day
                   group by all)
        select l.lost, l.logins / c.n from l join (
            select account_id, count(*) as n from '{out}/contacts.parquet' group by 1
        ) c using (account_id)""").fetchall()
    lost = np.array([r[0] for r in rows])
    score = -np.array([float(r[1]) for r in rows])  # fewer logins -> more risk
    ranks = score.argsort().argsort() + 1.0
    n1, n0 = lost.sum(), (~lost).sum()
    auc = (ranks[lost].sum() - n1 * (n1 + 1) / 2) / (n1 * n0)
    assert 0.55 <= auc <= 0.90, auc
