"""Ground truth: on a simulated world, the backtest finds the churns the simulator decided, and its figures
for a rule built from the truth file equal the ones worked out from that file directly.

Day convention: the simulator records a churn or cancel decision under `day` t (truth/churns.parquet), and
the subscription row of that term gets end_date t. End dates are exclusive, so t is the first day the account
is not active: `day` == end_date == churn_day, and the last active day is t - 1.
"""

from __future__ import annotations

import statistics
from datetime import date, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from longtail.core.motion.backtest import (
    Outcomes,
    Population,
    outcomes_from_subscriptions,
    population_from_subscriptions,
    rule_stats,
)
from longtail.sim import SimConfig, generate

CONFIG = SimConfig(accounts=300, days=300, start=date(2025, 1, 1), seed=11)
DATA_END = CONFIG.end - timedelta(days=1)
HORIZON = 90


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[pa.Table, pa.Table]:
    out: Path = tmp_path_factory.mktemp("backtest") / "world"
    generate(CONFIG, out, "parquet")
    return pq.read_table(out / "subscriptions.parquet"), pq.read_table(out / "truth" / "churns.parquet")


@pytest.fixture(scope="module")
def outcomes(world: tuple[pa.Table, pa.Table]) -> Outcomes:
    return outcomes_from_subscriptions(world[0], DATA_END)


@pytest.fixture(scope="module")
def population(world: tuple[pa.Table, pa.Table]) -> Population:
    days = [CONFIG.start + timedelta(days=n) for n in range(CONFIG.days)]
    return population_from_subscriptions(world[0], days)


def true_churns(truth: pa.Table) -> list[tuple[str, date]]:
    assert set(truth["outcome"].to_pylist()) <= {"churn", "cancel"}
    return sorted((r["account_id"], r["day"]) for r in truth.select(["account_id", "day"]).to_pylist())


def test_outcomes_find_the_simulators_churns(world: tuple[pa.Table, pa.Table], outcomes: Outcomes) -> None:
    expected = true_churns(world[1])
    found = sorted((r["account_id"], r["churn_day"]) for r in outcomes.churns(HORIZON).to_pylist())
    assert len(expected) > 20  # a world with too few churns would prove little
    assert found == expected


def test_rule_figures_equal_the_truth(world: tuple[pa.Table, pa.Table], outcomes: Outcomes,
                                      population: Population) -> None:
    churns = true_churns(world[1])
    # The rule: 5 to 84 days before every other true churn (varied, so the median lead means something),
    # plus a fire on day 10 for every 10th account (mostly accounts that do not churn: the false positives).
    accounts = sorted(set(world[0]["account_id"].to_pylist()))
    shots = {(a, c - timedelta(days=5 + (i * 17) % 80)) for i, (a, c) in enumerate(churns[::2])}
    shots |= {(a, CONFIG.start + timedelta(days=10)) for a in accounts[::10]}
    table = pa.table({"day": pa.array([d for _, d in sorted(shots)], pa.date32()),
                      "account_id": [a for a, _ in sorted(shots)]})
    start, end = CONFIG.start, DATA_END
    s = rule_stats(table, outcomes, population, horizon_days=HORIZON, start=start, end=end, csm_count=4)

    # Independently, from the truth file alone.
    in_window = [(a, d) for a, d in shots if start <= d <= end]
    observed = [(a, d) for a, d in in_window if d + timedelta(days=HORIZON) <= DATA_END]
    hits = [(a, d) for a, d in observed
            if any(a == ca and d < c <= d + timedelta(days=HORIZON) for ca, c in churns)]
    counted = [(a, c) for a, c in churns if start < c <= end]
    leads = []
    for a, c in counted:
        before = [(c - d).days for fa, d in in_window if fa == a and c - timedelta(days=HORIZON) <= d < c]
        if before:
            leads.append(max(before))
    assert 0 < len(hits) < len(observed)  # both true and false fires, so precision is a real test
    assert s.fires == len(in_window)
    assert s.censored_fires == len(in_window) - len(observed)
    assert s.precision == len(hits) / len(observed)
    assert s.churns == len(counted)
    assert s.recall == len(leads) / len(counted)
    assert len(set(leads)) > 3
    assert s.lead_time_days == statistics.median(leads)
    assert s.ctas_per_csm_week == len(in_window) / 4 / (CONFIG.days / 7)
