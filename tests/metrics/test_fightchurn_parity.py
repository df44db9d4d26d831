"""Parity with *Fighting Churn With Data*, chapter 2: the book's SQL listings, run verbatim on PostgreSQL.

The listings come from the fightchurn package installed (without its dependencies, which pin
SQLAlchemy 1.4) under <venv>/fightchurn by `make install`. Nothing is downloaded here. The data is a
seeded random subscription history shaped like the book's simulator: monthly or annual terms that renew,
change price, add and drop add-ons, churn, and sometimes come back.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import ibis.expr.types as ir
import numpy as np
import psycopg
import pytest

from longtail.core.retention import add_month, monthly_retention, retention, subscriptions_table

pytestmark = pytest.mark.postgres

Run = Callable[[ir.Table], list[dict[str, Any]]]
LISTINGS = Path(sys.prefix) / "fightchurn" / "fightchurn"
SCHEMA = "fightchurn_parity"
TOLERANCE = 1e-9
SPANS = [("2020-03-01", "2020-04-01"), ("2020-03-01", "2020-06-01"), ("2020-02-15", "2020-05-10"),
         ("2019-12-31", "2021-01-01")]
MONTHLY_SPANS = [("2020-01-01", "2020-12-01"), ("2020-01-31", "2020-06-30")]


def _listing_dir() -> Path:
    folder = LISTINGS / "listings" / "chap2"
    if not (folder / "listing_2_1_net_retention.sql").is_file():
        message = f"fightchurn listings not installed in {folder} (run `make install`)"
        if os.environ.get("LONGTAIL_REQUIRE_SERVICES"):
            pytest.fail(message)
        pytest.skip(message)
    return folder


def simulate(seed: int = 20200301, accounts: int = 800) -> list[dict[str, Any]]:
    """A few thousand subscription rows, half of the starts on the 1st so period boundaries get hit."""
    rng = np.random.default_rng(seed)
    rows: list[dict[str, Any]] = []
    for account in range(accounts):
        day = date(2019, 1, 1) + timedelta(days=int(rng.integers(0, 700)))
        if rng.random() < 0.5:
            day = day.replace(day=1)
        rows.extend(_account_history(rng, account, day))
    return rows


def _account_history(rng: np.random.Generator, account: int, start: date) -> list[dict[str, Any]]:
    rows = []
    mrr = float(rng.choice([9.99, 19.99, 49.99, 99.0, 249.5]))
    bill = int(rng.choice([1, 12], p=[0.8, 0.2]))
    while start < date(2021, 6, 1):
        end = start
        for _ in range(bill):
            end = add_month(end)
        open_ended = rng.random() < 0.03
        rows.append(_row(account, "base", start, None if open_ended else end, mrr=mrr, bill=bill))
        if rng.random() < 0.15:  # an add-on for part of the term
            addon_end = start + timedelta(days=int(rng.integers(1, 60)))
            rows.append(_row(account, "addon", start, addon_end, mrr=5.0, bill=1))
        if open_ended:
            break
        if rng.random() < 0.06 * bill ** 0.5:  # churn; some come back after a gap
            if rng.random() > 0.2:
                break
            end += timedelta(days=int(rng.integers(1, 90)))
        mrr = round(mrr * float(rng.choice([1.0, 1.0, 1.2, 0.8])), 2)
        if rng.random() < 0.05:  # moving to annual billing at a discount: the book's "extension"
            bill, mrr = 12, round(mrr * 0.85, 2)
        start = end
    return rows


def _row(account: int, product: str, start: date, end: date | None, *, mrr: float, bill: int) -> dict[str, Any]:
    return {"account_id": account, "product": product, "start_date": start, "end_date": end, "mrr": mrr,
            "bill_period_months": bill}


@pytest.fixture(scope="module")
def data() -> list[dict[str, Any]]:
    return simulate()


@pytest.fixture(scope="module")
def pg(postgres_url: str, data: list[dict[str, Any]]) -> Iterator[psycopg.Connection[Any]]:
    _listing_dir()
    conn = psycopg.connect(postgres_url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True)
    create = (LISTINGS / "churnsim" / "schema" / "create_subscription.sql").read_text(encoding="utf-8")
    conn.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
    conn.execute(f"CREATE SCHEMA {SCHEMA}")
    conn.execute(create.replace("\n", " ").replace("x.", f"{SCHEMA}."))  # as churndb.setup_churn_db does
    with conn.cursor().copy(
        f"COPY {SCHEMA}.subscription (account_id, product, start_date, end_date, mrr, bill_period_months) FROM STDIN"
    ) as copy:
        for r in data:
            copy.write_row([r["account_id"], r["product"], r["start_date"], r["end_date"], r["mrr"],
                            r["bill_period_months"]])
    yield conn
    conn.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
    conn.close()


def listing(conn: psycopg.Connection[Any], name: str, params: dict[str, str]) -> list[dict[str, Any]]:
    """Run a chapter 2 listing the way fightchurn's run_churn_listing.sql_listing does."""
    sql = f"set search_path = '{SCHEMA}'; " + (_listing_dir() / f"{name}.sql").read_text(encoding="utf-8")
    for key, value in params.items():
        sql = sql.replace(key, value)
    cur = conn.cursor()
    cur.execute(sql.replace("\n", " "))
    while cur.description is None and cur.nextset():
        pass
    columns = [c.name.lower() for c in cur.description or []]
    return [dict(zip(columns, values, strict=True)) for values in cur.fetchall()]


