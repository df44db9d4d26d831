"""The day's account table: features, health, account fields, custom attributes and the attributes the motion
set (`motion_<name>`), one row per account."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from longtail.analytics import health_store
from longtail.analytics.connect import SNAPSHOT_KINDS
from longtail.analytics.health_run import customers, score_batches
from longtail.core.health import ScorecardSet
from longtail.core.health.columnar import RESULT_SCHEMA, carried_metrics, score_change
from longtail.core.motion.load import motion_column
from longtail.runner.evaluate import Fire
from longtail.settings import Workspace

HEALTH_SCHEMA = pa.schema([("account_id", pa.string()), ("health_score", pa.float64()),
                           ("health_band", pa.string()), ("health_change_7d", pa.float64()),
                           ("health_change_30d", pa.float64())])


def health_frame(scores: pa.Table, week_ago: pa.Table | None, month_ago: pa.Table | None) -> pa.Table:
    """Health columns a condition may read, from the day's scores (account_id, score, band: what `score_day`
    returns, or `result_scores` of results scored in memory) and the account_id and score of the days 7 and 30
    days before (None: not scored)."""
    ids = pc.cast(scores.column("account_id"), pa.string())
    score = pc.cast(scores.column("score"), pa.float64())

    def change(earlier: pa.Table | None) -> pa.Array:
        if earlier is None or earlier.num_rows == 0:
            return pa.nulls(scores.num_rows, pa.float64())
        known = pc.cast(earlier.column("account_id"), pa.string()).combine_chunks()
        then = pc.cast(earlier.column("score"), pa.float64()).take(pc.index_in(ids, value_set=known))
        return score_change(score, then)  # rounded as the store rounds change_7d/change_30d

    return pa.table([ids, score, pc.cast(scores.column("band"), pa.string()), change(week_ago), change(month_ago)],
                    schema=HEALTH_SCHEMA)


def result_scores(results: pa.Table) -> pa.Table:
    """account_id, score and band of results scored in memory (`score_columns`), as `score_day` returns them for
    stored ones."""
    return results.select(list(health_store.SUMMARY_COLUMNS))


def stored_health(ws: Workspace, day: date, features: pa.Table, cards: ScorecardSet) -> pa.Table:
    """account_id, score and band of the day's customers scored in memory (nothing is written), continuing the
    stored history; scored in batches, of which only these columns are kept."""
    previous = health_store.previous_results(ws, day, components=bool(carried_metrics(cards)))
    return stack_scores([result_scores(batch) for batch in score_batches(customers(features), cards, previous, day)])


def stack_scores(parts: Sequence[pa.Table]) -> pa.Table:
    """The `result_scores` of a day's batches as one table (an empty one for no batch)."""
    return pa.concat_tables(parts) if parts else result_scores(RESULT_SCHEMA.empty_table())


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


MOTION_TYPES: dict[str, pa.DataType] = {"string": pa.string(), "number": pa.float64(), "boolean": pa.bool_()}
"""Arrow type of a motion-set attribute's column, by its condition type."""


def motion_fields(fields: pa.Table, attribute_types: Mapping[str, str]) -> pa.Table:
    """`fields` plus an empty `motion_<name>` column per attribute the motion sets: a day without stored values (and
    a backtest, which stores nothing) still has the columns its conditions read, as unknown."""
    for name, kind in sorted(attribute_types.items()):
        fields = fields.append_column(motion_column(name), pa.nulls(fields.num_rows, MOTION_TYPES[kind]))
    return fields


def with_motion_attributes(table: pa.Table, attribute_types: Mapping[str, str],
                           values: Mapping[tuple[str, str], object]) -> pa.Table:
    """The day table with its `motion_<name>` columns filled from `values` ((account, name) -> value in force)."""
    accounts = table.column("account_id").to_pylist()
    for name, kind in sorted(attribute_types.items()):
        column = pa.array([values.get((a, name)) for a in accounts], MOTION_TYPES[kind])
        at = table.schema.get_field_index(motion_column(name))
        table = (table.append_column(motion_column(name), column) if at < 0
                 else table.set_column(at, motion_column(name), column))
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


def data_version(ws: Workspace) -> str | None:
    """A fingerprint of what a day table is computed from: the event parts and landed files, the entity
    snapshots and the stored models (names, sizes, modification times). None when some table lives in an
    external warehouse (`[warehouse_tables]`): its changes cannot be seen from here, so nothing may be cached."""
    if ws.settings.warehouse_tables:
        return None
    files: list[Path] = []
    for folder, pattern in ((ws.state_dir / "events", "part-*.parquet"), (ws.state_dir / "landing" / "events", "*"),
                            (ws.state_dir / "models", "**/*")):
        if folder.is_dir():
            files += folder.glob(pattern)
    files += [ws.tables_dir / f"{kind}.parquet" for kind in SNAPSHOT_KINDS]
    digest = hashlib.sha256()
    for path in sorted(files):
        try:
            st = path.stat()
        except FileNotFoundError:
            continue  # a snapshot never written (nothing of that kind loaded) or a file just compacted away
        digest.update(f"{path}\x1f{st.st_size}\x1f{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()


@dataclass
class DayTables:
    """Day tables (features, health, account fields) already computed, by day, for one data version.

    A daily run reads the day before as well (edges compare the two): over a range of days, or in the closed
    loop, that table was computed the day before, and computing it again costs as much as the day itself.
    """

    version: str | None = None
    tables: dict[date, pa.Table] = field(default_factory=dict)

    def get(self, day: date, version: str | None) -> pa.Table | None:
        """The table of `day` if it was computed from this data version."""
        if version is None or version != self.version:
            return None
        return self.tables.get(day)

    def put(self, day: date, version: str | None, table: pa.Table) -> None:
        """Remember the table of `day` (a new data version forgets every other)."""
        if version != self.version:
            self.tables.clear()
            self.version = version
        if version is not None:
            self.tables[day] = table

    def advance(self, version: str | None, day: date) -> None:
        """The data moved to `version` by loading rows of `day` only (the closed loop's daily load): the table of
        the day before stays valid as the motion saw it then, which is what tomorrow's edges compare with;
        every other table is forgotten."""
        kept = self.tables.get(day - timedelta(days=1)) if version is not None else None
        self.tables = {} if kept is None else {day - timedelta(days=1): kept}
        self.version = version
