"""Daily health history as Parquet: `.longtail/health/as_of=YYYY-MM-DD/scores.parquet`, one row per account.

Writes are atomic (temporary file, then rename) and deterministic: rows are sorted by account_id and
nothing time-dependent is stored, so replaying a date rewrites identical bytes. The previous state used
for hysteresis and carry_last is read from the most recent stored date before the one being scored,
so later dates never change an earlier one.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from longtail.core.health import HealthResult, PreviousState
from longtail.core.health.columnar import PREVIOUS_COLUMNS, RESULT_SCHEMA, results_columns, score_change
from longtail.settings import Workspace

log = logging.getLogger(__name__)

FILE_NAME = "scores.parquet"
PREFIX = "as_of="
# Files are sorted by account_id; small row groups let a one-account read (the account page, the API) decode
# 4k rows instead of the whole day, from the footer statistics alone. The footer grows by a few kB per 100k
# accounts, which whole-day reads do not notice.
ROW_GROUP_ROWS = 4096

SCHEMA = pa.schema([
    *RESULT_SCHEMA,  # account_id, as_of, score, band, ..., components, reasons, path_to_green, green_reachable
    pa.field("change_7d", pa.float64()),  # score minus the stored score 7 days earlier; null when none is stored
    pa.field("change_30d", pa.float64()),
])
DETAIL_COLUMNS = ("components", "reasons", "path_to_green")
"""Nested Arrow columns (lists of structs and of strings). Files written before they were nested hold the same
as JSON text; `decoded` reads either."""


def health_dir(ws: Workspace) -> Path:
    return ws.state_dir / "health"


def day_file(ws: Workspace, day: date) -> Path:
    return health_dir(ws) / f"{PREFIX}{day.isoformat()}" / FILE_NAME


def stored_dates(ws: Workspace) -> list[date]:
    root = health_dir(ws)
    if not root.is_dir():
        return []
    days = []
    for child in root.iterdir():
        if child.name.startswith(PREFIX) and (child / FILE_NAME).is_file():
            try:
                days.append(date.fromisoformat(child.name[len(PREFIX):]))
            except ValueError:
                log.warning("health.store.skip_folder name=%s", child.name)
    return sorted(days)


def read_day(ws: Workspace, day: date, columns: Sequence[str] | None = None) -> pa.Table | None:
    path = day_file(ws, day)
    if not path.is_file():
        return None
    return decoded(pq.read_table(path, columns=list(columns) if columns else None))


def decoded(table: pa.Table) -> pa.Table:
    """The table with any detail column stored as JSON text (files of earlier versions) parsed to its nested type."""
    for name in DETAIL_COLUMNS:
        if name in table.column_names and pa.types.is_string(table.schema.field(name).type):
            kind = SCHEMA.field(name).type
            parsed = pa.array([None if v is None else json.loads(v) for v in table.column(name).to_pylist()], kind)
            table = table.set_column(table.column_names.index(name), name, parsed)
    return table


def read_scores(ws: Workspace, day: date) -> dict[str, float]:
    table = read_day(ws, day, ["account_id", "score"])
    if table is None:
        return {}
    return dict(zip(table.column("account_id").to_pylist(), table.column("score").to_pylist(), strict=True))


def previous_day(ws: Workspace, as_of: date) -> date | None:
    earlier = [d for d in stored_dates(ws) if d < as_of]
    return earlier[-1] if earlier else None


def previous_results(ws: Workspace, as_of: date, *, components: bool = True) -> pa.Table | None:
    """The `PREVIOUS_COLUMNS` stored on the most recent date before `as_of` (None if none): what `score_columns`
    reads for hysteresis and carry_last.

    Of the components only `metric` and `value` are read (a third of the full column's cost at 1M accounts), and
    none with `components=False` (scorecards without carry_last: `carried_metrics` is empty).
    """
    day = previous_day(ws, as_of)
    if day is None:
        return None
    state = [name for name in PREVIOUS_COLUMNS if name != "components"]
    file = pq.ParquetFile(day_file(ws, day))
    if not components:
        return file.read(columns=state)
    if pa.types.is_string(file.schema_arrow.field("components").type):  # JSON text of an earlier version
        return decoded(file.read(columns=[*state, "components"]))
    leaves = [file.schema.column(i).path for i in range(file.metadata.num_columns)]  # "components.list.element.x"
    wanted = [leaf for leaf in leaves
              if leaf.startswith("components.") and leaf.rsplit(".", 1)[1] in ("metric", "value")]
    return file.read(columns=[*state, *wanted])


def previous_states(ws: Workspace, as_of: date, *, with_components: bool = True) -> dict[str, PreviousState]:
    """Per account, the state stored on the most recent date before `as_of` (empty if none), as `score` takes it."""
    day = previous_day(ws, as_of)
    if day is None:
        return {}
    names = ["account_id", "score", "band", "pending_band", "pending_since", "scorecard"]
    table = read_day(ws, day, [*names, "components"] if with_components else names)
    assert table is not None
    with _no_gc():
        return _states(table, day, with_components=with_components)


def _states(table: pa.Table, day: date, *, with_components: bool) -> dict[str, PreviousState]:
    cols = {name: table.column(name).to_pylist() for name in table.column_names}
    states = {}
    for i, account in enumerate(cols["account_id"]):
        values: dict[str, float] = {}
        if with_components:
            for comp in cols["components"][i]:
                if comp["value"] is not None:
                    values[comp["metric"]] = float(comp["value"])
        states[account] = PreviousState(as_of=day, band=cols["band"][i], score=cols["score"][i],
                                        pending_band=cols["pending_band"][i], pending_since=cols["pending_since"][i],
                                        component_values=values, scorecard=cols["scorecard"][i])
    return states


@contextmanager
def _no_gc() -> Iterator[None]:
    """Millions of small acyclic objects: collection passes would only cost time."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


SUMMARY_COLUMNS = ("account_id", "score", "band")
"""What `write_scored` hands back of each stored row (the full rows stay on disk)."""


def with_changes(scored: pa.Table, changes: tuple[pa.Table | None, pa.Table | None]) -> pa.Table:
    """`score_columns` rows with change_7d and change_30d: the score minus the one stored 7 and 30 days before
    (`changes`: those days' account_id and score sorted by account_id, None when not stored; `earlier_scores`),
    rounded to 6 places like the score."""
    ids = pc.cast(scored.column("account_id"), pa.string())
    for name, earlier in zip(("change_7d", "change_30d"), changes, strict=True):
        if earlier is None or earlier.num_rows == 0 or scored.num_rows == 0:
            change = pa.nulls(scored.num_rows, pa.float64())
        else:
            near = _around(earlier, ids)
            then = near.column("score").take(pc.index_in(ids, value_set=near.column("account_id")))
            change = score_change(scored.column("score"), then)
        scored = scored.append_column(name, change)
    return scored


def _around(earlier: pa.Table, ids: pa.ChunkedArray) -> pa.Table:
    """The rows of `earlier` (sorted by account_id) from the batch's first account to its last: a batch looks up
    its own accounts, not a hash of the whole day's."""
    stored = pc.cast(earlier.column("account_id"), pa.string())
    first, last = pc.min(ids).as_py(), pc.max(ids).as_py()
    lo, hi = _bisect(stored, first), _bisect(stored, last, after=True)
    return earlier.slice(lo, hi - lo)


def strictly_sorted(values: pa.ChunkedArray | pa.Array) -> bool:
    """Whether each value is greater than the one before (account ids: sorted, each once)."""
    return len(values) < 2 or bool(pc.all(pc.less(values[:-1], values[1:])).as_py())


def _bisect(values: pa.ChunkedArray, key: str, *, after: bool = False) -> int:
    """Where `key` goes in sorted `values` (before equal ones, or after them with `after`)."""
    lo, hi = 0, len(values)
    while lo < hi:
        mid = (lo + hi) // 2
        here = values[mid].as_py()
        if here < key or (after and here == key):
            lo = mid + 1
        else:
            hi = mid
    return lo


def earlier_scores(ws: Workspace, as_of: date) -> tuple[pa.Table | None, pa.Table | None]:
    """account_id and score stored 7 and 30 days before `as_of`, sorted by account_id (stored files are; a file
    that is not gets sorted here, once a day rather than once a batch)."""
    out = []
    for days in (7, 30):
        table = read_day(ws, as_of - timedelta(days=days), ["account_id", "score"])
        if table is not None and not strictly_sorted(pc.cast(table.column("account_id"), pa.string())):
            table = table.sort_by("account_id")
        out.append(table)
    return out[0], out[1]


def write_results(ws: Workspace, as_of: date, results: Sequence[HealthResult]) -> Path:
    """Store one date's `HealthResult`s, replacing what was stored for that date. Returns the file."""
    if any(r.as_of != as_of for r in results):
        raise ValueError(f"every result must be for {as_of}")
    return write_scored(ws, as_of, [results_columns(sorted(results, key=lambda r: r.account_id))])[0]


def write_scored(ws: Workspace, as_of: date, batches: Iterable[pa.Table]) -> tuple[Path, pa.Table]:
    """Store one date's results (`score_columns` tables, given in batches), replacing what was stored that date.

    Each batch is written before the next is asked for, so a day of a million accounts never holds more than
    one batch of results. Batches must come in account_id order (each batch's accounts after the previous
    batch's, each sorted) so the file stays sorted; that is checked. Returns the file and the stored
    `SUMMARY_COLUMNS` of every row.
    """
    changes = earlier_scores(ws, as_of)
    target = day_file(ws, as_of)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".scores-", suffix=".parquet.tmp", dir=target.parent)
    os.close(fd)
    summaries: list[pa.Table] = []
    try:
        # statistics only for account_id: the one column any read filters on (row groups of one account);
        # those of the nested columns cost a tenth of the write
        with pq.ParquetWriter(tmp, SCHEMA, write_statistics=["account_id"]) as writer:
            for batch in batches:
                _check_batch(batch, as_of, summaries)
                writer.write_table(with_changes(batch, changes), row_group_size=ROW_GROUP_ROWS)
                summaries.append(batch.select(list(SUMMARY_COLUMNS)))
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    summary = pa.concat_tables(summaries) if summaries else SCHEMA.empty_table().select(list(SUMMARY_COLUMNS))
    log.info("health.store.write as_of=%s accounts=%d", as_of, summary.num_rows)
    return target, summary


