"""Hand-built cases for every backtest figure: each expected value is worked out in the comment beside it."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date

import pyarrow as pa
import pytest

from longtail.core.motion.backtest import (
    Outcomes,
    Population,
    RuleStats,
    band_entries,
    band_stats,
    outcomes_from_subscriptions,
    population_from_subscriptions,
    rule_stats,
)
from tests.motion_backtest.helpers import day, fires, health, subs

DATA_END = day(365)  # 2024-12-31
H = 90


def stats(fire_rows: Sequence[tuple[str, int]], sub_rows: Sequence[tuple[str, int, int | None]], *,
          start: int = 0, end: int = 365, data_end: date = DATA_END, horizon: int = H,
          csm_count: int = 1, population_days: range | None = None) -> RuleStats:
    table = subs(sub_rows)
    outcomes = outcomes_from_subscriptions(table, data_end)
    days = [day(n) for n in (population_days if population_days is not None else range(start, end + 1))]
    population = population_from_subscriptions(table, days)
    return rule_stats(fires(fire_rows), outcomes, population, horizon_days=horizon,
                      start=day(start), end=day(end), csm_count=csm_count)


# Account "a" is active on days 0..149 and churns on day 150 (its end date, exclusive).
CHURNER = [("a", 0, 150)]


class TestOutcomes:
    def test_churn_day_is_the_first_day_not_active(self) -> None:
        outcomes = outcomes_from_subscriptions(subs(CHURNER), DATA_END)
        assert outcomes.churns(H).to_pylist() == [{"account_id": "a", "churn_day": day(150)}]

    def test_end_after_data_end_is_not_a_churn_yet(self) -> None:
        outcomes = outcomes_from_subscriptions(subs([("a", 0, 400)]), DATA_END)
        assert outcomes.churns(H).num_rows == 0
        assert outcomes.lapses.num_rows == 0

    def test_end_on_data_end_is_a_churn(self) -> None:
        # Ending on data_end means the account was not active on data_end, which we have seen.
        outcomes = outcomes_from_subscriptions(subs([("a", 0, 365)]), DATA_END)
        assert outcomes.churns(H)["churn_day"].to_pylist() == [DATA_END]

    def test_reactivation_within_horizon_is_not_a_churn(self) -> None:
        # Lapse on day 150, back on day 180: 30 days away.
        outcomes = outcomes_from_subscriptions(subs([("a", 0, 150), ("a", 180, None)]), DATA_END)
        assert outcomes.lapses.to_pylist() == [{"account_id": "a", "lapse_day": day(150), "return_day": day(180)}]
        assert outcomes.churns(90).num_rows == 0
        assert outcomes.churns(30).num_rows == 0  # back on the last day of the window still counts
        assert outcomes.churns(29)["churn_day"].to_pylist() == [day(150)]

    def test_reactivation_after_the_horizon_leaves_two_churns(self) -> None:
        rows = [("a", 0, 100), ("a", 250, 300)]
        assert outcomes_from_subscriptions(subs(rows), DATA_END).churns(H)["churn_day"].to_pylist() == [
            day(100), day(300)]

    def test_contiguous_and_overlapping_rows_are_one_spell(self) -> None:
        rows = [("a", 0, 30), ("a", 30, 60), ("a", 50, 200), ("a", 10, 20), ("b", 5, 5)]
        outcomes = outcomes_from_subscriptions(subs(rows), DATA_END)
        assert outcomes.churns(H).to_pylist() == [{"account_id": "a", "churn_day": day(200)}]

    def test_open_ended_subscription_covers_a_gap(self) -> None:
        outcomes = outcomes_from_subscriptions(subs([("a", 0, None), ("a", 100, 120)]), DATA_END)
        assert outcomes.lapses.num_rows == 0

    def test_renewal_days_are_term_ends_with_billing_periods_merged(self) -> None:
        table = pa.table({
            "subscription_id": ["s1", "s1", "s1", "s2"],
            "account_id": ["a", "a", "a", "b"],
            "plan": ["team", "team", "team", "team"],
            "start_date": pa.array([day(0), day(31), day(60), day(0)], pa.date32()),
            "end_date": pa.array([day(31), day(60), day(91), None], pa.date32()),
            "arr": [1200.0, 1200.0, 1500.0, 100.0],
            "quantity": [5, 5, 6, 1],
        })
        # s1's first two months are one term (same plan, ARR, seats); the price change starts a new term.
        renewals = outcomes_from_subscriptions(table, DATA_END).renewals.to_pylist()
        assert renewals == [{"account_id": "a", "renewal_day": day(60)}, {"account_id": "a", "renewal_day": day(91)}]

    def test_without_subscription_ids_every_row_is_a_term(self) -> None:
        renewals = outcomes_from_subscriptions(subs([("a", 0, 31), ("a", 31, 60)]), DATA_END).renewals
        assert renewals["renewal_day"].to_pylist() == [day(31), day(60)]

    def test_empty_subscriptions(self) -> None:
        outcomes = outcomes_from_subscriptions(subs([]), DATA_END)
        assert outcomes.lapses.num_rows == 0 and outcomes.renewals.num_rows == 0


class TestPopulation:
    def test_end_date_is_exclusive_and_start_inclusive(self) -> None:
        population = population_from_subscriptions(subs([("a", 10, 20), ("b", 0, None)]),
                                                    [day(9), day(10), day(19), day(20)])
        pairs = sorted((r["account_id"], r["day"]) for r in population.active.to_pylist())
        assert pairs == [("a", day(10)), ("a", day(19)), ("b", day(9)), ("b", day(10)), ("b", day(19)),
                         ("b", day(20))]

    def test_overlapping_rows_give_one_row_per_account_day(self) -> None:
        population = population_from_subscriptions(subs([("a", 0, 10), ("a", 5, 15)]), [day(n) for n in range(20)])
        assert population.active.num_rows == 15


class TestPrecisionAndRecall:
    def test_fire_one_day_before_churn(self) -> None:
        s = stats([("a", 149)], CHURNER)
        assert (s.fires, s.true_fires, s.precision, s.churns, s.caught_churns, s.recall, s.lead_time_days) == (
            1, 1, 1.0, 1, 1, 1.0, 1.0)

    def test_fire_exactly_one_horizon_before_churn_counts(self) -> None:
        s = stats([("a", 150 - H)], CHURNER)
        assert (s.precision, s.recall, s.lead_time_days) == (1.0, 1.0, float(H))

    def test_fire_one_day_past_the_horizon_does_not(self) -> None:
        s = stats([("a", 150 - H - 1)], CHURNER)
        assert (s.precision, s.recall, s.lead_time_days) == (0.0, 0.0, None)

    def test_fire_on_the_churn_day_is_too_late(self) -> None:
        s = stats([("a", 150)], CHURNER)
        assert (s.precision, s.recall) == (0.0, 0.0)

    def test_fire_on_another_account_is_not_a_hit(self) -> None:
        s = stats([("b", 149)], [*CHURNER, ("b", 0, None)])
        assert (s.precision, s.recall, s.accounts) == (0.0, 0.0, 1)

    def test_reactivated_account_is_not_a_churn(self) -> None:
        s = stats([("a", 140)], [("a", 0, 150), ("a", 170, None)])
        assert (s.precision, s.churns, s.recall) == (0.0, 0, None)

    def test_churn_on_start_day_is_outside_the_recall_window(self) -> None:
        # Recall counts churns in (start, end]: a churn on the start day belongs to the previous window.
        s = stats([("a", 149)], CHURNER, start=150, end=300)
        assert (s.churns, s.recall, s.fires) == (0, None, 0)
        s = stats([("a", 149)], CHURNER, start=149, end=300)
        assert (s.churns, s.recall) == (1, 1.0)

    def test_fires_outside_the_window_are_ignored(self) -> None:
        s = stats([("a", 100), ("a", 149)], CHURNER, start=120, end=300)
        assert (s.fires, s.lead_time_days) == (1, 1.0)

    def test_duplicate_fires_are_one_cta(self) -> None:
        s = stats([("a", 149), ("a", 149)], CHURNER)
        assert s.fires == 1

    def test_lead_time_uses_the_earliest_fire_in_the_window(self) -> None:
        # Fires 120 (outside the 90-day window), 50 and 5 days before the churn on day 150.
        s = stats([("a", 30), ("a", 100), ("a", 145)], CHURNER)
        assert (s.lead_time_days, s.caught_churns) == (50.0, 1)
        assert s.true_fires == 2
        assert s.precision == pytest.approx(2 / 3)

    def test_median_lead_time_over_caught_churns(self) -> None:
        rows = [("a", 0, 100), ("b", 0, 100), ("c", 0, 100), ("d", 0, 100)]
        odd = stats([("a", 90), ("b", 80), ("c", 40)], rows)  # leads 10, 20, 60; d missed
        assert (odd.lead_time_days, odd.recall) == (20.0, 0.75)
        even = stats([("a", 90), ("b", 80), ("c", 40), ("d", 30)], rows)  # leads 10, 20, 60, 70
        assert even.lead_time_days == 40.0

    def test_recall_of_several_churns(self) -> None:
        rows = [("a", 0, 100), ("b", 0, 200), ("c", 0, 300), ("d", 0, None)]
        s = stats([("a", 95), ("c", 299), ("d", 10)], rows)
        assert (s.churns, s.caught_churns) == (3, 2)
        assert s.recall == pytest.approx(2 / 3)
        # The fire on day 299 looks past data_end (day 365): censored, so precision is 1 hit of 2.
        assert (s.true_fires, s.censored_fires, s.precision) == (1, 1, 0.5)


class TestCensoring:
    def test_fire_whose_horizon_passes_data_end_is_censored(self) -> None:
        # data_end is day 365: a fire on day 276 looks to day 366.
        s = stats([("a", 276)], [("a", 0, None)])
        assert (s.censored_fires, s.precision, s.fires) == (1, None, 1)

    def test_fire_whose_horizon_ends_on_data_end_is_not(self) -> None:
        s = stats([("a", 275)], [("a", 0, None)])
        assert (s.censored_fires, s.precision) == (0, 0.0)

    def test_censored_fire_still_counts_for_recall_and_load(self) -> None:
        s = stats([("a", 300)], [("a", 0, 310)])
        assert (s.censored_fires, s.precision, s.recall, s.fires) == (1, None, 1.0, 1)

    def test_censored_account_days_leave_the_base_rate(self) -> None:
        # One account active all year: days 0..275 are observed (276 of them), 276..365 censored (90).
        s = stats([], [("a", 0, None)])
        assert (s.base_rate_account_days, s.censored_account_days, s.base_rate) == (276, 90, 0.0)


class TestZeroDenominators:
    def test_no_fires_no_churns(self) -> None:
        s = stats([], [("a", 0, None)], csm_count=0)
        assert (s.precision, s.recall, s.lead_time_days, s.renewal_lead_time_days, s.lift,
                s.ctas_per_csm_week) == (None, None, None, None, None, None)
        assert s.base_rate == 0.0

    def test_empty_population_has_no_base_rate(self) -> None:
        s = stats([("a", 149)], CHURNER, population_days=range(0))
        assert (s.base_rate, s.lift, s.precision) == (None, None, 1.0)

    def test_zero_base_rate_gives_no_lift(self) -> None:
        # The only account-day in the population never churns, so base rate 0 and lift undefined.
        only_b = Population(active=pa.table({"day": pa.array([day(10)], pa.date32()), "account_id": ["b"]}))
        outcomes = outcomes_from_subscriptions(subs([*CHURNER, ("b", 0, None)]), DATA_END)
        result = rule_stats(fires([("a", 149)]), outcomes, only_b, start=day(0), end=day(365), csm_count=1)
        assert (result.base_rate, result.precision, result.lift) == (0.0, 1.0, None)


class TestBaseRateLiftAndLoad:
    def test_base_rate_and_lift(self) -> None:
        # Days 0..9, horizon 90. "a" churns on day 95: days 5..9 are within 90 days of it (5 of 10),
        # "b" never churns (0 of 10). Base rate 5/20. One fire on "a" on day 9: precision 1, lift 4.
        s = stats([("a", 9)], [("a", 0, 95), ("b", 0, None)], start=0, end=9)
        assert (s.base_rate_account_days, s.base_rate) == (20, 0.25)
        assert (s.precision, s.lift) == (1.0, 4.0)

    def test_ctas_per_csm_week(self) -> None:
        # 14 days = 2 weeks, 6 fires, 3 CSMs: 6 / 3 / 2 = 1 CTA per CSM per week.
        rows = [(f"x{i}", 0, None) for i in range(6)]
        s = stats([(f"x{i}", i) for i in range(6)], rows, start=0, end=13, csm_count=3)
        assert (s.weeks, s.ctas_per_csm_week) == (2.0, 1.0)

    def test_renewal_lead_time(self) -> None:
        # Terms end on day 100 and 200 (each row is a term). Fires on 70 (30 ahead), 150 (50 ahead),
        # 20 (80 ahead) and 5 (95 ahead: beyond the horizon, left out). Median of 30, 50, 80 = 50.
        s = stats([("a", 70), ("a", 150), ("a", 20), ("a", 5)], [("a", 0, 100), ("a", 100, 200), ("a", 200, None)])
        assert s.renewal_lead_time_days == 50.0

    def test_renewal_on_the_fire_day_is_not_ahead(self) -> None:
        s = stats([("a", 100)], [("a", 0, 100), ("a", 100, None)])
        assert s.renewal_lead_time_days is None

    def test_as_dict_is_json_with_every_key(self) -> None:
        out = stats([("a", 149)], CHURNER).as_dict()
        assert json.loads(json.dumps(out)) == out
        keys = {"fires", "accounts", "precision", "recall", "lead_time_days", "ctas_per_csm_week", "base_rate",
                "lift", "censored_fires", "renewal_lead_time_days"}
        assert keys <= out.keys()
        assert out["start"] == "2024-01-01"


class TestValidation:
    def test_bad_arguments(self) -> None:
        outcomes = Outcomes(lapses=outcomes_from_subscriptions(subs(CHURNER), DATA_END).lapses,
                            renewals=pa.table({"account_id": pa.array([], pa.string()),
                                               "renewal_day": pa.array([], pa.date32())}),
                            data_end=DATA_END)
        population = Population(active=pa.table({"day": pa.array([], pa.date32()),
                                                 "account_id": pa.array([], pa.string())}))
        f = fires([("a", 1)])
        with pytest.raises(ValueError, match="horizon_days"):
            rule_stats(f, outcomes, population, horizon_days=0, start=day(0), end=day(9), csm_count=1)
        with pytest.raises(ValueError, match="end on or after"):
            rule_stats(f, outcomes, population, start=day(9), end=day(0), csm_count=1)
        with pytest.raises(ValueError, match="csm_count"):
            rule_stats(f, outcomes, population, start=day(0), end=day(9), csm_count=-1)
        with pytest.raises(ValueError, match="account_id"):
            rule_stats(f.drop_columns(["account_id"]), outcomes, population, start=day(0), end=day(9), csm_count=1)

    def test_missing_start_date_is_an_error(self) -> None:
        table = subs(CHURNER).set_column(1, "start_date", pa.array([None], pa.date32()))
        with pytest.raises(ValueError, match="start_date"):
            outcomes_from_subscriptions(table, DATA_END)


class TestBands:
    def test_entries_are_edges_into_the_band(self) -> None:
        h = health([
            ("a", 0, "green"), ("a", 1, "red"), ("a", 2, "red"), ("a", 3, "green"), ("a", 4, "red"),
            ("b", 0, "red"), ("b", 1, "red"),  # red on the first day: entering when the playbook starts
            ("c", 2, "red"),  # no row the evaluated day before: new to the band
        ])
        pairs = sorted((r["account_id"], r["day"]) for r in band_entries(h, "red").to_pylist())
        assert pairs == [("a", day(1)), ("a", day(4)), ("b", day(0)), ("c", day(2))]

    def test_previous_means_previous_evaluated_day(self) -> None:
        # Scored weekly: red on day 0 and day 7 is staying red, not entering again.
        h = health([("a", 0, "red"), ("a", 7, "red"), ("b", 0, "green"), ("b", 7, "green"), ("a", 14, "red")])
        assert band_entries(h, "red")["day"].to_pylist() == [day(0)]

    def test_gap_in_an_accounts_rows_is_a_new_entry(self) -> None:
        h = health([("a", 0, "red"), ("b", 1, "green"), ("a", 2, "red")])
        assert band_entries(h, "red")["day"].to_pylist() == [day(0), day(2)]

    def test_band_stats_are_rule_stats_of_the_entries(self) -> None:
        h = health([("a", 140, "green"), ("a", 141, "red"), ("a", 142, "red"), ("b", 140, "red")])
        table = subs([*CHURNER, ("b", 0, None)])
        outcomes = outcomes_from_subscriptions(table, DATA_END)
        population = population_from_subscriptions(table, [day(n) for n in range(366)])
        s = band_stats(h, "red", outcomes, population, start=day(0), end=day(365), csm_count=1)
        # Entries: a on 141 (churns 9 days later), b on 140 (no churn).
        assert (s.fires, s.precision, s.recall, s.lead_time_days) == (2, 0.5, 1.0, 9.0)
