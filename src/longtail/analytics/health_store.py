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
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from longtail.core.health import ComponentResult, HealthResult, PreviousState
from longtail.settings import Workspace

log = logging.getLogger(__name__)

FILE_NAME = "scores.parquet"
PREFIX = "as_of="
# Files are sorted by account_id; small row groups let a one-account read (the account page, the API) decode
# 4k rows instead of the whole day, from the footer statistics alone. The footer grows by a few kB per 100k
# accounts, which whole-day reads do not notice.
ROW_GROUP_ROWS = 4096

SCHEMA = pa.schema([
    ("account_id", pa.string()),
    ("as_of", pa.date32()),
    ("score", pa.float64()),
    ("band", pa.string()),
    ("raw_band", pa.string()),
    ("pending_band", pa.string()),
    ("pending_since", pa.date32()),
    ("scorecard", pa.string()),
    ("scorecard_hash", pa.string()),
    ("components", pa.string()),  # JSON list of {metric, label, value, carried, score, weight, contribution}
    ("reasons", pa.string()),  # JSON list of sentences, worst first
    ("path_to_green", pa.string()),  # JSON list of {metric, current, target, strict, sentence}
    ("green_reachable", pa.bool_()),
    ("change_7d", pa.float64()),  # score minus the stored score 7 days earlier; null when none is stored
    ("change_30d", pa.float64()),
])


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
    return pq.read_table(path, columns=list(columns) if columns else None)


def read_scores(ws: Workspace, day: date) -> dict[str, float]:
    table = read_day(ws, day, ["account_id", "score"])
    if table is None:
        return {}
    return dict(zip(table.column("account_id").to_pylist(), table.column("score").to_pylist(), strict=True))


def previous_states(ws: Workspace, as_of: date, *, with_components: bool = True) -> dict[str, PreviousState]:
    """Per account, the state stored on the most recent date before `as_of` (empty if none)."""
    earlier = [d for d in stored_dates(ws) if d < as_of]
    if not earlier:
        return {}
    day = earlier[-1]
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
            for comp in json.loads(cols["components"][i]):
                if comp["value"] is not None:
                    values[comp["metric"]] = float(comp["value"])
        states[account] = PreviousState(as_of=day, band=cols["band"][i], score=cols["score"][i],
                                        pending_band=cols["pending_band"][i], pending_since=cols["pending_since"][i],
                                        component_values=values, scorecard=cols["scorecard"][i])
    return states


_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)
"""One encoder for every row: json.dumps with these options builds a new one per call (a third of its time)."""


def _dumps(value: Any) -> str:
    return _ENCODER.encode(value)


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


def _num(value: float | None) -> str:
    return "null" if value is None else repr(float(value))  # finite floats only: repr is valid JSON


class _ComponentsJson:
    """Components as compact JSON, the same text json.dumps would give, several times faster."""

    def __init__(self) -> None:
        # (metric, label, weight) -> the text before "value" and the weight's text
        self.parts: dict[tuple[str, str, float], tuple[str, str]] = {}

    def __call__(self, components: Sequence[ComponentResult]) -> str:
        items = []
        for metric, label, value, carried, points, weight, share in components:
            known = self.parts.get((metric, label, weight))
            if known is None:
                known = self.parts[(metric, label, weight)] = (
                    _dumps({"metric": metric, "label": label})[:-1], _num(weight))
            # numbers inline rather than through _num: this runs ~30 times per account
            items.append(f'{known[0]},"value":{"null" if value is None else repr(float(value))},'
                         f'"carried":{"true" if carried else "false"},'
                         f'"score":{"null" if points is None else repr(float(points))},"weight":{known[1]},'
                         f'"contribution":{float(share)!r}}}')
        return "[" + ",".join(items) + "]"


SUMMARY_COLUMNS = ("account_id", "score", "band")
"""What `write_scored` hands back of each stored row (the full rows stay on disk)."""