def _check_batch(batch: pa.Table, as_of: date, before: list[pa.Table]) -> None:
    if batch.schema != RESULT_SCHEMA:
        raise ValueError(f"a batch of results must have the columns of RESULT_SCHEMA, got {batch.schema.names}")
    if batch.num_rows and pc.any(pc.not_equal(batch.column("as_of"), pa.scalar(as_of, pa.date32()))).as_py():
        raise ValueError(f"every result must be for {as_of}")
    if not strictly_sorted(batch.column("account_id")):
        raise ValueError("a batch of results must be sorted by account_id, each account once")
    _check_order(before, batch)


def _check_order(before: list[pa.Table], table: pa.Table) -> None:
    if not before or not table.num_rows or not before[-1].num_rows:
        return
    last, first = before[-1].column("account_id")[-1].as_py(), table.column("account_id")[0].as_py()
    if first <= last:
        raise ValueError(f"batches out of account_id order: {first!r} after {last!r}")


def read_account(ws: Workspace, as_of: date, account_id: str) -> dict[str, Any] | None:
    """One stored row with its detail columns as lists (`decoded_row`), or None."""
    path = day_file(ws, as_of)
    if not path.is_file():
        return None
    # The filter goes into the Parquet read, so only the row groups that can hold the account are decoded.
    rows = pq.read_table(path, filters=[("account_id", "==", account_id)]).to_pylist()
    if not rows:
        return None
    return decoded_row(rows[0])


def decoded_row(row: dict[str, Any]) -> dict[str, Any]:
    """A stored row (`to_pylist`) with its detail columns as lists, from either storage (see `decoded`)."""
    for name in DETAIL_COLUMNS:
        value = row.get(name)
        row[name] = json.loads(value) if isinstance(value, str) else (value or [])
    return row
