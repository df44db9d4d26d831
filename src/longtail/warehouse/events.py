"""Events in the warehouse: land as Parquet files, then compact them into the event store.

DuckDB allows one writing process. Producers (the loader, later the tracking API) only ever write
new Parquet files into the landing folder, which needs no lock; compaction moves them into the event
store, de-duplicated. So a web server ingesting events and a batch run never fight over one file.
"""

from __future__ import annotations

import fcntl
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.types as ir
import pyarrow as pa
import pyarrow.parquet as pq
from ibis import _

from longtail.core.contract import EVENTS
from longtail.ingest.validate import LINE, arrow_schema

EVENT_COLUMNS = ("event_id", "account_id", "contact_id", "event", "ts", "value", "properties")
PART_ORDER = ("account_id", "ts")
# Parts are sorted by PART_ORDER and cut into row groups of this many rows, so each row group spans a narrow
# range of account ids and a reader of one account (the account page, through `account_reads`) decodes one or
# two of them. Footers are parsed once per part and cached, so small groups cost no footer parsing per request:
# one account's read at 10M events took 4-7 ms with 16k-row groups and 6-27 ms with 64k (without the cache it
# was 60 ms with 16k and 28 ms with 64k, all in footer parsing).
PART_ROW_GROUP_ROWS = 16_384


