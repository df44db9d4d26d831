"""What the page views share: a cached engine per database, and fast per-account reads of stored health."""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import Engine

from longtail.analytics.health_store import day_file, decoded_row
from longtail.settings import Workspace
from longtail.store.db import make_engine
from longtail.warehouse.account_reads import account_rows

# Each cached health day holds three columns of every account (about 3 MB per 100k accounts).
HEALTH_DAYS_CACHED = 32


@lru_cache(maxsize=8)
def _engine_for(url: str) -> Engine:
    return make_engine(url)


def engine_of(ws: Workspace) -> Engine:
    """One engine (and connection pool) per database URL for the life of the process: pages are read often."""
    return _engine_for(ws.database_url)


def aware(value: datetime | None) -> datetime | None:
    """A stored timestamp in UTC (SQLite hands them back without an offset; everything is written in UTC)."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def account_link(account_id: str) -> str:
    """The account page's path; the id is percent-encoded because ids come from customer data."""
    return f"/accounts/{quote(account_id, safe='')}"


def day_start(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


@dataclass(frozen=True)
class _DayColumns:
    ids: pa.Array
    scores: pa.Array
    bands: pa.Array


class _SortedIds(Sequence[str]):
    """A lazy view of a sorted string array for `bisect`, so a lookup converts ~17 values, not 100k."""

    def __init__(self, ids: pa.Array) -> None:
        self.ids = ids

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: Any) -> Any:
        return self.ids[index].as_py()


@lru_cache(maxsize=HEALTH_DAYS_CACHED)
def _day_columns(path: str, mtime_ns: int, size: int) -> _DayColumns:
    # mtime and size are part of the key so a replayed (rewritten) day is read again.
    del mtime_ns, size
    table = pq.read_table(path, columns=["account_id", "score", "band"])
    return _DayColumns(table.column("account_id").combine_chunks(), table.column("score").combine_chunks(),
                       table.column("band").combine_chunks())


def stored_score(ws: Workspace, day: date, account_id: str) -> tuple[float, str] | None:
    """(score, band) stored for one account on one day, or None.

    Health files are sorted by account_id (see health_store), so a binary search over the cached id column
    finds the row without scanning it.
    """
    path = day_file(ws, day)
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    cols = _day_columns(str(path), stat.st_mtime_ns, stat.st_size)
    ids = _SortedIds(cols.ids)
    i = bisect.bisect_left(ids, account_id)
    if i >= len(ids) or ids[i] != account_id:
        return None
    return float(cols.scores[i].as_py()), str(cols.bands[i].as_py())


def stored_row(ws: Workspace, day: date, account_id: str) -> dict[str, Any] | None:
    """The full stored health row of one account, detail columns as lists; only the row groups that can hold the
    account are decoded, found from the file's footer parsed once (`account_rows`)."""
    path: Path = day_file(ws, day)
    if not path.is_file():
        return None
    rows = account_rows([path], account_id).to_pylist()
    if not rows:
        return None
    return decoded_row(rows[0])
