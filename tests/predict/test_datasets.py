"""Public-dataset mappings on tiny synthetic excerpts (nothing here reads ../shared at run time), the random
split of snapshot data, and model scores as feature columns without a workspace."""

from __future__ import annotations

import gzip
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

from longtail.errors import UsageError
from longtail.predict.dataset import NOT_FEATURES
from longtail.predict.datasets import (
    import_dataset,
    map_online_retail,
    map_ravenstack,
    random_split,
    snapshot_report,
    telco_table,
)
from longtail.predict.models import choose_columns

RETAIL = """\
InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country
536365,85123A,HEART,6,2010-12-01 08:26:00,2.55,17850,United Kingdom
536365,71053,LANTERN,2,2010-12-01 08:26:00,3.00,17850,United Kingdom
536366,22633,HAND WARMER,1,2010-12-01 08:28:00,1.85,,United Kingdom
C536379,D,Discount,-1,2010-12-02 09:41:00,27.50,17850,France
536380,22961,JAM,4,2010-12-03 10:00:00,1.45,12347,Iceland
536381,22961,ADJUST,-4,2010-12-04 10:00:00,1.45,12347,Iceland
"""


def csv_table(text: str, tmp_path: Path, name: str, strings: tuple[str, ...] = ()) -> pa.Table:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(
        column_types={c: pa.string() for c in strings}, strings_can_be_null=True))


def test_online_retail_invoices_become_events_and_customers_accounts(tmp_path: Path) -> None:
    out = map_online_retail(csv_table(RETAIL, tmp_path, "r.csv", ("InvoiceNo", "InvoiceDate")))
    events = out["events"].to_pylist()
    assert [(e["event_id"], e["account_id"], e["event"], e["value"]) for e in events] == [
        ("inv_536365", "17850", "purchase", 21.3),  # two lines, one event: 6 x 2.55 + 2 x 3.00
        ("inv_C536379", "17850", "cancellation", 27.5),
        ("inv_536380", "12347", "purchase", 5.8),
    ]  # the guest line (no CustomerID) and the net-negative adjustment are no one's activity
    accounts = {a["account_id"]: a for a in out["accounts"].to_pylist()}
    assert accounts["17850"]["created_at"] == "2010-12-01 08:26:00"  # created at its first invoice, not before
    assert accounts["17850"]["country"] == "United Kingdom" and accounts["12347"]["country"] == "Iceland"


def test_ravenstack_maps_to_the_contract_without_its_outcome_columns(tmp_path: Path) -> None:
    accounts = csv_table("account_id,account_name,industry,country,signup_date,referral_source,plan_tier,seats,"
                         "is_trial,churn_flag\nA-1,Co,EdTech,US,2023-02-01,partner,Pro,9,False,True\n",
                         tmp_path, "a.csv", ("signup_date",))
    subs = csv_table("subscription_id,account_id,start_date,end_date,plan_tier,seats,mrr_amount,arr_amount,is_trial,"
                     "upgrade_flag,downgrade_flag,churn_flag,billing_frequency,auto_renew_flag\n"
                     "S-1,A-1,2023-02-01,2023-08-01,Pro,9,500,6000,False,True,False,True,monthly,True\n",
                     tmp_path, "s.csv", ("start_date", "end_date"))
    usage = csv_table("usage_id,subscription_id,usage_date,feature_name,usage_count,usage_duration_secs,error_count,"
                      "is_beta_feature\nU-1,S-1,2023-03-01,feature_5,9,300,0,False\n"
                      "U-2,S-404,2023-03-02,feature_6,1,30,0,False\n", tmp_path, "u.csv", ("usage_date",))
    tickets = csv_table("ticket_id,account_id,submitted_at,closed_at,resolution_time_hours,priority,"
                        "first_response_time_minutes,satisfaction_score,escalation_flag\n"
                        "T-1,A-1,2023-04-01,2023-04-02 03:00:00,27.0,medium,74,,False\n",
                        tmp_path, "t.csv", ("submitted_at", "closed_at"))
    out = map_ravenstack(accounts, subs, usage, tickets)
    assert "churn_flag" not in out["accounts"].column_names
    assert not {"churn_flag", "upgrade_flag", "downgrade_flag"} & set(out["subscriptions"].column_names)
    assert out["subscriptions"].to_pylist()[0] == {
        "subscription_id": "S-1", "account_id": "A-1", "plan": "Pro", "start_date": "2023-02-01",
        "end_date": "2023-08-01", "mrr": 500.0, "quantity": 9, "billing_frequency": "monthly"}
    assert out["events"].to_pylist() == [{"event_id": "U-1", "account_id": "A-1", "event": "feature_5",
                                          "ts": "2023-03-01", "value": 9.0}]  # U-2's subscription is unknown
    assert out["tickets"].column("priority").to_pylist() == ["normal"]


