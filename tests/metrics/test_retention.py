"""Retention metrics on hand-computed cases, and invariants against a plain-Python reference."""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import ibis
import ibis.expr.types as ir
import pytest
from hypothesis import given
from hypothesis import strategies as st

from longtail.core.retention import (
    METRIC_COLUMNS,
    Period,
    active_mrr,
    add_month,
    month_periods,
    monthly_retention,
    retention,
    subscriptions_table,
)

Run = Callable[[ir.Table], list[dict[str, Any]]]
D1, D2 = date(2024, 1, 1), date(2024, 4, 1)


def sub(account: str, start: date, end: date | None, mrr: float) -> dict[str, Any]:
    return {"account_id": account, "start_date": start, "end_date": end, "mrr": mrr}


# Each account exercises one case; the comments give what it contributes over [2024-01-01, 2024-04-01).
CASES = [
    sub("A", date(2023, 6, 1), date(2024, 2, 15), 100),  # churns: active at d1 only
    sub("B", date(2023, 1, 1), date(2024, 3, 1), 200),  # expands 200 -> 250 on renewal
    sub("B", date(2024, 3, 1), None, 250),
    sub("C", date(2023, 1, 1), None, 300),  # contracts 350 -> 300: its add-on ends
    sub("C", date(2023, 5, 1), date(2024, 2, 1), 50),
    sub("D", date(2024, 2, 1), None, 80),  # new mid-period: not in any denominator
    sub("E", date(2023, 1, 1), date(2024, 1, 1), 70),  # ends on d1: exclusive end, never active in period
    sub("F", date(2023, 4, 1), date(2024, 4, 1), 60),  # ends on d2: active at d1, not at d2, so churned
    sub("G", date(2024, 4, 1), None, 40),  # starts on d2: new
    sub("H", date(2023, 1, 1), None, 10),  # two subscriptions, both all along
    sub("H", date(2023, 6, 1), None, 15),
    sub("I", date(2024, 1, 1), None, 30),  # starts on d1: active at d1
]
SEGMENTS = {"A": "smb", "B": "smb", "C": "smb", "D": "mid", "E": "mid", "F": "mid"}


def one(run: Run, expr: ir.Table) -> dict[str, Any]:
    rows = run(expr)
    assert len(rows) == 1
    return rows[0]


def test_hand_computed_period(run: Run) -> None:
    row = one(run, retention(subscriptions_table(CASES), D1, D2))
    assert (row["period_start"], row["period_end"], row["days"]) == (D1, D2, 91)
    counts = {k: row[k] for k in ("n_start", "n_end", "n_retained", "n_churned", "n_new")}
    assert counts == {"n_start": 6, "n_end": 6, "n_retained": 4, "n_churned": 2, "n_new": 2}
    money = {k: row[k] for k in ("start_mrr", "end_mrr", "retained_mrr", "churned_mrr", "contraction_mrr",
                                 "expansion_mrr", "new_mrr")}
    assert money == {"start_mrr": 765.0, "end_mrr": 725.0, "retained_mrr": 605.0, "churned_mrr": 160.0,
                     "contraction_mrr": 50.0, "expansion_mrr": 50.0, "new_mrr": 120.0}
    assert row["logo_churn_rate"] == pytest.approx(2 / 6, abs=1e-15)
    assert row["logo_retention_rate"] == pytest.approx(4 / 6, abs=1e-15)
    assert row["annualised_logo_churn_rate"] == pytest.approx(1 - (4 / 6) ** (365 / 91), abs=1e-12)
    assert row["monthly_logo_churn_rate"] == pytest.approx(1 - (4 / 6) ** (365 / 12 / 91), abs=1e-12)
    assert row["nrr"] == pytest.approx(605 / 765, abs=1e-15)
    assert row["net_mrr_churn_rate"] == pytest.approx(160 / 765, abs=1e-15)
    assert row["annualised_nrr"] == pytest.approx((605 / 765) ** (365 / 91), abs=1e-12)
    assert row["grr"] == pytest.approx(555 / 765, abs=1e-15)
    assert row["mrr_churn_rate"] == pytest.approx(210 / 765, abs=1e-15)
    assert row["annualised_mrr_churn_rate"] == pytest.approx(1 - (555 / 765) ** (365 / 91), abs=1e-12)


