"""Retention metrics of a workspace (`longtail metrics`, `/api/metrics`, the portfolio): read the stored
subscriptions and accounts, then compute with `longtail.core.retention` on an in-process DuckDB."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.types as ir
import pyarrow as pa
from sqlalchemy import Engine, or_, select

from longtail.core.retention import monthly_retention, retention, subscriptions_table
from longtail.errors import UsageError
from longtail.settings import open_workspace
from longtail.store import tables
from longtail.store.db import make_engine, migrate
from longtail.store.entities import EntityStore

log = logging.getLogger(__name__)

def accounts_table(rows: Sequence[Mapping[str, Any]], by: str, tiers: Mapping[str, str] | None = None) -> ir.Table:
    """(account_id, <by>) from account rows: a column of the accounts table, else a custom attribute; for
    `tier`, the tiers the motion stored (`tiers`: account -> tier) when there are any."""
    if not by.strip() or by == "account_id":
        raise UsageError(f"cannot break retention down by {by!r}: name an account column or attribute")
    if by == "tier" and tiers:
        values = [tiers.get(str(r["account_id"])) for r in rows]
    else:
        values = [_group_value(row, by) for row in rows]
    if by == "tier" and all(v is None for v in values):
        raise UsageError("no account has a tier on the first day: `longtail run` assigns them (from the motion's "
                         "`tiers:`), or give accounts a `tier` attribute")
    if rows and by not in rows[0] and all(v is None for v in values):
        raise UsageError(f"no account has a column or attribute named {by!r}")
    data = {"account_id": [str(r["account_id"]) for r in rows], by: values}
    return ibis.memtable(pa.table(data, schema=pa.schema([("account_id", pa.string()), (by, pa.string())])))


def _group_value(row: Mapping[str, Any], by: str) -> str | None:
    value = row[by] if by != "attributes" and by in row else (row.get("attributes") or {}).get(by)
    return None if value is None or value == "" else str(value)


def tiers_on_day(engine: Engine, day: date) -> dict[str, str]:
    """account -> the tier it held on `day`, from the tier history's entered/left spells."""
    th = tables.tier_history
    query = select(th.c.account_id, th.c.tier).where(th.c.entered <= day, or_(th.c.left.is_(None), th.c.left > day))
    with engine.connect() as conn:
        return {str(a): str(t) for a, t in conn.execute(query)}


def _warn_currencies(rows: Sequence[Mapping[str, Any]], warn: Callable[[str], None]) -> None:
    currencies = sorted({str(r.get("currency") or "").upper() for r in rows} - {""})
    if len(currencies) > 1:
        warn(f"subscriptions are in several currencies ({', '.join(currencies)}); MRR sums them unconverted")


def compute(ws_path: Path | None, d1: date, d2: date, by: str | None, monthly: bool,  # noqa: PLR0917
            warn: Callable[[str], None] = log.warning) -> list[dict[str, Any]]:
    """Read the workspace's subscriptions (and accounts when grouping) and return one dict per row; `warn`
    receives what the reader should know (several currencies summed unconverted)."""
    engine = make_engine(open_workspace(ws_path).database_url)
    migrate(engine)
    store = EntityStore(engine)
    sub_rows = store.rows("subscriptions")
    _warn_currencies(sub_rows, warn)
    # Tier by the spell held on the first day (the cohort's tier), as band counts group each day by its own.
    tiers = tiers_on_day(engine, d1) if by == "tier" else None
    accounts = accounts_table(store.rows("accounts"), by, tiers) if by else None
    engine.dispose()
    measure = monthly_retention if monthly else retention
    expr = measure(subscriptions_table(sub_rows), d1, d2, accounts, by)
    rows: list[dict[str, Any]] = ibis.duckdb.connect().to_pyarrow(expr).to_pylist()
    return rows