def fsync_path(path: Path) -> None:
    """Flush a file's data, or a folder's entry list, to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def durable_replace(partial: Path, final: Path) -> None:
    """Rename `partial` to `final` atomically and durably: the file's bytes reach the disk before the rename,
    and the folder entry after it, so a power cut leaves either no file or the whole file."""
    fsync_path(partial)
    os.replace(partial, final)
    fsync_path(final.parent)


def events_schema() -> pa.Schema:
    full = arrow_schema(EVENTS)
    return pa.schema([full.field(name) for name in EVENT_COLUMNS])


class LandingFile:
    """One Parquet file being written into the landing folder; visible only once closed."""

    def __init__(self, landing: Path) -> None:
        landing.mkdir(parents=True, exist_ok=True)
        name = f"events-{uuid.uuid4().hex}.parquet"
        self.final = landing / name
        self.partial = landing / f".{name}.partial"
        # Landing files live minutes: a fast codec beats a small one.
        self._writer = pq.ParquetWriter(self.partial, events_schema(), compression="snappy")
        self.rows = 0

    def write(self, table: pa.Table) -> None:
        if LINE in table.column_names:
            table = table.drop([LINE])
        self._writer.write_table(table.select(list(EVENT_COLUMNS)).cast(events_schema()))
        self.rows += table.num_rows

    def close(self) -> Path | None:
        """Finish the file and publish it; returns only once it is on disk (None when nothing was written)."""
        self._writer.close()
        if self.rows == 0:
            self.partial.unlink()
            return None
        # Atomic, so compaction never sees half a file; durable, so a batch acknowledged after close() survives
        # a power cut, not only a process crash.
        durable_replace(self.partial, self.final)
        return self.final


@dataclass
class Compaction:
    files: int
    rows: int
    inserted: int

    @property
    def duplicates(self) -> int:
        return self.rows - self.inserted


def _with_ids(staged: ir.Table) -> ir.Table:
    """Fill missing event ids with a content hash, so identical events de-duplicate."""
    content = (
        _.account_id.concat(
            "|", ibis.coalesce(_.contact_id, ""),
            "|", _.event,
            "|", _.ts.cast("string"),
            "|", ibis.coalesce(_.value.cast("string"), ""),
            "|", ibis.coalesce(_.properties, ""),
        )
    )
    return staged.mutate(event_id=ibis.coalesce(_.event_id, "h_" + content.hexdigest("md5")))


class Warehouse:
    """Events as immutable Parquet parts under `<state>/events/`, read through Ibis.

    Parquet parts (rather than rows inside the DuckDB file) keep the event store readable by any
    engine (DuckDB, Spark, Polars) and by many readers at once; compaction is the only writer and
    holds a lock file while it runs.
    """

    def __init__(self, url: str, state_dir: Path, memory_limit: str = "1GB") -> None:
        self.url = url
        self.landing = state_dir / "landing" / "events"
        self.store = state_dir / "events"
        self.memory_limit = memory_limit

    @contextmanager
    def connect(self) -> Iterator[ibis.BaseBackend]:
        """The analytic warehouse named by `warehouse_url` (DuckDB, PySpark, ...)."""
        con = ibis.connect(self.url)
        if con.name == "duckdb":
            self._tune(con)
        try:
            yield con
        finally:
            con.disconnect()

    @contextmanager
    def _local(self) -> Iterator[ibis.BaseBackend]:
        """An in-process DuckDB for maintaining the Parquet parts, whatever the warehouse is."""
        con = ibis.duckdb.connect()
        self._tune(con)
        try:
            yield con
        finally:
            con.disconnect()

    def _tune(self, con: ibis.BaseBackend) -> None:
        # Spill to disk rather than grow: de-duplicating 10M events otherwise peaks near 2.5 GiB.
        con.raw_sql(f"SET memory_limit = '{self.memory_limit}'")
        con.raw_sql("SET preserve_insertion_order = false")

    def open_landing(self) -> LandingFile:
        return LandingFile(self.landing)

    def landed(self) -> list[Path]:
        if not self.landing.is_dir():
            return []
        return sorted(self.landing.glob("events-*.parquet"))

    def parts(self) -> list[Path]:
        if not self.store.is_dir():
            return []
        return sorted(self.store.glob("part-*.parquet"))

    def events(self, con: ibis.BaseBackend) -> ir.Table:
        """The events table as an Ibis expression on `con` (empty when nothing is loaded)."""
        if not self.parts():
            return ibis.memtable(events_schema().empty_table())
        return con.read_parquet(self._glob())

    def _glob(self) -> str:
        # One glob rather than a list of files: DuckDB and Spark both read it.
        return str(self.store / "part-*.parquet")

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.store.mkdir(parents=True, exist_ok=True)
        with (self.store / ".compaction.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def compact(self) -> Compaction:
        """Move every landed file into the event store, skipping events already there."""
        with self._locked():
            files = self.landed()
            if not files:
                return Compaction(0, 0, 0)
            with self._local() as con:
                inserted, rows = self._merge(con, files)
            for f in files:
                f.unlink(missing_ok=True)
        return Compaction(len(files), rows, inserted)

    def _merge(self, con: ibis.BaseBackend, files: list[Path]) -> tuple[int, int]:
        staged = con.read_parquet([str(f) for f in files])
        stats = staged.aggregate(
            rows=_.count(), ids=_.event_id.nunique(), missing=_.event_id.isnull().sum()
        ).to_pyarrow().to_pylist()[0]
        rows = int(stats["rows"])
        existing = self.parts()
        # Even a first load of unique, identified events is rewritten rather than renamed into place: landed
        # files are in arrival order, and only a part sorted by account lets per-account reads skip row groups.
        if stats["missing"]:
            staged = _with_ids(staged)
        if stats["missing"] or stats["ids"] != rows:
            # Repeated ids (or content hashes) within the landed files: keep the first of each.
            ranked = staged.mutate(_rank=ibis.row_number().over(group_by=_.event_id, order_by=_.ts))
            staged = ranked.filter(_._rank == 0).drop("_rank")
        if existing:
            known = con.read_parquet(self._glob()).select("event_id")
            staged = staged.anti_join(known, "event_id")
        return self._write_part(con, staged.select(*EVENT_COLUMNS)), rows

    def _write_part(self, con: ibis.BaseBackend, fresh: ir.Table) -> int:
        """Write one part sorted by account and time; durable before compaction deletes the landed files."""
        partial = self.store / f".part-{uuid.uuid4().hex}.partial"
        con.to_parquet(fresh.order_by(list(PART_ORDER)), str(partial), row_group_size=PART_ROW_GROUP_ROWS)
        written = int(pq.ParquetFile(partial).metadata.num_rows)
        if written == 0:
            partial.unlink()
            return 0
        durable_replace(partial, self.store / f"part-{uuid.uuid4().hex}.parquet")
        return written

    def count(self) -> int:
        return sum(int(pq.ParquetFile(p).metadata.num_rows) for p in self.parts())

    def event_summary(self) -> dict[str, Any]:
        if not self.parts():
            return {"events": 0}
        with self._local() as con:
            agg = self.events(con).aggregate(
                events=_.count(), accounts=_.account_id.nunique(), kinds=_.event.nunique(),
                first=_.ts.min(), last=_.ts.max(),
            ).to_pyarrow().to_pylist()[0]
            return dict(agg)
