"""The accounts a coverage report counts (`longtail coverage`, the portfolio page): stored tiers, the day's ARR
and named CSMs joined into CoveredAccount rows."""

from __future__ import annotations

import pyarrow as pa

from longtail.core.motion.coverage import CoveredAccount


def _column(table: pa.Table, name: str) -> dict[str, object]:
    return dict(zip(table.column("account_id").to_pylist(), table.column(name).to_pylist(), strict=True))


def covered_accounts(tiers: dict[str, str], arr_table: pa.Table, fields: pa.Table
                     ) -> tuple[list[CoveredAccount], list[str]]:
    """One CoveredAccount per account with a stored tier or a feature row that day, and warnings about gaps.

    An account with features but no stored tier is new since the last run: it is reported as "(no tier)"
    rather than dropped, so the totals still hold every customer. A missing ARR counts as $0.
    """
    arr = _column(arr_table, "arr")
    named = _column(fields, "named_csm")
    warnings: list[str] = []
    untiered = sorted(set(arr) - set(tiers))
    if untiered:
        warnings.append(f"{len(untiered)} account(s) have no stored tier yet (e.g. {untiered[0]}): "
                        "`longtail run` for the day gives them one")
    no_arr = sorted(a for a in set(tiers) | set(arr) if arr.get(a) is None)
    if no_arr:
        warnings.append(f"{len(no_arr)} account(s) have no ARR on the day (e.g. {no_arr[0]}): counted as $0")
    rows = []
    for account_id in sorted(set(tiers) | set(arr)):
        value = arr.get(account_id)
        csm = named.get(account_id)
        rows.append(CoveredAccount(account_id, tiers.get(account_id), float(value) if isinstance(value, int | float)
                                   else 0.0, str(csm) if csm else None))
    return rows, warnings
