"""Events in the warehouse: land as Parquet files, then compact into the events table.

DuckDB allows one writing process. Producers (the loader, later the tracking API) only ever write
new Parquet files into the landing folder, which needs no lock; a batch run compacts them into the
warehouse table. So a web server ingesting events and a batch run never fight over one file.
"""

from __future__ import annotations

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
TABLE = "events"


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
        self._writer.close()
        if self.rows == 0:
            self.partial.unlink()
            return None
        os.replace(self.partial, self.final)  # atomic: compaction never sees half a file
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
    def __init__(self, url: str, landing: Path, memory_limit: str = "1GB") -> None:
        self.url = url
        self.landing = landing / "events"
        self.memory_limit = memory_limit

    @contextmanager
    def connect(self) -> Iterator[ibis.BaseBackend]:
        con = ibis.connect(self.url)
        if con.name == "duckdb":
            # Spill to disk rather than grow: compaction of 10M events otherwise peaks near 2.5 GiB.
            con.raw_sql(f"SET memory_limit = '{self.memory_limit}'")
            con.raw_sql("SET preserve_insertion_order = false")
        try:
            yield con
        finally:
            con.disconnect()

    def open_landing(self) -> LandingFile:
        return LandingFile(self.landing)

    def landed(self) -> list[Path]:
        if not self.landing.is_dir():
            return []
        return sorted(self.landing.glob("events-*.parquet"))

    def compact(self) -> Compaction:
        """Move every landed file into the events table, skipping events already there."""
        files = self.landed()
        if not files:
            return Compaction(0, 0, 0)
        with self.connect() as con:
            if TABLE not in con.list_tables():
                con.create_table(TABLE, schema=ibis.Schema.from_pyarrow(events_schema()))
            target = con.table(TABLE)
            before = int(target.count().execute())
            staged = _with_ids(con.read_parquet([str(f) for f in files]))
            stats = staged.aggregate(rows=_.count(), ids=_.event_id.nunique()).to_pyarrow().to_pylist()[0]
            rows = int(stats["rows"])
            if stats["ids"] != rows:
                # Repeated ids within the landed files: keep the first of each (rare, so only
                # then pay for the window).
                ranked = staged.mutate(_rank=ibis.row_number().over(group_by=_.event_id, order_by=_.ts))
                staged = ranked.filter(_._rank == 0).drop("_rank")
            fresh = staged.anti_join(target, "event_id").select(*EVENT_COLUMNS)
            con.insert(TABLE, fresh)
            after = int(con.table(TABLE).count().execute())
        for f in files:
            f.unlink()
        return Compaction(len(files), rows, after - before)

    def count(self) -> int:
        with self.connect() as con:
            if TABLE not in con.list_tables():
                return 0
            return int(con.table(TABLE).count().execute())

    def event_summary(self) -> dict[str, Any]:
        with self.connect() as con:
            if TABLE not in con.list_tables():
                return {"events": 0}
            t = con.table(TABLE)
            agg = t.aggregate(
                events=_.count(), accounts=_.account_id.nunique(), kinds=_.event.nunique(),
                first=_.ts.min(), last=_.ts.max(),
            ).to_pyarrow().to_pylist()[0]
            return dict(agg)
