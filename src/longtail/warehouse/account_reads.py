"""One account's rows from Parquet files sorted by account (event parts, health days), for one-account pages.

Parts are sorted by account and cut into small row groups (see `events.PART_ROW_GROUP_ROWS`), so one account
lives in one or two row groups. Finding them from the footer statistics on every request meant parsing every
row group's footer each time (60 ms at 10M events, most of the account page). The footers are parsed once per
part instead, and each row group's account-id range is kept in memory; a request then reads only the row
groups whose range holds the account. A part is identified by its path, size and modification time, so a
compaction that writes a new part (or replaces one) is picked up on the next read.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

_PartKey = tuple[str, int, int]


@dataclass(frozen=True)
class _PartIndex:
    fragment: ds.ParquetFileFragment
    schema: pa.Schema
    low: npt.NDArray[np.object_]  # each row group's smallest and largest account id ("" without statistics)
    high: npt.NDArray[np.object_]
    unknown: npt.NDArray[np.bool_]  # row groups whose footer has no account-id statistics: always read

    def row_groups(self, account_id: str) -> list[int]:
        """Row groups that may hold `account_id`."""
        hit = self.unknown | ((self.low <= account_id) & (self.high >= account_id))
        return [int(i) for i in np.nonzero(hit)[0]]


MAX_CACHED_FILES = 2_048  # footers kept in memory, a few kB each
_cache: dict[_PartKey, _PartIndex] = {}
_lock = threading.Lock()


def _key(path: Path) -> _PartKey:
    stat = path.stat()
    return (str(path), stat.st_size, stat.st_mtime_ns)


def _index(path: Path) -> _PartIndex:
    dataset = ds.dataset(str(path), format="parquet")
    fragment = next(iter(dataset.get_fragments()))
    assert isinstance(fragment, ds.ParquetFileFragment)
    fragment.ensure_complete_metadata()
    meta = fragment.metadata
    column = meta.schema.to_arrow_schema().get_field_index("account_id")
    low: list[str] = []
    high: list[str] = []
    unknown: list[bool] = []
    for i in range(meta.num_row_groups):
        stats = meta.row_group(i).column(column).statistics if column >= 0 else None
        lo, hi = (stats.min, stats.max) if stats is not None and stats.has_min_max else (None, None)
        usable = isinstance(lo, str) and isinstance(hi, str)
        low.append(lo if isinstance(lo, str) else "")
        high.append(hi if isinstance(hi, str) else "")
        unknown.append(not usable)
    return _PartIndex(fragment, dataset.schema, np.array(low, dtype=object), np.array(high, dtype=object),
                      np.array(unknown, dtype=bool))


def _indexes(parts: Sequence[Path]) -> list[_PartIndex]:
    keys = [_key(p) for p in parts]
    with _lock:
        missing = [(p, k) for p, k in zip(parts, keys, strict=True) if k not in _cache]
        if missing and len(_cache) + len(missing) > MAX_CACHED_FILES:
            _cache.clear()  # files compacted away or days long gone; rebuilding costs one footer each
        for path, key in missing:
            for replaced in [k for k in _cache if k[0] == key[0]]:
                del _cache[replaced]  # the same path rewritten (a re-scored day): its old footer is wrong
            _cache[key] = _index(path)
        return [_cache[k] for k in keys]


def account_rows(parts: Sequence[Path], account_id: str, columns: Sequence[str] | None = None,
                 where: pc.Expression | None = None) -> pa.Table:
    """The rows of `account_id` (and `where`) from `parts`, with `columns` (all when None), reading only the row
    groups that can hold it. Any Parquet files sorted by `account_id` qualify (event parts, stored health days).

    `parts` must not be empty (the schema comes from them)."""
    indexes = _indexes(parts)
    fragments = [index.fragment.subset(row_group_ids=groups) for index in indexes
                 if (groups := index.row_groups(account_id))]
    condition = ds.field("account_id") == account_id
    if where is not None:
        condition = condition & where
    schema = indexes[0].schema
    dataset = ds.FileSystemDataset(fragments, schema, ds.ParquetFileFormat(), indexes[0].fragment.filesystem)
    return dataset.to_table(columns=None if columns is None else list(columns), filter=condition)