def test_import_dataset_writes_contract_files_and_refuses_unknown_names(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "online_retail.csv.gz").write_bytes(gzip.compress(RETAIL.encode()))
    written = import_dataset("online-retail", tmp_path / "src", tmp_path / "out")
    assert written == {"accounts": 2, "events": 3}
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["accounts.csv", "events.csv"]
    with pytest.raises(UsageError, match="unknown dataset"):
        import_dataset("telco", tmp_path / "src", tmp_path / "out")


def telco_raw(n: int, seed: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    tenure = rng.integers(0, 72, n)
    contract = rng.choice(["Month-to-month", "One year", "Two year"], n)
    logit = 1.0 - 0.05 * tenure - 1.5 * (contract != "Month-to-month")
    churn = np.where(rng.random(n) < 1 / (1 + np.exp(-logit)), "Yes", "No")
    columns: dict[str, object] = {"customerID": [f"c{i}" for i in range(n)], "tenure": tenure,
                                  "MonthlyCharges": rng.uniform(18, 119, n).round(2),
                                  "TotalCharges": [" " if t == 0 else f"{t * 50.0:.2f}" for t in tenure],
                                  "SeniorCitizen": rng.integers(0, 2, n), "Contract": contract, "Churn": churn}
    for name in ("gender", "Partner", "Dependents", "PhoneService", "MultipleLines", "InternetService",
                 "OnlineSecurity", "OnlineBackup", "DeviceProtection", "TechSupport", "StreamingTV",
                 "StreamingMovies", "PaperlessBilling", "PaymentMethod"):
        columns[name] = rng.choice(["Yes", "No"], n)
    return pa.table(columns)


def test_telco_table_and_random_split_snapshot_report() -> None:
    table = telco_table(telco_raw(1200))
    assert table.column("total_charges").null_count == sum(1 for t in telco_raw(1200).column("tenure").to_pylist()
                                                            if t == 0)  # blank TotalCharges are missing, not 0
    cols = choose_columns(table)
    assert "Contract" in cols.categorical and "tenure_days" in cols.numeric and "label" not in cols.names
    split = random_split(table.num_rows, 0)
    assert not (split.train & split.valid).any() and not (split.valid & split.test).any()
    assert (split.train | split.valid | split.test).all() and split.test.sum() == 300
    report = snapshot_report(table, seeds=(0, 1))
    assert report["split"].startswith("random") and report["n_observations"] == 1200
    assert report["model"]["roc_auc"]["mean"] > 0.7  # the signal planted in tenure and contract is found
    assert report["recency"] == {"unavailable": "no usable days_since_last_activity column"}
    assert "mean" in report["tenure"]["roc_auc"]


def test_model_outputs_are_never_model_inputs() -> None:
    table = pa.table({"account_id": ["a", "b"], "as_of": pa.array([date(2025, 1, 1)] * 2, pa.date32()),
                      "events_28d": [1.0, 2.0], "churn_risk": [0.1, 0.9], "churn_model_id": ["m1", "m2"],
                      "expansion_propensity": [0.2, 0.3], "expansion_model_id": ["m3", "m4"],
                      "label": pa.array([0, 1], pa.int8())})
    assert choose_columns(table).names == ["events_28d"]
    assert {"churn_risk", "churn_model_id", "expansion_propensity", "expansion_model_id"} <= NOT_FEATURES
