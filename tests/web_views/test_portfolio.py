"""Portfolio numbers against `longtail metrics`, the health store, the motion store and `longtail coverage`."""

from __future__ import annotations

import json
from collections import Counter
from datetime import timedelta

import pytest
from typer.testing import CliRunner

from longtail.analytics.health_store import read_day
from longtail.cli.main import app
from longtail.settings import Workspace
from longtail.store.motion import MotionStore
from longtail.web.views._shared import engine_of
from longtail.web.views.portfolio import CTA_WINDOW_DAYS, portfolio_view

from .conftest import DAY, DAYS


def test_monthly_retention_is_what_longtail_metrics_prints(ws: Workspace) -> None:
    view = portfolio_view(ws, DAY, months=6)
    assert [m.start.isoformat() for m in view.months] == ["2025-01-01", "2025-02-01", "2025-03-01", "2025-04-01",
                                                          "2025-05-01", "2025-06-01"]
    result = CliRunner().invoke(app, ["metrics", "--from", "2025-01-01", "--to", "2025-07-01", "--monthly",
                                      "--format", "json", "-w", str(ws.root)])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    assert len(printed) == len(view.months)
    for month, row in zip(view.months, printed, strict=True):
        assert month.start.isoformat() == row["period_start"]
        assert month.nrr == pytest.approx(row["nrr"]) and month.grr == pytest.approx(row["grr"])
        assert month.logo_churn_rate == pytest.approx(row["logo_churn_rate"])
        assert month.churned == row["n_churned"] and month.accounts_at_start == row["n_start"]
    assert view.lagging[0].value == pytest.approx(printed[-1]["nrr"])


def test_band_distribution_counts_each_stored_day(ws: Workspace) -> None:
    view = portfolio_view(ws, DAY)
    assert [w.day for w in view.bands] == list(DAYS)
    for week in view.bands:
        table = read_day(ws, week.day, ["band"])
        assert table is not None
        assert {b: n for b, n in week.counts.items() if n} == dict(Counter(table.column("band").to_pylist()))


def test_tiers_and_segments_partition_the_book(ws: Workspace) -> None:
    view = portfolio_view(ws, DAY)
    assert sum(g.accounts for g in view.by_tier) == view.accounts > 0
    assert sum(g.arr for g in view.by_tier) == pytest.approx(view.arr)
    store = MotionStore(engine_of(ws))
    tiers = Counter(store.current_tiers().values())
    for g in view.by_tier:
        assert g.accounts <= tiers.get(g.group, g.accounts)
    for g in view.by_segment:
        assert g.accounts <= len(store.membership(g.group))


def test_coverage_is_the_coverage_command(ws: Workspace) -> None:
    view = portfolio_view(ws, DAY)
    assert view.coverage is not None
    result = CliRunner().invoke(app, ["coverage", "--as-of", DAY.isoformat(), "--format", "json", "-w", str(ws.root)])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    assert [m.member_id for m in view.coverage.members] == [m["member_id"] for m in printed["members"]]
    for mine, theirs in zip(view.coverage.members, printed["members"], strict=True):
        assert mine.accounts == pytest.approx(theirs["accounts"]) and mine.arr == pytest.approx(theirs["arr"])
    assert view.coverage.totals.accounts == printed["totals"]["accounts"]


def test_cta_completion_is_counted_from_the_store(ws: Workspace) -> None:
    view = portfolio_view(ws, DAY)
    indicator = {i.name: i for i in view.leading}["CTA completion"]
    recent = [c for c in MotionStore(engine_of(ws)).list_ctas() if DAY - timedelta(days=CTA_WINDOW_DAYS) <= c.created_on
              <= DAY]
    closed = [c for c in recent if c.status in ("done", "cancelled")]
    assert indicator.denominator == len(closed) > 0
    assert indicator.numerator == sum(c.status == "done" for c in closed)