def close(ours: float | None, theirs: float | None) -> bool:
    if ours is None or theirs is None:
        return ours is None and theirs is None
    return math.isclose(float(ours), float(theirs), rel_tol=TOLERANCE, abs_tol=TOLERANCE)


def assert_same(ours: dict[str, Any], theirs: dict[str, Any], pairs: dict[str, str], where: str) -> None:
    for mine, book in pairs.items():
        assert close(ours[mine], theirs[book]), f"{where}: {mine}={ours[mine]!r} but {book}={theirs[book]!r}"


def test_the_simulated_data_covers_every_case(data: list[dict[str, Any]]) -> None:
    assert 3000 <= len(data) <= 8000
    assert any(r["end_date"] is None for r in data) and any(r["bill_period_months"] == 12 for r in data)
    assert sum(r["start_date"].day == 1 for r in data) > len(data) // 4


@pytest.mark.parametrize(("d1", "d2"), SPANS)
def test_single_period_listings(pg: psycopg.Connection[Any], data: list[dict[str, Any]], run: Run,
                                d1: str, d2: str) -> None:
    ours = run(retention(subscriptions_table(data), date.fromisoformat(d1), date.fromisoformat(d2)))[0]
    params = {"%from_yyyy-mm-dd": d1, "%to_yyyy-mm-dd": d2}
    assert_same(ours, listing(pg, "listing_2_1_net_retention", params)[0],
                {"nrr": "net_mrr_retention_rate", "net_mrr_churn_rate": "net_mrr_churn_rate",
                 "start_mrr": "start_mrr", "retained_mrr": "retain_mrr"}, f"2.1 {d1}..{d2}")
    assert_same(ours, listing(pg, "listing_2_2_churn_rate", params)[0],
                {"logo_churn_rate": "churn_rate", "logo_retention_rate": "retention_rate", "n_start": "n_start",
                 "n_churned": "n_churn"}, f"2.2 {d1}..{d2}")
    assert_same(ours, listing(pg, "listing_2_4_mrr_churn", params)[0],
                {"mrr_churn_rate": "mrr_churn_rate", "start_mrr": "start_mrr", "churned_mrr": "churn_mrr",
                 "contraction_mrr": "downsell_mrr"}, f"2.4 {d1}..{d2}")
    assert_same(ours, listing(pg, "listing_2_5_churn_rate_scaled", params)[0],
                {"n_start": "n_start", "n_churned": "n_churn", "logo_churn_rate": "measured_churn",
                 "days": "period_days", "annualised_logo_churn_rate": "annual_churn",
                 "monthly_logo_churn_rate": "monthly_churn"}, f"2.5 {d1}..{d2}")
    assert ours["n_churned"] > 0 and ours["contraction_mrr"] > 0 and ours["expansion_mrr"] > 0


