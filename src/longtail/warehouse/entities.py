"""Snapshots of the operational entities (accounts, subscriptions, ...) for the warehouse.

Analytics joins events with accounts, subscriptions, contacts, tickets and surveys. The operational
database is the source of truth for those; after each load we export the kind as one Parquet file
(written aside, then renamed atomically), so every analytic engine reads the same columns the
data contract defines, without holding a connection to the operational database.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.types as ir
import pyarrow as pa
import pyarrow.parquet as pq

from longtail.core.contract import kind_spec
from longtail.ingest.validate import ATTRIBUTES, LINE, arrow_schema
from longtail.store.entities import EntityStore

BATCH = 50_000


def snapshot_schema(kind: str) -> pa.Schema:
    schema = arrow_schema(kind_spec(kind))
    return schema.remove(schema.get_field_index(LINE))


def _arrow_rows(rows: list[dict[str, Any]], schema: pa.Schema) -> pa.Table:
    """Column by column: a snapshot is rewritten after every load, so this loop is on the daily path."""
    arrays = []
    for f in schema:
        values = [row.get(f.name) for row in rows]
        if f.name == ATTRIBUTES:
            values = [None if v is None else json.dumps(v, sort_keys=True) for v in values]
        elif pa.types.is_floating(f.type):
            values = [None if v is None else float(v) for v in values]
        arrays.append(pa.array(values, f.type))
    return pa.Table.from_arrays(arrays, schema=schema)


def write_snapshot(store: EntityStore, kind: str, folder: Path) -> Path:
    """Export every row of `kind` to `<folder>/<kind>.parquet`; returns the file."""
    folder.mkdir(parents=True, exist_ok=True)
    schema = snapshot_schema(kind)
    final = folder / f"{kind}.parquet"
    partial = folder / f".{kind}.parquet.partial"
    with pq.ParquetWriter(partial, schema, compression="zstd") as writer:
        for batch in store.iter_rows(kind, BATCH):
            writer.write_table(_arrow_rows(batch, schema))
    os.replace(partial, final)
    return final


def entity_table(con: ibis.BaseBackend, folder: Path, kind: str) -> ir.Table:
    """The snapshot of `kind` as an Ibis table on `con` (empty when nothing was loaded)."""
    path = folder / f"{kind}.parquet"
    if not path.is_file():
        return ibis.memtable(snapshot_schema(kind).empty_table())
    return con.read_parquet(str(path))