def results_table(ws: Workspace, as_of: date, results: Sequence[HealthResult],
                  changes: tuple[Mapping[str, float], Mapping[str, float]] | None = None) -> pa.Table:
    """The stored rows of `results`, sorted by account_id. `changes`: the scores 7 and 30 days before (read from
    the store when not given)."""
    ordered = sorted(results, key=lambda r: r.account_id)
    week, month = changes if changes is not None else _changes(ws, as_of)
    encode = _ComponentsJson()

    def change(old: float | None, new: float) -> float | None:
        return None if old is None else round(new - old, 6)

    data = {
        "account_id": [r.account_id for r in ordered],
        "as_of": [as_of] * len(ordered),
        "score": [r.score for r in ordered],
        "band": [r.band for r in ordered],
        "raw_band": [r.raw_band for r in ordered],
        "pending_band": [r.pending_band for r in ordered],
        "pending_since": [r.pending_since for r in ordered],
        "scorecard": [r.scorecard for r in ordered],
        "scorecard_hash": [r.scorecard_hash for r in ordered],
        "components": [encode(r.components) for r in ordered],
        "reasons": [_dumps(list(r.reasons)) for r in ordered],
        "path_to_green": [_dumps([p.as_dict() for p in r.path_to_green]) for r in ordered],
        "green_reachable": [r.green_reachable for r in ordered],
        "change_7d": [change(week.get(r.account_id), r.score) for r in ordered],
        "change_30d": [change(month.get(r.account_id), r.score) for r in ordered],
    }
    return pa.table(data, schema=SCHEMA)


def _changes(ws: Workspace, as_of: date) -> tuple[dict[str, float], dict[str, float]]:
    return read_scores(ws, as_of - timedelta(days=7)), read_scores(ws, as_of - timedelta(days=30))


def write_results(ws: Workspace, as_of: date, results: Sequence[HealthResult]) -> Path:
    """Store one date's results, replacing what was stored for that date. Returns the file."""
    return write_scored(ws, as_of, [results])[0]


def write_scored(ws: Workspace, as_of: date, batches: Iterable[Sequence[HealthResult]]) -> tuple[Path, pa.Table]:
    """Store one date's results, given in batches, replacing what was stored for that date.

    Each batch is turned into rows and written before the next is asked for, so a day of a million accounts never
    holds more than one batch of `HealthResult`s (they take kilobytes each). Batches must come in account_id
    order (each batch's accounts after the previous batch's) so the file stays sorted; that is checked.
    Returns the file and the stored `SUMMARY_COLUMNS` of every row.
    """
    changes = _changes(ws, as_of)
    target = day_file(ws, as_of)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".scores-", suffix=".parquet.tmp", dir=target.parent)
    os.close(fd)
    summaries: list[pa.Table] = []
    try:
        with pq.ParquetWriter(tmp, SCHEMA) as writer:
            for batch in batches:
                if any(r.as_of != as_of for r in batch):
                    raise ValueError(f"every result must be for {as_of}")
                with _no_gc():
                    table = results_table(ws, as_of, batch, changes)
                _check_order(summaries, table)
                writer.write_table(table, row_group_size=ROW_GROUP_ROWS)
                summaries.append(table.select(list(SUMMARY_COLUMNS)))
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    summary = pa.concat_tables(summaries) if summaries else SCHEMA.empty_table().select(list(SUMMARY_COLUMNS))
    log.info("health.store.write as_of=%s accounts=%d", as_of, summary.num_rows)
    return target, summary


def _check_order(before: list[pa.Table], table: pa.Table) -> None:
    if not before or not table.num_rows or not before[-1].num_rows:
        return
    last, first = before[-1].column("account_id")[-1].as_py(), table.column("account_id")[0].as_py()
    if first <= last:
        raise ValueError(f"batches out of account_id order: {first!r} after {last!r}")


def read_account(ws: Workspace, as_of: date, account_id: str) -> dict[str, Any] | None:
    """One stored row with its JSON columns decoded, or None."""
    path = day_file(ws, as_of)
    if not path.is_file():
        return None
    # The filter goes into the Parquet read, so only the row groups that can hold the account are decoded.
    rows = pq.read_table(path, filters=[("account_id", "==", account_id)]).to_pylist()
    if not rows:
        return None
    row: dict[str, Any] = rows[0]
    for name in ("components", "reasons", "path_to_green"):
        row[name] = json.loads(row[name])
    return row
