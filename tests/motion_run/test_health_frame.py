"""The health columns a motion's conditions read (`runner.frame.health_frame`) agree with what the store keeps."""

from __future__ import annotations

import pyarrow as pa

from longtail.runner.frame import health_frame


def _scores(rows: dict[str, float]) -> pa.Table:
    return pa.table({"account_id": list(rows), "score": list(rows.values()), "band": ["yellow"] * len(rows)})


def test_the_changes_are_rounded_as_the_store_rounds_them() -> None:
    # 50.0 - 60.1 is -10.100000000000001 in floating point; the store (and `longtail health`) says -10.1, so a
    # condition `health_change_7d <= -10.1` must fire on it
    today = _scores({"a": 50.0, "b": 70.3, "c": 33.7, "new": 12.0})
    week = _scores({"a": 60.1, "b": 60.1, "c": 43.8})
    frame = health_frame(today, week, None).to_pylist()
    got = {r["account_id"]: r["health_change_7d"] for r in frame}
    assert got == {"a": -10.1, "b": 10.2, "c": -10.1, "new": None}
    assert got["a"] == round(50.0 - 60.1, 6) != 50.0 - 60.1
    assert [r["health_change_30d"] for r in frame] == [None] * 4
    assert [r["health_score"] for r in frame] == [50.0, 70.3, 33.7, 12.0]


def test_no_earlier_day_gives_unknown_changes() -> None:
    frame = health_frame(_scores({"a": 50.0}), _scores({}), None)
    assert frame.column("health_change_7d").to_pylist() == [None]
