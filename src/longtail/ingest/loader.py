"""`longtail load`: stream files of one kind into the store, rejecting bad rows with reasons."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from longtail.core.contract import KindSpec, kind_spec
from longtail.errors import ConfigError, UnreadableInput, UsageError
from longtail.ingest.blocks import Problem
from longtail.ingest.formats import Chunk, Source, open_source
from longtail.ingest.rejects import RejectsWriter
from longtail.ingest.validate import ATTRIBUTES, LINE, Reject, validate_chunk, value_type
from longtail.settings import Workspace
from longtail.store.db import make_engine, migrate
from longtail.store.entities import EntityStore, UpsertCounts
from longtail.warehouse.entities import write_snapshot
from longtail.warehouse.events import LandingFile, Warehouse

Progress = Callable[[Path, float, int], None]
"""Called with (file, fraction of the file done, rows read so far)."""


@dataclass
class LoadResult:
    kind: str
    read: int = 0
    loaded: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    rejects_file: Path | None = None
    ignored_columns: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "read": self.read,
            "loaded": self.loaded,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "rejected": self.rejected,
            "rejects_file": str(self.rejects_file) if self.rejects_file else None,
        }


def _mapping(ws: Workspace, kind: KindSpec) -> dict[str, str]:
    """Source column -> contract column, from `[mapping.<kind>]` (contract = source)."""
    mapping = ws.settings.mapping.get(kind.name, {})
    unknown = sorted(set(mapping) - set(kind.names))
    if unknown:
        raise ConfigError(f"[mapping.{kind.name}] maps unknown contract columns: {', '.join(unknown)}")
    return {source: target for target, source in mapping.items()}


def _check_header(source: Source, kind: KindSpec, rename: dict[str, str]) -> list[str]:
    """Fail fast on a header that cannot be this kind; returns columns that will be ignored."""
    if source.columns is None:
        return []
    mapped = [rename.get(c, c) for c in source.columns]
    missing = [r for r in kind.required if r not in mapped]
    if kind.name == "subscriptions" and "mrr" not in mapped and "arr" not in mapped:
        missing.append("mrr or arr")
    if missing:
        found = ", ".join(source.columns[:20])
        raise UnreadableInput(
            f"{source.path}: missing required column(s) {', '.join(missing)} for {kind.name}; "
            f"found: {found}. Map your names in longtail.toml under [mapping.{kind.name}]."
        )
    return [] if kind.keeps_extra_columns else [c for c in mapped if c not in kind.names]


class _KeyTracker:
    """Finds keys repeated within one file (the later rows are rejected)."""

    def __init__(self, key: tuple[str, ...]) -> None:
        self.key = key
        self.seen: dict[tuple[Any, ...], int] = {}

    def duplicates(self, table: pa.Table) -> tuple[np.ndarray[Any, Any], list[Reject]]:
        cols = [table.column(k).to_pylist() for k in self.key]
        lines = table.column(LINE).to_pylist()
        bad = np.zeros(table.num_rows, dtype=bool)
        rejects: list[Reject] = []
        for i, values in enumerate(zip(*cols, strict=True)):
            first = self.seen.setdefault(values, lines[i])
            if first != lines[i]:
                bad[i] = True
                shown = "/".join(str(v) for v in values)
                rejects.append(Reject(lines[i], self.key[0], f"duplicate key {shown!r} (first at line {first})", shown))
        return bad, rejects


class _References:
    """Checks that referenced keys (accounts, contacts) exist, for one chunk at a time.

    The known keys become a Python set once per load; each chunk checks only its distinct values
    against it. (Arrow's `is_in` would rebuild a hash table of every known key for every chunk:
    2 s per chunk with 3M contacts.)
    """

    def __init__(self, store: EntityStore, kind: KindSpec) -> None:
        self.sets = {ref.field: (ref, set(store.keys(ref.kind, ref.key))) for ref in kind.references}

    def unknown(self, table: pa.Table) -> tuple[np.ndarray[Any, Any], list[Reject]]:
        bad = np.zeros(table.num_rows, dtype=bool)
        rejects: list[Reject] = []
        lines = table.column(LINE)
        for name, (ref, known) in self.sets.items():
            values = table.column(name)
            missing = [v for v in pc.unique(values).to_pylist() if v is not None and v not in known]
            if not missing:
                continue
            mask = np.asarray(pc.is_in(values, value_set=pa.array(missing, pa.string())).to_numpy(
                zero_copy_only=False), dtype=bool)
            for i in np.flatnonzero(mask).tolist():
                value = values[i].as_py()
                rejects.append(Reject(lines[i].as_py(), name, f"unknown {ref.kind[:-1]} {value!r}", str(value)))
            bad |= mask
        return bad, rejects


class Loader:
    def __init__(self, ws: Workspace, kind_name: str, rejects_path: Path) -> None:
        try:
            self.kind = kind_spec(kind_name)
        except KeyError as exc:
            raise UsageError(str(exc.args[0])) from exc
        self.ws = ws
        self.rename = _mapping(ws, self.kind)
        engine = make_engine(ws.database_url)
        migrate(engine)
        self.store = EntityStore(engine)
        self.refs = _References(self.store, self.kind)
        self.rejects = RejectsWriter(rejects_path)
        self.result = LoadResult(self.kind.name)
        self.counts = UpsertCounts()
        self.warehouse = Warehouse(ws.warehouse_url, ws.state_dir)
        self.attr_types: dict[str, str] = {}

    def load(self, paths: Sequence[Path], progress: Progress | None = None) -> LoadResult:
        sources = [open_source(p) for p in paths]  # open all first: fail before loading anything
        for source in sources:
            ignored = _check_header(source, self.kind, self.rename)
            self.result.ignored_columns.extend(c for c in ignored if c not in self.result.ignored_columns)
        try:
            for source in sources:
                self._load_source(source, progress)
        finally:
            self.rejects.close()
        if self.kind.name == "events":
            pa.default_memory_pool().release_unused()  # hand Arrow's buffers back before DuckDB runs
            compaction = self.warehouse.compact()
            self.counts = UpsertCounts(compaction.inserted, 0, compaction.duplicates)
        else:
            self.store.register_attributes(self.kind.name, self.attr_types)
            write_snapshot(self.store, self.kind.name, self.ws.tables_dir)
        self.result.loaded = self.counts.inserted
        self.result.updated = self.counts.updated
        self.result.unchanged = self.counts.unchanged
        self.result.rejects_file = self.rejects.written
        return self.result

    def _load_source(self, source: Source, progress: Progress | None) -> None:
        tracker = _KeyTracker(self.kind.key) if self.kind.name != "events" else None
        landing: LandingFile | None = self.warehouse.open_landing() if self.kind.name == "events" else None
        try:
            for chunk in source.chunks:
                self._load_chunk(source.path, chunk, tracker, landing)
                if progress is not None:
                    progress(source.path, source.progress(), self.result.read)
            if progress is not None:
                progress(source.path, 1.0, self.result.read)
        finally:
            if landing is not None:
                landing.close()

    def _load_chunk(self, path: Path, chunk: Chunk, tracker: _KeyTracker | None, landing: LandingFile | None) -> None:
        self.result.read += chunk.table.num_rows + len(chunk.problems)
        self._reject(path, [_problem_reject(p) for p in chunk.problems], len(chunk.problems))
        raw = chunk.table.rename_columns([self.rename.get(c, c) for c in chunk.table.column_names])
        checked = validate_chunk(raw, chunk.lines, self.kind, self.ws.settings.timezone)
        self._reject(path, checked.rejects, checked.rejected_rows)
        table = checked.table
        for check in ([tracker.duplicates] if tracker else []) + [self.refs.unknown]:
            bad, rejects = check(table)
            if bad.any():
                self._reject(path, rejects, int(bad.sum()))
                table = table.filter(pa.array(~bad))
        if landing is not None:
            landing.write(table)
            return
        rows = table.drop([LINE]).to_pylist()
        self._note_attributes(rows)
        self.counts += self.store.upsert(self.kind.name, rows, self.kind.key)

    def _reject(self, path: Path, rejects: list[Reject], rows: int) -> None:
        self.rejects.write(path, rejects)
        self.result.rejected += rows

    def _note_attributes(self, rows: list[dict[str, Any]]) -> None:
        from longtail.store.entities import widen

        for row in rows:
            text = row.get(ATTRIBUTES)
            if not text:
                continue
            for name, value in json.loads(text).items():
                typ = value_type(value)
                known = self.attr_types.get(name)
                self.attr_types[name] = typ if known is None else widen(known, typ)


def _problem_reject(problem: Problem) -> Reject:
    return Reject(problem.line, "", problem.reason, problem.raw[:200])


def rejects_path(ws: Workspace, kind: str, now: datetime) -> Path:
    stamp = now.strftime("%Y%m%dT%H%M%S")
    path = ws.rejects_dir / f"{kind}-{stamp}.csv"
    n = 1
    while path.exists():
        n += 1
        path = ws.rejects_dir / f"{kind}-{stamp}-{n}.csv"
    return path


def load_files(ws: Workspace, kind: str, paths: Sequence[Path], *, now: datetime,
               progress: Progress | None = None) -> LoadResult:
    """Load `paths` of one kind into the workspace; `now` names the rejects file and the run."""
    loader = Loader(ws, kind, rejects_path(ws, kind, now))
    result = loader.load(paths, progress)
    loader.store.record_run({
        "kind": kind, "sources": json.dumps([str(p) for p in paths]), "read": result.read,
        "loaded": result.loaded, "updated": result.updated, "unchanged": result.unchanged,
        "rejected": result.rejected, "rejects_file": str(result.rejects_file) if result.rejects_file else None,
        "finished_at": now,
    })
    return result