def test_hand_computed_renewals_due_basis(run: Run) -> None:
    # Terms ending in [d1, d2): A (02-15, gone), B (03-01, renewed), C's add-on (02-01, main plan goes on),
    # E (01-01, gone). F ends on d2, so its renewal belongs to the next period.
    row = one(run, retention(subscriptions_table(CASES), D1, D2))
    assert (row["renewals_due"], row["renewals_renewed"], row["renewals_churned"]) == (4, 2, 2)
    assert row["renewal_rate"] == 0.5 and row["renewal_churn_rate"] == 0.5
    # Due MRR is the MRR on the last covered day: A 100, B 200, C 350 (plan + add-on), E 70.
    assert row["renewals_due_mrr"] == 720.0 and row["renewals_churned_mrr"] == 170.0
    assert row["renewal_mrr_churn_rate"] == pytest.approx(170 / 720, abs=1e-15)


def test_grouped_by_segment(run: Run) -> None:
    accounts = ibis.memtable({"account_id": list("ABCDEFGHI"), "segment": [SEGMENTS.get(a) for a in "ABCDEFGHI"]})
    rows = {r["segment"]: r for r in run(retention(subscriptions_table(CASES), D1, D2, accounts, "segment"))}
    assert set(rows) == {"smb", "mid", None}
    smb = rows["smb"]
    assert (smb["n_start"], smb["n_churned"], smb["start_mrr"], smb["retained_mrr"]) == (3, 1, 650.0, 550.0)
    assert smb["nrr"] == pytest.approx(550 / 650) and smb["grr"] == pytest.approx(500 / 650)
    mid = rows["mid"]  # D new, E never active, F churned
    assert (mid["n_start"], mid["n_churned"], mid["n_new"], mid["renewals_due"]) == (1, 1, 1, 1)
    assert (rows[None]["n_start"], rows[None]["n_new"]) == (2, 1)
    for column in ("n_start", "n_churned", "start_mrr", "churned_mrr", "expansion_mrr", "renewals_due"):
        assert sum(r[column] for r in rows.values()) == one(run, retention(subscriptions_table(CASES), D1, D2))[
            column]


def test_monthly_periods_chain(run: Run) -> None:
    rows = run(monthly_retention(subscriptions_table(CASES), D1, D2))
    assert [(r["period_start"], r["period_end"]) for r in rows] == [
        (date(2024, 1, 1), date(2024, 2, 1)), (date(2024, 2, 1), date(2024, 3, 1)),
        (date(2024, 3, 1), date(2024, 4, 1)),
    ]
    for before, after in itertools.pairwise(rows):
        assert before["end_mrr"] == after["start_mrr"] and before["n_end"] == after["n_start"]
    # C's add-on ends on 02-01 (January contraction); A churns and B expands on 03-01 (February).
    feb = rows[1]
    assert (feb["n_start"], feb["n_churned"], feb["churned_mrr"], feb["expansion_mrr"]) == (7, 1, 100.0, 50.0)
    assert rows[0]["contraction_mrr"] == 50.0 and rows[2]["expansion_mrr"] == 0.0
    assert all(r["annualised_logo_churn_rate"] == pytest.approx(1 - (1 - r["logo_churn_rate"]) ** 12)
               for r in rows)


def test_month_periods_step_like_postgres() -> None:
    # generate_series('2020-01-31'::date, ..., interval '1 month') gives 01-31, 02-29, 03-29, ...
    assert [p.start for p in month_periods(date(2020, 1, 31), date(2020, 4, 29))] == [
        date(2020, 1, 31), date(2020, 2, 29), date(2020, 3, 29)]
    assert add_month(date(2021, 12, 31)) == date(2022, 1, 31)
    last = month_periods(date(2020, 1, 1), date(2020, 3, 15))[-1]
    assert last == Period(date(2020, 3, 1), date(2020, 3, 15), 365 / 14)


