"""The day's account table: features, health, account fields and custom attributes, one row per account."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, timedelta

import pyarrow as pa
import pyarrow.compute as pc

from longtail.analytics import health_store
from longtail.analytics.health_run import customers
from longtail.core.health import HealthResult, ScorecardSet, score_table
from longtail.runner.evaluate import Fire
from longtail.settings import Workspace

HEALTH_SCHEMA = pa.schema([("account_id", pa.string()), ("health_score", pa.float64()),
                           ("health_band", pa.string()), ("health_change_7d", pa.float64()),
                           ("health_change_30d", pa.float64())])


def health_frame(results: Sequence[HealthResult], week_ago: dict[str, float], month_ago: dict[str, float]) -> pa.Table:
    """Health columns a condition may read, from scoring results and the scores 7 and 30 days before."""
    ids = [r.account_id for r in results]
    scores = [r.score for r in results]
    return pa.table([
        pa.array(ids, pa.string()), pa.array(scores, pa.float64()), pa.array([r.band for r in results], pa.string()),
        pa.array([None if a not in week_ago else s - week_ago[a] for a, s in zip(ids, scores, strict=True)],
                 pa.float64()),
        pa.array([None if a not in month_ago else s - month_ago[a] for a, s in zip(ids, scores, strict=True)],
                 pa.float64()),
    ], schema=HEALTH_SCHEMA)


def stored_health(ws: Workspace, day: date, features: pa.Table, cards: ScorecardSet) -> list[HealthResult]:
    """Health of the day's customers scored in memory (nothing is written), continuing the stored history."""
    carry = any(c.on_null == "carry_last" for card in cards.scorecards for c in card.components)
    previous = health_store.previous_states(ws, day, with_components=carry)
    return score_table(customers(features), cards, previous, as_of=day)


def stored_changes(ws: Workspace, day: date) -> tuple[dict[str, float], dict[str, float]]:
    return (health_store.read_scores(ws, day - timedelta(days=7)),
            health_store.read_scores(ws, day - timedelta(days=30)))


def account_fields(accounts: pa.Table, attributes: Sequence[str], named_csm: str) -> pa.Table:
    """account_id, industry, country, employees, each listed custom attribute (text) and `named_csm`."""
    wanted = list(dict.fromkeys([*attributes, named_csm]))
    raw = accounts.column("attributes").to_pylist() if "attributes" in accounts.column_names else [None] * len(accounts)
    parsed = [json.loads(v) if v else {} for v in raw]
    columns = {name: pa.array([_text(p.get(name)) for p in parsed], pa.string()) for name in wanted}
    base = {c: accounts.column(c) for c in ("account_id", "name", "industry", "country", "employees")
            if c in accounts.column_names}
    table = pa.table({**base, **{k: v for k, v in columns.items() if k not in base}})
    if named_csm != "named_csm":
        table = table.append_column("named_csm", table.column(named_csm))
    return table


def _text(value: object) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else json.dumps(value)


def day_table(features: pa.Table, health: pa.Table, fields: pa.Table) -> pa.Table:
    """The customers' features left-joined with health and account fields.

    Accounts without features, and former customers (`is_customer` = 0), are not in the day: no tier, segment,
    condition trigger or CTA is about them.
    """
    table = customers(features).join(health, "account_id", join_type="left outer")
    keep = [c for c in fields.column_names if c == "account_id" or c not in table.column_names]
    table = table.join(fields.select(keep), "account_id", join_type="left outer")
    return table.sort_by("account_id").combine_chunks()


def in_day(fires: list[Fire], today: pa.Table) -> list[Fire]:
    """The fires about accounts in the day's table: event triggers read events directly, so a former
    customer's events would otherwise still fire."""
    present = set(today.column("account_id").to_pylist())
    return [f for f in fires if f.account_id in present]


def ids(table: pa.Table) -> pa.Array:
    return pc.unique(table.column("account_id"))