def _month_rows(pg: psycopg.Connection[Any], name: str, d1: str, d2: str) -> dict[date, dict[str, Any]]:
    rows = listing(pg, name, {"%from_yyyy-mm-dd": d1, "%to_yyyy-mm-dd": d2})
    return {r["start_date"].date(): r for r in rows}


def _our_months(data: list[dict[str, Any]], run: Run, d1: str, d2: str) -> dict[date, dict[str, Any]]:
    # The book's series runs from d1 to d2 inclusive, each month ending one month after its start.
    last = first = date.fromisoformat(d1)
    while add_month(last) <= date.fromisoformat(d2):
        last = add_month(last)
    rows = run(monthly_retention(subscriptions_table(data), first, add_month(last)))
    return {r["period_start"]: r for r in rows}


@pytest.mark.parametrize(("d1", "d2"), MONTHLY_SPANS)
def test_monthly_listings(pg: psycopg.Connection[Any], data: list[dict[str, Any]], run: Run,
                          d1: str, d2: str) -> None:
    ours = _our_months(data, run, d1, d2)
    churn = _month_rows(pg, "listing_2_6_churn_rate_multi", d1, d2)
    mrr = _month_rows(pg, "listing_2_7_mrr_churn_multi", d1, d2)
    net = _month_rows(pg, "listing_2_8_net_retention_multi", d1, d2)
    assert set(mrr) == set(ours) and set(churn) <= set(ours) and set(net) <= set(ours)
    for month, row in ours.items():
        assert row["period_end"] == mrr[month]["end_date"]
        if month not in churn:  # 2.6 inner-joins the churn count, so a month without churn has no row
            assert row["n_churned"] == 0
        else:
            assert_same(row, churn[month], {"n_start": "n_start", "n_churned": "n_churn",
                                            "logo_churn_rate": "churn_rate",
                                            "annualised_logo_churn_rate": "annual_churn_rate"}, f"2.6 {month}")
        assert_same(row, net[month], {"nrr": "net_retention_rate", "start_mrr": "start_mrr",
                                      "retained_mrr": "retained_mrr", "annualised_nrr": "annual_net_retention_rate"},
                    f"2.8 {month}")
        _assert_mrr_month(row, mrr[month], month)
    assert any(m["extension_mrr"] > 0 for m in mrr.values())


def _assert_mrr_month(ours: dict[str, Any], theirs: dict[str, Any], month: date) -> None:
    """2.7 moves a decrease that comes with a longer billing period out of downsell into "extension".

    Our contract has no billing period, so such a decrease is contraction: contraction = downsell +
    extension, and the MRR churn rates agree exactly once the extension is added back.
    """
    assert_same(ours, theirs, {"start_mrr": "start_mrr", "churned_mrr": "churn_mrr"}, f"2.7 {month}")
    extension, start = float(theirs["extension_mrr"]), float(theirs["start_mrr"])
    assert close(ours["contraction_mrr"], float(theirs["downsell_mrr"]) + extension), f"2.7 {month} contraction"
    assert close(ours["mrr_churn_rate"], float(theirs["mrr_churn_rate"]) + extension / start), f"2.7 {month}"
    book_annual = 1.0 - (1 - (float(theirs["mrr_churn_rate"]) + extension / start)) ** 12  # 2.7's formula
    assert close(ours["annualised_mrr_churn_rate"], book_annual), f"2.7 {month} annual"
    if extension == 0:
        assert close(ours["annualised_mrr_churn_rate"], theirs["annual_mrr_churn_rate"]), f"2.7 {month} annual"
