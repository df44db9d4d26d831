"""The Parquet health history: round trip, replay gives identical bytes, trend, previous state."""

from __future__ import annotations

import tempfile
from datetime import date, timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from longtail.analytics import health_store
from longtail.core.health import default_scorecards, score_table
from longtail.core.health.loader import ScorecardSet
from longtail.settings import Workspace, init_workspace
from tests.health.cards import USAGE

CARDS = ScorecardSet(scorecards=(USAGE,), source="test")


def features(day: date, users: list[float | None]) -> pa.Table:
    n = len(users)
    return pa.table({
        "account_id": [f"acc-{i}" for i in range(n)],
        "as_of": [day] * n,
        "active_users_7d": pa.array(users, pa.float64()),
        "days_since_last_activity": [3.0] * n,
        "nps_latest": pa.array([None] * n, pa.float64()),
        "tickets_high_priority_open": [0.0] * n,
    })


def run(ws: Workspace, day: date, users: list[float | None]) -> None:
    previous = health_store.previous_states(ws, day)
    results = score_table(features(day, users), CARDS, previous, as_of=day)
    health_store.write_results(ws, day, results)


def test_round_trip(workspace: Workspace) -> None:
    day = date(2026, 2, 1)
    run(workspace, day, [10, 2, None])
    path = health_store.day_file(workspace, day)
    assert path == workspace.state_dir / "health" / "as_of=2026-02-01" / "scores.parquet"
    assert health_store.stored_dates(workspace) == [day]
    row = health_store.read_account(workspace, day, "acc-1")
    assert row is not None
    assert row["as_of"] == day and row["scorecard"] == "test" and row["scorecard_hash"] == USAGE.content_hash()
    assert row["band"] == row["raw_band"]
    assert row["reasons"] and isinstance(row["reasons"][0], str)
    assert {c["metric"] for c in row["components"]} == {c.metric for c in USAGE.components}
    assert row["change_7d"] is None and row["change_30d"] is None
    assert health_store.read_account(workspace, day, "nobody") is None
    assert list(path.parent.iterdir()) == [path]  # no temporary files left


def test_replay_gives_identical_bytes(workspace: Workspace) -> None:
    first, second = date(2026, 2, 1), date(2026, 2, 2)
    run(workspace, first, [10, 2, None])
    run(workspace, second, [1, 9, 4])
    stored = health_store.day_file(workspace, second).read_bytes()
    run(workspace, second, [1, 9, 4])
    assert health_store.day_file(workspace, second).read_bytes() == stored
    run(workspace, first, [10, 2, None])  # replaying an earlier date leaves it as it was
    run(workspace, second, [1, 9, 4])
    assert health_store.day_file(workspace, second).read_bytes() == stored


def test_changes_against_7_and_30_days(workspace: Workspace) -> None:
    day = date(2026, 3, 31)
    run(workspace, day - timedelta(days=30), [0, 10])
    run(workspace, day - timedelta(days=7), [5, 10])
    run(workspace, day, [10, 10])
    table = health_store.read_day(workspace, day)
    assert table is not None
    scores = health_store.read_scores(workspace, day)
    old7 = health_store.read_scores(workspace, day - timedelta(days=7))
    assert table.column("change_7d").to_pylist()[0] == round(scores["acc-0"] - old7["acc-0"], 6)
    assert table.column("change_7d").to_pylist()[1] == 0
    assert table.column("change_30d").to_pylist()[0] > table.column("change_7d").to_pylist()[0] > 0


def test_previous_state_comes_from_latest_earlier_date(workspace: Workspace) -> None:
    run(workspace, date(2026, 2, 1), [10])
    run(workspace, date(2026, 2, 5), [0])
    run(workspace, date(2026, 2, 9), [5])
    states = health_store.previous_states(workspace, date(2026, 2, 6))
    assert states["acc-0"].as_of == date(2026, 2, 5)
    assert states["acc-0"].component_values["active_users_7d"] == 0
    assert "nps_latest" not in states["acc-0"].component_values
    assert health_store.previous_states(workspace, date(2026, 2, 1)) == {}