def test_empty_and_invalid(run: Run) -> None:
    row = one(run, retention(subscriptions_table([]), D1, D2))
    assert row["n_start"] == 0 and row["start_mrr"] == 0.0
    assert row["logo_churn_rate"] is None and row["nrr"] is None and row["grr"] is None
    assert len(run(monthly_retention(subscriptions_table([]), D1, D2))) == 3
    with pytest.raises(ValueError, match="must end after"):
        retention(subscriptions_table(CASES), D2, D1)
    with pytest.raises(ValueError, match="accounts table"):
        retention(subscriptions_table(CASES), D1, D2, None, "segment")


def test_active_mrr(run: Run) -> None:
    got = {r["account_id"]: r["mrr"] for r in run(active_mrr(subscriptions_table(CASES), D1))}
    assert got == {"A": 100.0, "B": 200.0, "C": 350.0, "F": 60.0, "H": 25.0, "I": 30.0}


def test_result_columns(run: Run) -> None:
    row = one(run, retention(subscriptions_table(CASES), D1, D2))
    assert list(row) == ["period_start", "period_end", "days", *METRIC_COLUMNS]


# ---- invariants against a plain-Python reference --------------------------------------------------

BASE = date(2024, 1, 1)


def reference(rows: list[dict[str, Any]], d1: date, d2: date) -> dict[str, float]:
    """The chapter 2 definitions written out the slow, obvious way."""

    def mrr_on(day: date) -> dict[str, float]:
        out: dict[str, float] = defaultdict(float)
        for r in rows:
            if r["start_date"] <= day and (r["end_date"] is None or r["end_date"] > day):
                out[r["account_id"]] += r["mrr"]
        return out

    s, e = mrr_on(d1), mrr_on(d2)
    kept = [a for a in s if a in e]
    return {
        "n_start": len(s), "n_churned": len(s) - len(kept), "start_mrr": sum(s.values()),
        "end_mrr": sum(e.values()), "retained_mrr": sum(e[a] for a in kept),
        "churned_mrr": sum(v for a, v in s.items() if a not in e),
        "expansion_mrr": sum(max(e[a] - s[a], 0) for a in kept),
        "contraction_mrr": sum(max(s[a] - e[a], 0) for a in kept),
        "capped": sum(min(e[a], s[a]) for a in kept),
    }


subscription_rows = st.lists(
    st.builds(
        lambda account, start, length, mrr: sub(
            account, BASE + timedelta(days=start), None if length is None else BASE + timedelta(days=start + length),
            float(mrr)),
        st.sampled_from("abcdefgh"), st.integers(0, 120), st.one_of(st.none(), st.integers(1, 90)),
        st.integers(0, 500),
    ),
    max_size=25,
)


@given(subscription_rows, st.integers(0, 100), st.integers(1, 60))
def test_invariants_and_reference(run: Run, rows: list[dict[str, Any]], offset: int, length: int) -> None:
    d1 = BASE + timedelta(days=offset)
    d2 = d1 + timedelta(days=length)
    got = one(run, retention(subscriptions_table(rows), d1, d2))
    want = reference(rows, d1, d2)
    for key, value in want.items():
        if key != "capped":
            assert got[key] == pytest.approx(value, abs=1e-9), key
    assert 0 <= got["n_churned"] <= got["n_start"]
    assert got["n_retained"] + got["n_churned"] == got["n_start"]
    assert got["end_mrr"] == pytest.approx(got["retained_mrr"] + got["new_mrr"], abs=1e-9)
    flow = got["start_mrr"] - got["churned_mrr"] - got["contraction_mrr"] + got["expansion_mrr"]
    assert flow == pytest.approx(got["retained_mrr"], abs=1e-9)
    if got["start_mrr"] > 0:
        assert 0 <= got["grr"] <= 1 + 1e-12
        assert got["grr"] <= got["nrr"] + 1e-12
        assert got["grr"] == pytest.approx(want["capped"] / want["start_mrr"], abs=1e-12)
        assert got["grr"] == pytest.approx(1 - got["mrr_churn_rate"], abs=1e-12)
    else:
        assert got["grr"] is None and got["nrr"] is None
    if got["n_start"]:
        churn = got["logo_churn_rate"]
        assert churn == got["n_churned"] / got["n_start"]
        assert math.isclose(got["annualised_logo_churn_rate"], 1 - (1 - churn) ** (365 / length), abs_tol=1e-12)
