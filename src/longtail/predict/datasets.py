"""Public datasets mapped to the data contract, to measure the models on data that is not ours (docs/models.md).

- **Online Retail** (UCI; invoice lines of a gift-ware wholesaler): one `purchase` event per invoice (value =
  the invoice total) and one `cancellation` event per cancelled invoice; an account per customer, created at
  its first invoice. No subscriptions: train with `--label inactivity --qualifying-events purchase`.
- **RavenStack** (synthetic B2B SaaS): accounts, subscriptions, feature usage as events, tickets. Churn events,
  churn flags and upgrade flags are not loaded: they are outcomes, and our subscription label derives churn
  from the subscriptions. Its README calls it a negative control (no signal): a correct pipeline scores ~0.5.
- **Telco** (IBM; one snapshot, no dates): no point-in-time training set can be built, so it is evaluated by
  `snapshot_report` with a clearly labelled **random** split through the same models and evaluation.

The `map_*` functions are pure (raw Arrow tables in, contract tables out); `import_dataset` reads and writes.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from longtail.errors import UsageError
from longtail.predict.dataset import TimeSplit

log = logging.getLogger(__name__)

DATASETS = ("online-retail", "ravenstack")
SNAPSHOT_DAY = date(2020, 1, 1)
"""A stand-in as_of for snapshot data (Telco has no dates); it only keys rows, nothing is computed from it."""
TICKET_PRIORITY = {"medium": "normal"}
"""RavenStack's priorities mapped to the contract's (low, normal, high, urgent)."""


def _strings(column: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    return pc.utf8_trim_whitespace(column.cast(pa.string()))


def map_online_retail(lines: pa.Table) -> dict[str, pa.Table]:
    """Invoice lines -> accounts and events (one event per customer invoice; guest lines have no account)."""
    lines = lines.filter(pc.is_valid(lines.column("CustomerID")))
    invoice = _strings(lines.column("InvoiceNo"))
    quantity = lines.column("Quantity").cast(pa.float64())
    work = pa.table({
        "invoice": invoice,
        "account_id": _strings(lines.column("CustomerID").cast(pa.int64())),
        "ts": _strings(lines.column("InvoiceDate")),
        "quantity": quantity,
        "amount": pc.multiply(quantity, lines.column("UnitPrice").cast(pa.float64())),
        "country": _strings(lines.column("Country")),
    })
    per_invoice = work.group_by(["invoice", "account_id"]).aggregate(
        [("ts", "min"), ("quantity", "sum"), ("amount", "sum")])
    cancelled = pc.starts_with(per_invoice.column("invoice"), "C")
    bought = pc.greater(per_invoice.column("quantity_sum"), 0)
    # An invoice that is neither a cancellation nor a purchase (net zero or negative adjustments) is no activity.
    kept = per_invoice.filter(pc.or_(cancelled, bought))
    kept_cancelled = pc.starts_with(kept.column("invoice"), "C")
    events = pa.table({
        "event_id": pc.binary_join_element_wise("inv", kept.column("invoice"), "_"),
        "account_id": kept.column("account_id"),
        "event": pc.if_else(kept_cancelled, "cancellation", "purchase"),
        "ts": kept.column("ts_min"),
        "value": pc.round(pc.abs(kept.column("amount_sum")), 2),
    }).sort_by([("ts", "ascending"), ("event_id", "ascending")])
    # Ordered by time and grouped on one thread so that "first" is the country of the first invoice.
    first = work.sort_by("ts").group_by("account_id", use_threads=False).aggregate(
        [("ts", "min"), ("country", "first")])
    accounts = pa.table({"account_id": first.column("account_id"), "created_at": first.column("ts_min"),
                         "country": first.column("country_first")}).sort_by("account_id")
    return {"accounts": accounts, "events": events}


def map_ravenstack(accounts: pa.Table, subscriptions: pa.Table, usage: pa.Table,
                   tickets: pa.Table) -> dict[str, pa.Table]:
    """RavenStack's tables -> contract accounts, subscriptions, events (feature usage) and tickets."""
    out_accounts = pa.table({
        "account_id": _strings(accounts.column("account_id")), "name": _strings(accounts.column("account_name")),
        "created_at": _strings(accounts.column("signup_date")), "industry": _strings(accounts.column("industry")),
        "country": _strings(accounts.column("country")),
        "referral_source": _strings(accounts.column("referral_source")),
    })
    subs = pa.table({
        "subscription_id": _strings(subscriptions.column("subscription_id")),
        "account_id": _strings(subscriptions.column("account_id")),
        "plan": _strings(subscriptions.column("plan_tier")),
        "start_date": _strings(subscriptions.column("start_date")),
        "end_date": _strings(subscriptions.column("end_date")),
        "mrr": subscriptions.column("mrr_amount").cast(pa.float64()),
        "quantity": subscriptions.column("seats").cast(pa.int64()),
        "billing_frequency": _strings(subscriptions.column("billing_frequency")),
    })
    owner = subs.select(["subscription_id", "account_id"])
    joined = usage.join(owner, keys="subscription_id", join_type="inner")
    dropped = usage.num_rows - joined.num_rows
    if dropped:
        log.info("ravenstack.usage_without_subscription rows=%d", dropped)
    events = pa.table({
        "event_id": _strings(joined.column("usage_id")), "account_id": joined.column("account_id"),
        "event": _strings(joined.column("feature_name")), "ts": _strings(joined.column("usage_date")),
        "value": joined.column("usage_count").cast(pa.float64()),
    }).sort_by([("ts", "ascending"), ("event_id", "ascending")])
    priority = _strings(tickets.column("priority"))
    for raw, ours in TICKET_PRIORITY.items():
        priority = pc.if_else(pc.equal(priority, raw), ours, priority)
    out_tickets = pa.table({
        "ticket_id": _strings(tickets.column("ticket_id")), "account_id": _strings(tickets.column("account_id")),
        "opened_at": _strings(tickets.column("submitted_at")), "closed_at": _strings(tickets.column("closed_at")),
        "priority": priority, "csat": tickets.column("satisfaction_score").cast(pa.float64()),
    })
    return {"accounts": out_accounts, "subscriptions": subs.sort_by("subscription_id"), "events": events,
            "tickets": out_tickets}


