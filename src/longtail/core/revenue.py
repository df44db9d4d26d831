"""Recurring revenue from subscription rows, as of a date.

Both contract shapes give the same answer: one row per contract term, or one row per billing
period (contiguous periods of one subscription merge into a term).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

DEFAULT_BANDS: tuple[tuple[str, float, float | None], ...] = (
    ("under $25k", 0.0, 25_000.0),
    ("$25k-$100k", 25_000.0, 100_000.0),
    ("$100k and above", 100_000.0, None),
)


@dataclass(frozen=True)
class Term:
    subscription_id: str
    account_id: str
    plan: str | None
    start: date
    end: date | None
    """Exclusive end; None = open-ended."""
    arr: Decimal
    quantity: int | None


def _active(row: Mapping[str, Any], day: date) -> bool:
    end = row.get("end_date")
    return bool(row["start_date"] <= day and (end is None or day < end))


def arr_by_account(rows: Iterable[Mapping[str, Any]], day: date) -> dict[str, float]:
    """ARR per account on `day`: the sum of the rows covering that day (end date exclusive)."""
    totals: dict[str, float] = defaultdict(float)
    for row in rows:
        if _active(row, day):
            totals[str(row["account_id"])] += float(row["arr"])
    return dict(totals)


def contract_terms(rows: Iterable[Mapping[str, Any]]) -> list[Term]:
    """Merge contiguous rows of one subscription with the same plan, ARR and seats into terms."""
    by_sub: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for row in rows:
        by_sub[str(row["subscription_id"])].append(row)
    terms: list[Term] = []
    for sub_id, group in sorted(by_sub.items()):
        group.sort(key=lambda r: r["start_date"])
        current: Term | None = None
        for row in group:
            arr = Decimal(str(row["arr"]))
            same = (
                current is not None
                and current.end == row["start_date"]
                and current.plan == row.get("plan")
                and current.arr == arr
                and current.quantity == row.get("quantity")
            )
            if current is not None and same:
                current = Term(sub_id, current.account_id, current.plan, current.start, row.get("end_date"),
                               current.arr, current.quantity)
                continue
            if current is not None:
                terms.append(current)
            current = Term(sub_id, str(row["account_id"]), row.get("plan"), row["start_date"], row.get("end_date"),
                           arr, row.get("quantity"))
        if current is not None:
            terms.append(current)
    return terms


def value_bands(arr: Mapping[str, float],
                bands: tuple[tuple[str, float, float | None], ...] = DEFAULT_BANDS) -> list[dict[str, Any]]:
    """Accounts and ARR per contract-value band (lower bound inclusive, upper exclusive)."""
    out = []
    for label, low, high in bands:
        members = [v for v in arr.values() if v > 0 and v >= low and (high is None or v < high)]
        out.append({"band": label, "accounts": len(members), "arr": sum(members)})
    return out
