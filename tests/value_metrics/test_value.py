"""Time to value (hand-counted cohorts, censoring at as_of) and band counts over time (by tier held that day)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

import ibis
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from longtail.analytics.health_store import day_file
from longtail.analytics.value_metrics import band_rows, sample_days
from longtail.cli.main import app
from longtail.core.value import first_value, time_to_value
from longtail.errors import UsageError
from longtail.settings import Workspace
from longtail.store.db import make_engine, migrate
from longtail.store.motion import MotionStore

runner = CliRunner()


def _ts(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


ACCOUNTS = ibis.memtable(pa.table({
    "account_id": ["a1", "a2", "a3", "b1", "old"],
    "created_at": pa.array([_ts(2025, 1, 5), _ts(2025, 1, 20), _ts(2025, 1, 25), _ts(2025, 2, 3), _ts(2024, 6, 1)],
                           pa.timestamp("us", tz="UTC")),
    "industry": ["x", "y", "x", "x", "x"],
}))
EVENTS = ibis.memtable(pa.table({
    "account_id": ["a1", "a1", "a2", "a3", "b1", "old"],
    "event": ["login", "integration_connected", "report_shared", "login", "user_invited", "report_shared"],
    "ts": pa.array([_ts(2025, 1, 6), _ts(2025, 1, 10, 12), _ts(2025, 3, 1), _ts(2025, 1, 26), _ts(2025, 2, 4),
                    _ts(2024, 7, 1)], pa.timestamp("us", tz="UTC")),
}))
MILESTONES = ("integration_connected", "user_invited", "report_shared")


def _ttv(as_of: date, by: str | None = None) -> list[dict[str, object]]:
    expr = time_to_value(ACCOUNTS, first_value(EVENTS, MILESTONES), date(2025, 1, 1), date(2025, 3, 1),
                         as_of=as_of, by=by)
    rows: list[dict[str, object]] = ibis.duckdb.connect().to_pyarrow(expr).to_pylist()
    return rows


def test_cohorts_counted_by_hand() -> None:
    jan, feb = _ttv(date(2025, 3, 10))
    # a1 reached value after 5 days, a2 after 40 (Jan 20 -> Mar 1), a3 never (a login is not a milestone)
    assert (jan["cohort"], jan["accounts"], jan["reached"]) == (date(2025, 1, 1), 3, 2)
    assert jan["reached_share"] == pytest.approx(2 / 3)
    assert jan["median_days"] == pytest.approx(22.5)  # continuous median of 5 and 40
    # all three are >= 30 days old on Mar 10; only a1 reached value within 30 days
    assert jan["within_30d"] == pytest.approx(1 / 3)
    assert jan["within_90d"] is None  # none is 90 days old yet
    assert (feb["cohort"], feb["accounts"], feb["reached"], feb["median_days"]) == (date(2025, 2, 1), 1, 1, 1.0)


def test_a_milestone_after_as_of_has_not_happened_yet() -> None:
    jan = _ttv(date(2025, 2, 15))[0]
    assert (jan["accounts"], jan["reached"], jan["median_days"]) == (3, 1, 5.0)  # a2's Mar 1 is in the future
    early = _ttv(date(2025, 1, 21))
    assert [(r["cohort"], r["accounts"]) for r in early] == [(date(2025, 1, 1), 2)]  # a3 did not exist yet


def test_groups_split_a_cohort() -> None:
    rows = {r["group"]: r for r in _ttv(date(2025, 3, 10), by="industry") if r["cohort"] == date(2025, 1, 1)}
    assert {g: (r["accounts"], r["reached"]) for g, r in rows.items()} == {"x": (2, 1), "y": (1, 1)}


def test_bad_ranges_and_missing_milestones_are_refused() -> None:
    with pytest.raises(UsageError, match="must be after"):
        time_to_value(ACCOUNTS, first_value(EVENTS, MILESTONES), date(2025, 3, 1), date(2025, 3, 1),
                      as_of=date(2025, 3, 1))
    with pytest.raises(UsageError, match="milestones"):
        first_value(EVENTS, ())


def _store_bands(ws: Workspace, day: date, bands: dict[str, str]) -> None:
    path = day_file(ws, day)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"account_id": list(bands), "band": list(bands.values())}), path)


def test_band_counts_follow_the_tier_held_each_day(workspace: Workspace) -> None:
    _store_bands(workspace, date(2026, 1, 1), {"a1": "red", "a2": "green", "a3": "green"})
    _store_bands(workspace, date(2026, 1, 3), {"a1": "red", "a2": "red", "a3": "green"})
    _store_bands(workspace, date(2026, 1, 8), {"a1": "green", "a2": "red", "a3": "yellow"})
    engine = make_engine(workspace.database_url)
    migrate(engine)
    store = MotionStore(engine)
    store.apply_tiers({"a1": ("pooled", "arr"), "a2": ("pooled", "arr")}, date(2025, 12, 1))
    store.apply_tiers({"a2": ("named", "arr grew")}, date(2026, 1, 5))
    engine.dispose()
    rows = band_rows(workspace, date(2026, 1, 1), date(2026, 1, 9), every=7, by="tier")
    # Jan 3 is skipped (fewer than 7 days after Jan 1); a3 never had a tier
    assert [(r["day"], r["group"], r["bands"]) for r in rows] == [
        (date(2026, 1, 1), "(none)", {"green": 1}),
        (date(2026, 1, 1), "pooled", {"green": 1, "red": 1}),
        (date(2026, 1, 8), "(none)", {"yellow": 1}),
        (date(2026, 1, 8), "named", {"red": 1}),
        (date(2026, 1, 8), "pooled", {"green": 1}),
    ]
    result = runner.invoke(app, ["bands", "--from", "2026-01-01", "--to", "2026-01-09", "--every", "1",
                                 "--format", "json", "-w", str(workspace.root)])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert [(p["day"], p["accounts"], p["bands"]) for p in payload] == [
        ("2026-01-01", 3, {"green": 2, "red": 1}), ("2026-01-03", 3, {"green": 1, "red": 2}),
        ("2026-01-08", 3, {"green": 1, "red": 1, "yellow": 1})]


def test_bands_without_stored_health_say_what_to_run(workspace: Workspace) -> None:
    result = runner.invoke(app, ["bands", "--from", "2026-01-01", "--to", "2026-02-01", "-w", str(workspace.root)])
    assert result.exit_code == 2
    assert "longtail score" in result.output
    assert sample_days([date(2026, 1, d) for d in (1, 2, 9)], date(2026, 1, 2), date(2026, 2, 1), 7) == [
        date(2026, 1, 2), date(2026, 1, 9)]
    with pytest.raises(UsageError, match="--every"):
        sample_days([], date(2026, 1, 1), date(2026, 1, 2), 0)


def test_ttv_cli_on_a_loaded_workspace(workspace: Workspace, sample_dir: Callable[[str], Path]) -> None:
    loaded = runner.invoke(app, ["load-dir", str(sample_dir("csv")), "-w", str(workspace.root)])
    assert loaded.exit_code == 0, loaded.output
    result = runner.invoke(app, ["ttv", "--from", "2025-01-01", "--to", "2026-01-01", "--format", "json",
                                 "-w", str(workspace.root)])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    # the samples: a1 (created 2025-01-10) shared a report on 2025-06-01; a2 and a3 reached no milestone
    assert [(r["cohort"], r["accounts"], r["reached"], r["median_days"]) for r in rows] == [
        ("2025-01-01", 1, 1, 142.0), ("2025-02-01", 1, 0, None), ("2025-03-01", 1, 0, None)]
    text = runner.invoke(app, ["ttv", "--from", "2025-01-01", "--to", "2026-01-01", "-w", str(workspace.root)])
    assert text.exit_code == 0 and "2025-01" in text.stdout, text.output
    bad = runner.invoke(app, ["ttv", "--from", "2025-01-01", "--to", "2026-01-01", "--by", "nope",
                              "-w", str(workspace.root)])
    assert bad.exit_code == 2 and "not an account column" in bad.output
