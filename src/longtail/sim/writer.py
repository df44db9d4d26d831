"""Streaming writers: one file per kind, CSV or Parquet, byte-identical per seed."""

from __future__ import annotations

from pathlib import Path
from types import TracebackType

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

FORMATS = ("csv", "parquet")
# Dictionary-encode only low-cardinality text: ids would build a dictionary and then fall back.
_LOW_CARDINALITY = frozenset({
    "event", "properties", "priority", "status", "kind", "comment", "role", "title", "plan",
    "currency", "industry", "country", "timezone", "plan_family", "billing", "tier", "outcome",
    "cause", "causes", "skills", "tiers",
})


def parquet_writer(path: Path, schema: pa.Schema) -> pq.ParquetWriter:
    """zstd-compressed writer with dictionaries for low-cardinality text only."""
    dictionary = [f.name for f in schema if f.name in _LOW_CARDINALITY]
    return pq.ParquetWriter(str(path), schema, compression="zstd", use_dictionary=dictionary)


def _csv_ready(table: pa.Table) -> pa.Table:
    """ISO 8601 timestamps with a Z (pyarrow's CSV writer uses a space and microseconds)."""
    cols = []
    for name in table.column_names:
        col = table[name]
        if pa.types.is_timestamp(col.type):
            col = pc.strftime(pc.cast(col, pa.timestamp("s", tz="UTC")), format="%Y-%m-%dT%H:%M:%SZ")
        cols.append(col)
    return pa.table(cols, names=table.column_names)


class TableWriter:
    """Append tables of one schema to `<dir>/<kind>.<fmt>` (row group / batch per call)."""

    def __init__(self, directory: Path, kind: str, fmt: str) -> None:
        if fmt not in FORMATS:
            raise ValueError(f"unknown format {fmt!r}; expected one of {FORMATS}")
        self.path = directory / f"{kind}.{fmt}"
        self.fmt = fmt
        self.rows = 0
        self._csv: pcsv.CSVWriter | None = None
        self._pq: pq.ParquetWriter | None = None

    def write(self, table: pa.Table) -> None:
        self.rows += table.num_rows
        if self.fmt == "csv":
            table = _csv_ready(table)
            if self._csv is None:
                self._csv = pcsv.CSVWriter(str(self.path), table.schema)
            self._csv.write_table(table)
        else:
            if self._pq is None:
                self._pq = parquet_writer(self.path, table.schema)
            self._pq.write_table(table, row_group_size=max(table.num_rows, 1))

    def close(self, empty: pa.Schema | None = None) -> None:
        """Finish the file; an empty kind still gets a header / schema."""
        if self._csv is None and self._pq is None and empty is not None:
            self.write(empty.empty_table())
        if self._csv is not None:
            self._csv.close()
        if self._pq is not None:
            self._pq.close()

    def __enter__(self) -> TableWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def write_table(directory: Path, kind: str, fmt: str, table: pa.Table) -> int:
    """Write a whole table at once; returns its row count."""
    with TableWriter(directory, kind, fmt) as w:
        w.write(table)
    return int(table.num_rows)