def test_hysteresis_through_the_store(workspace: Workspace) -> None:
    start = date(2026, 2, 1)
    for i, users in enumerate([10, 5, 5, 5]):  # 87, then 67: 3 points under green (margin 5), for 3 days
        run(workspace, start + timedelta(days=i), [users])
    rows = [health_store.read_account(workspace, start + timedelta(days=i), "acc-0") for i in range(4)]
    assert [(r["score"], r["band"], r["raw_band"], r["pending_band"]) for r in rows if r] == [
        (87, "green", "green", None), (67, "green", "yellow", "yellow"), (67, "green", "yellow", "yellow"),
        (67, "yellow", "yellow", None)]
    assert rows[2] is not None and rows[2]["pending_since"] == start + timedelta(days=1)


def test_default_scorecards_score_a_table(workspace: Workspace) -> None:
    day = date(2026, 2, 1)
    table = pa.table({"account_id": ["a", "b"], "as_of": [day, day], "tenure_days": [10.0, 400.0],
                      "milestones_reached": [1.0, 5.0], "seat_utilisation": [None, 0.8]})
    results = score_table(table, default_scorecards(), {}, as_of=day)
    assert [r.scorecard for r in results] == ["onboarding", "adopted"]
    health_store.write_results(workspace, day, results)
    assert health_store.read_scores(workspace, day).keys() == {"a", "b"}


def test_changes_in_batches_read_an_unsorted_earlier_file_whole(workspace: Workspace,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Each batch looks up its own range of the earlier day's (sorted) accounts; a file not sorted by account_id
    (written by hand) is sorted first, so every account still finds its score."""
    import pyarrow.parquet as pq

    from longtail.analytics import health_run

    day, week_ago = date(2026, 3, 31), date(2026, 3, 24)
    users = [float(i % 12) for i in range(40)]
    run(workspace, week_ago, users)
    path = health_store.day_file(workspace, week_ago)
    stored = pq.read_table(path)
    pq.write_table(stored.take(list(reversed(range(stored.num_rows)))), path)
    monkeypatch.setattr(health_run, "SCORE_BATCH", 8)
    table = features(day, [u + 3 for u in users]).append_column("is_customer", pa.array([1] * 40))
    health_run.score_day(workspace, day, CARDS, table)
    now, then = health_store.read_scores(workspace, day), health_store.read_scores(workspace, week_ago)
    got = health_store.read_day(workspace, day, ["account_id", "change_7d"])
    assert got is not None and got.num_rows == 40
    for account, change in zip(got.column("account_id").to_pylist(), got.column("change_7d").to_pylist(),
                               strict=True):
        assert change == round(now[account] - then[account], 6)


def test_files_of_earlier_versions_with_json_details_read_the_same(workspace: Workspace) -> None:
    """Files written before the detail columns were nested hold them as JSON text; they read as the new ones."""
    import json

    import pyarrow.parquet as pq

    first, second = date(2026, 2, 1), date(2026, 2, 2)
    run(workspace, first, [10, 2, None])
    path = health_store.day_file(workspace, first)
    new = pq.read_table(path)
    row_before, states_before = health_store.read_account(workspace, first, "acc-1"), run_previous(workspace, second)
    legacy = new
    for name in health_store.DETAIL_COLUMNS:
        text = [json.dumps(v, separators=(",", ":"), ensure_ascii=False) for v in new.column(name).to_pylist()]
        legacy = legacy.set_column(legacy.column_names.index(name), name, pa.array(text, pa.string()))
    pq.write_table(legacy, path)
    assert pa.types.is_string(pq.read_table(path).schema.field("components").type)
    assert health_store.read_account(workspace, first, "acc-1") == row_before
    assert health_store.read_day(workspace, first) == new
    assert run_previous(workspace, second) == states_before
    previous = health_store.previous_results(workspace, second)
    assert previous is not None and previous.equals(new.select(list(health_store.PREVIOUS_COLUMNS)))


def run_previous(ws: Workspace, day: date) -> dict[str, health_store.PreviousState]:
    return health_store.previous_states(ws, day)


@given(st.lists(st.lists(st.one_of(st.none(), st.floats(-5, 20), st.just(float("nan"))), min_size=3, max_size=3),
                min_size=2, max_size=4))
@settings(max_examples=15)
def test_replaying_any_date_gives_the_same_stored_result(days_of_users: list[list[float | None]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        ws = init_workspace(Path(tmp) / "ws")
        start = date(2026, 2, 1)
        for i, users in enumerate(days_of_users):
            run(ws, start + timedelta(days=i), users)
        stored = {d: health_store.day_file(ws, d).read_bytes() for d in health_store.stored_dates(ws)}
        for day, content in stored.items():
            run(ws, day, days_of_users[(day - start).days])
            assert health_store.day_file(ws, day).read_bytes() == content
