"""`score_day` scores and stores a day in batches: the stored day is the one a single batch gives, scoring runs
at most one batch ahead of storing (memory), and a batch out of account order is refused without touching the
stored day."""

from __future__ import annotations

import time
from datetime import date, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from longtail.analytics import health_run, health_store
from longtail.core.health import default_scorecards
from longtail.core.health.columnar import PREVIOUS_COLUMNS, RESULT_SCHEMA, carried_metrics, score_columns
from longtail.core.health.loader import ScorecardSet
from longtail.settings import Workspace, init_workspace
from tests.health.cards import USAGE

CARDS = default_scorecards()
DAY = date(2026, 3, 2)


def features(day: date, n: int, shift: int = 0) -> pa.Table:
    """`n` customers in shuffled id order, with usage that differs between accounts and days."""
    ids = [f"acc-{(i * 7919) % n:05d}" for i in range(n)]
    usage = [float((i * 13 + shift) % 40) for i in range(n)]
    return pa.table({
        "account_id": ids, "as_of": [day] * n, "is_customer": [1] * n,
        "events_28d": usage, "events_prev_28d": [float(u + 5) for u in usage],
        "active_users_28d": [u % 9 for u in usage], "seat_utilisation": [u / 50.0 for u in usage],
        "days_since_last_activity": [float(i % 30) for i in range(n)],
        "tickets_high_priority_open": [float(i % 3) for i in range(n)],
        "nps_latest": pa.array([None if i % 4 else float(i % 11) for i in range(n)], pa.float64()),
    })


def history(ws: Workspace, batch: int, monkeypatch: pytest.MonkeyPatch) -> list[pa.Table]:
    """Three stored days (the last reads the first two: hysteresis and the 7-day change) at a batch size."""
    monkeypatch.setattr(health_run, "SCORE_BATCH", batch)
    days = [DAY - timedelta(days=7), DAY - timedelta(days=1), DAY]
    summaries = [health_run.score_day(ws, d, CARDS, features(d, 500, shift=k)) for k, d in enumerate(days)]
    for d, summary in zip(days, summaries, strict=True):
        stored = health_store.read_day(ws, d)
        assert stored is not None
        assert summary.equals(stored.select(["account_id", "score", "band"]))
    return [pq.read_table(health_store.day_file(ws, d)) for d in days]