def _read_csv(path: Path, strings: Sequence[str] = ()) -> pa.Table:
    options = pacsv.ConvertOptions(column_types={name: pa.string() for name in strings},
                                   strings_can_be_null=True)
    return pacsv.read_csv(path, convert_options=options)


def import_dataset(name: str, source: Path, out: Path) -> dict[str, int]:
    """Map a dataset folder to contract CSV files in `out` (for `longtail load-dir`); rows written per kind."""
    if name == "online-retail":
        raw = _read_csv(source / "online_retail.csv.gz", ("InvoiceNo", "StockCode", "InvoiceDate"))
        tables = map_online_retail(raw)
    elif name == "ravenstack":
        dates = ("signup_date", "start_date", "end_date", "usage_date", "submitted_at", "closed_at")
        tables = map_ravenstack(*(_read_csv(source / f"ravenstack_{part}.csv", dates)
                                  for part in ("accounts", "subscriptions", "feature_usage", "support_tickets")))
    else:
        raise UsageError(f"unknown dataset {name!r}: choose one of {', '.join(DATASETS)}")
    out.mkdir(parents=True, exist_ok=True)
    for kind, table in tables.items():
        pacsv.write_csv(table, out / f"{kind}.csv")
    return {kind: table.num_rows for kind, table in tables.items()}


TELCO_CATEGORIES = ("gender", "Partner", "Dependents", "PhoneService", "MultipleLines", "InternetService",
                    "OnlineSecurity", "OnlineBackup", "DeviceProtection", "TechSupport", "StreamingTV",
                    "StreamingMovies", "Contract", "PaperlessBilling", "PaymentMethod")
DAYS_PER_MONTH = 30.44


def telco_table(raw: pa.Table) -> pa.Table:
    """Telco rows -> a one-date training table: tenure_days, mrr, total_charges, senior_citizen, categories."""
    total = pc.utf8_trim_whitespace(raw.column("TotalCharges").cast(pa.string()))
    total = pc.if_else(pc.equal(total, ""), pa.scalar(None, pa.string()), total)
    n = raw.num_rows
    columns: dict[str, Any] = {
        "account_id": _strings(raw.column("customerID")),
        "as_of": pa.array([SNAPSHOT_DAY] * n, pa.date32()),
        "tenure_days": pc.multiply(raw.column("tenure").cast(pa.float64()), DAYS_PER_MONTH),
        "mrr": raw.column("MonthlyCharges").cast(pa.float64()),
        "total_charges": total.cast(pa.float64()),
        "senior_citizen": raw.column("SeniorCitizen").cast(pa.float64()),
    }
    columns.update({name: _strings(raw.column(name)) for name in TELCO_CATEGORIES})
    columns["label"] = pc.equal(_strings(raw.column("Churn")), "Yes").cast(pa.int8())
    columns["window_end"] = pa.array([SNAPSHOT_DAY] * n, pa.date32())
    return pa.table(columns)


def random_split(n: int, seed: int, shares: tuple[float, float] = (0.5, 0.25)) -> TimeSplit:
    """A RANDOM 50/25/25 split, for snapshot data only: with one date there is no time to split on."""
    order = np.random.default_rng(seed).permutation(n)
    cut1, cut2 = round(n * shares[0]), round(n * (shares[0] + shares[1]))
    masks = [np.zeros(n, dtype=bool) for _ in range(3)]
    for mask, part in zip(masks, (order[:cut1], order[cut1:cut2], order[cut2:]), strict=True):
        mask[part] = True
    return TimeSplit(masks[0], masks[1], masks[2], (SNAPSHOT_DAY, SNAPSHOT_DAY))


FIGURES = ("roc_auc", "pr_auc", "brier", "top_decile_lift")


def snapshot_report(table: pa.Table, seeds: Sequence[int] = (0, 1, 2, 3, 4)) -> dict[str, Any]:
    """Train and evaluate on several random splits; mean and sd of each figure for the model and each baseline."""
    from longtail.predict.train import train

    runs = [train(table, random_split(table.num_rows, seed)).report for seed in seeds]
    rows: dict[str, list[dict[str, Any]]] = {"model": [r["test"] for r in runs]}
    for run in runs:
        for name, figures in run["baselines"].items():
            rows.setdefault(name, []).append(figures)
    summary: dict[str, Any] = {"split": "random 50/25/25 (snapshot data: NOT a time split)", "seeds": list(seeds),
                               "n_observations": table.num_rows, "model_kinds": [r["model_kind"] for r in runs]}
    for name, figures in rows.items():
        if any("unavailable" in f for f in figures):
            summary[name] = {"unavailable": figures[0].get("unavailable")}
            continue
        summary[name] = {k: {"mean": float(np.mean([f[k] for f in figures])),
                             "sd": float(np.std([f[k] for f in figures], ddof=1)) if len(figures) > 1 else 0.0}
                         for k in FIGURES}
    return summary