def test_batches_store_what_one_batch_stores(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    whole = history(init_workspace(tmp_path / "whole"), 10_000, monkeypatch)
    small = history(init_workspace(tmp_path / "small"), 64, monkeypatch)
    assert [t.num_rows for t in small] == [500, 500, 500]
    for one, many in zip(whole, small, strict=True):
        assert many.equals(one)
    ids = small[-1].column("account_id").to_pylist()
    assert ids == sorted(ids) and len(set(ids)) == 500
    assert small[-1].column("change_7d").null_count < 500  # the earlier days were read


def test_scoring_runs_at_most_one_batch_ahead_of_storing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Memory stays bounded: while batch i is written, batch i + 1 waits and batch i + 2 is being scored, never
    more (`ahead` with depth 1); every batch is stored, in order."""
    calls: list[tuple[str, int]] = []  # appended from two threads (list.append is atomic)
    real_score, real_rows = score_columns, health_store.with_changes

    def scoring(table: pa.Table, *args: object, **kwargs: object) -> pa.Table:
        calls.append(("score", table.num_rows))
        return real_score(table, *args, **kwargs)  # type: ignore[arg-type]

    def storing(results: pa.Table, *args: object) -> pa.Table:
        if not any(kind == "stored" for kind, _n in calls):
            time.sleep(0.3)  # a slow first write: the scoring thread gets every chance to run further ahead
        out = real_rows(results, *args)  # type: ignore[arg-type]
        calls.append(("stored", results.num_rows))
        return out

    monkeypatch.setattr(health_run, "score_columns", scoring)
    monkeypatch.setattr(health_store, "with_changes", storing)
    monkeypatch.setattr(health_run, "SCORE_BATCH", 100)
    health_run.score_day(init_workspace(tmp_path / "ws"), DAY, CARDS, features(DAY, 550))
    assert [n for kind, n in calls if kind == "score"] == [100, 100, 100, 100, 100, 50]
    assert [n for kind, n in calls if kind == "stored"] == [100, 100, 100, 100, 100, 50]
    for i, at in enumerate(k for k, (kind, _n) in enumerate(calls) if kind == "score"):
        stored_before = sum(kind == "stored" for kind, _n in calls[:at])
        assert stored_before >= i - 2, f"batch {i} scored with only {stored_before} stored: {calls}"


def test_a_batch_out_of_order_is_refused_and_the_stored_day_kept(tmp_path: Path) -> None:
    ws = init_workspace(tmp_path / "ws")
    table = features(DAY, 50).sort_by("account_id")
    results = score_columns(table, CARDS, None, DAY)
    health_store.write_scored(ws, DAY, [results])
    before = health_store.day_file(ws, DAY).read_bytes()
    with pytest.raises(ValueError, match="out of account_id order"):
        health_store.write_scored(ws, DAY, [results.slice(25), results.slice(0, 25)])
    with pytest.raises(ValueError, match="sorted by account_id"):
        health_store.write_scored(ws, DAY, [results.take(list(reversed(range(50))))])
    assert health_store.day_file(ws, DAY).read_bytes() == before
    assert [p.name for p in health_store.day_file(ws, DAY).parent.iterdir()] == ["scores.parquet"]


def test_no_customers_stores_an_empty_day(tmp_path: Path) -> None:
    ws = init_workspace(tmp_path / "ws")
    summary = health_run.score_day(ws, DAY, CARDS, features(DAY, 0))
    assert summary.num_rows == 0 and summary.column_names == ["account_id", "score", "band"]
    stored = health_store.read_day(ws, DAY)
    assert stored is not None and stored.num_rows == 0


def test_batches_of_whole_row_groups_write_the_same_bytes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """SCORE_BATCH is a multiple of the row group size, so the file is byte for byte what one write gives."""
    monkeypatch.setattr(health_store, "ROW_GROUP_ROWS", 16)
    files = []
    for name, batch in (("whole", 10_000), ("batched", 64)):
        ws = init_workspace(tmp_path / name)
        monkeypatch.setattr(health_run, "SCORE_BATCH", batch)
        health_run.score_day(ws, DAY, CARDS, features(DAY, 500))
        files.append(health_store.day_file(ws, DAY).read_bytes())
    assert files[0] == files[1]
    assert pq.ParquetFile(tmp_path / "batched" / ".longtail" / "health" / f"as_of={DAY}" / "scores.parquet"
                          ).metadata.num_row_groups == 32  # 500 rows in groups of 16


def test_the_previous_day_is_read_narrowly_and_scores_as_the_whole_row(tmp_path: Path) -> None:
    """`previous_results` reads only the components' metric and value; carry_last gives what the full row gives."""
    ws = init_workspace(tmp_path / "ws")
    first = DAY - timedelta(days=1)
    health_run.score_day(ws, first, CARDS, features(first, 300))
    today = features(DAY, 300, shift=1).sort_by("account_id")
    unknown = [None if i % 3 else v for i, v in enumerate(today.column("days_since_last_activity").to_pylist())]
    today = today.set_column(today.column_names.index("days_since_last_activity"), "days_since_last_activity",
                             pa.array(unknown, pa.float64()))
    narrow = health_store.previous_results(ws, DAY)
    full = health_store.read_day(ws, first, list(PREVIOUS_COLUMNS))
    assert narrow is not None and full is not None
    assert [f.name for f in narrow.schema.field("components").type.value_type] == ["metric", "value"]
    for name in ("metric", "value"):
        assert pc.struct_field(pc.list_flatten(narrow.column("components")), name).equals(
            pc.struct_field(pc.list_flatten(full.column("components")), name))
    results = score_columns(today, CARDS, narrow, DAY)
    assert results.equals(score_columns(today, CARDS, full, DAY))
    carried = pc.struct_field(pc.list_flatten(results.column("components")), "carried")
    assert pc.sum(carried).as_py() > 0  # the earlier values were used


def test_scorecards_that_carry_nothing_read_no_components(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cards = ScorecardSet(scorecards=(USAGE,), source="test")
    assert carried_metrics(cards) == []
    ws = init_workspace(tmp_path / "ws")
    before = DAY - timedelta(days=1)
    health_run.score_day(ws, before, cards, features(before, 200))
    full = health_store.read_day(ws, before, list(PREVIOUS_COLUMNS))
    asked: list[bool] = []
    real = health_store.previous_results

    def reading(ws: Workspace, day: date, *, components: bool = True) -> pa.Table | None:
        asked.append(components)
        table = real(ws, day, components=components)
        assert table is not None and "components" not in table.column_names
        return table

    monkeypatch.setattr(health_store, "previous_results", reading)
    today = features(DAY, 200, shift=2)
    health_run.score_day(ws, DAY, cards, today)
    assert asked == [False]
    stored = pq.read_table(health_store.day_file(ws, DAY)).select(RESULT_SCHEMA.names)
    assert stored.equals(score_columns(today.sort_by("account_id"), cards, full, DAY))
