"""`longtail metrics` through Typer: JSON shape, grouping, monthly rows and one-line usage errors."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from longtail.cli.metrics import metrics
from longtail.ingest.loader import load_files
from longtail.settings import Workspace
from longtail.store.db import make_engine
from longtail.store.motion import MotionStore
from tests.conftest import NOW, write_rows

app = typer.Typer()


@app.callback()
def _root() -> None:
    """Stands in for the longtail app, which registers the command the same way."""


app.command("metrics")(metrics)

ACCOUNTS = [{"account_id": a, "name": a, "segment": s} for a, s in (("a1", "smb"), ("a2", "smb"), ("a3", "ent"))]
SUBSCRIPTIONS = [
    {"subscription_id": "s1", "account_id": "a1", "start_date": "2025-01-01", "end_date": "2025-03-01", "mrr": "100"},
    {"subscription_id": "s2", "account_id": "a2", "start_date": "2025-01-01", "end_date": "", "mrr": "200"},
    {"subscription_id": "s3", "account_id": "a3", "start_date": "2024-06-01", "end_date": "2025-02-01", "mrr": "300"},
    {"subscription_id": "s4", "account_id": "a3", "start_date": "2025-02-01", "end_date": "", "mrr": "330.10"},
]


@pytest.fixture
def loaded(workspace: Workspace, tmp_path: Path) -> Workspace:
    load_files(workspace, "accounts", [write_rows(tmp_path / "accounts.csv", ACCOUNTS)], now=NOW)
    load_files(workspace, "subscriptions", [write_rows(tmp_path / "subscriptions.csv", SUBSCRIPTIONS)], now=NOW)
    return workspace


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["metrics", *args], env={"COLUMNS": "200"})
    return result.exit_code, result.stdout, result.stderr


def test_json_single_period(loaded: Workspace) -> None:
    code, out, _ = invoke("--from", "2025-01-01", "--to", "2025-04-01", "-w", str(loaded.root), "--format", "json")
    assert code == 0
    body = json.loads(out)
    assert {"n_start", "n_churned", "logo_churn_rate", "start_mrr", "end_mrr", "grr", "nrr", "expansion_mrr",
            "contraction_mrr", "churned_mrr"} <= set(body)
    assert (body["n_start"], body["n_churned"], body["start_mrr"], body["end_mrr"]) == (3, 1, 600.0, 530.1)
    assert body["expansion_mrr"] == 30.1 and body["nrr"] == pytest.approx(530.1 / 600)
    assert body["period_start"] == "2025-01-01" and body["days"] == 90


def test_json_by_segment_and_monthly(loaded: Workspace) -> None:
    code, out, _ = invoke("--from", "2025-01-01", "--to", "2025-04-01", "-w", str(loaded.root), "--format", "json",
                          "--by", "segment")
    assert code == 0
    groups = {r["segment"]: r for r in json.loads(out)}
    assert set(groups) == {"smb", "ent"} and groups["smb"]["n_churned"] == 1
    code, out, _ = invoke("--from", "2025-01-01", "--to", "2025-04-01", "-w", str(loaded.root), "--format", "json",
                          "--monthly")
    months = json.loads(out)
    assert code == 0 and [m["period_start"] for m in months] == ["2025-01-01", "2025-02-01", "2025-03-01"]
    assert [m["n_churned"] for m in months] == [0, 1, 0]


def test_text_output(loaded: Workspace) -> None:
    code, out, _ = invoke("--from", "2025-01-01", "--to", "2025-04-01", "-w", str(loaded.root))
    assert code == 0
    for label in ("Starting-MRR basis", "Renewals-due basis", "net revenue retention", "600.00", "33.3%"):
        assert label in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "2025-13-01", "--to", "2025-04-01"], "--from must be a date"),
        (["--from", "2025-04-01", "--to", "2025-04-01"], "must be after"),
        (["--from", "2025-01-01", "--to", "2025-04-01", "--by", "tier"], "no account has a tier on the first day"),
        (["--from", "2025-01-01", "--to", "2025-04-01", "--by", "colour"], "no account has"),
        (["--from", "2025-01-01", "--to", "2025-04-01", "--format", "xml"], "--format"),
    ],
)
def test_usage_errors_are_one_line(loaded: Workspace, args: list[str], message: str) -> None:
    code, _, err = invoke(*args, "-w", str(loaded.root))
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_by_tier_groups_by_the_tier_held_on_the_first_day(loaded: Workspace) -> None:
    """a1 was pooled on 2025-01-01 and moved to mid later: its churn stays in pooled. a2 only entered a tier after
    the first day, so it is in no tier group; the groups still add up to the whole."""
    engine = make_engine(loaded.database_url)
    store = MotionStore(engine)
    store.apply_tiers({"a1": ("pooled", "arr"), "a3": ("mid", "arr")}, date(2024, 12, 1))
    store.apply_tiers({"a1": ("mid", "arr"), "a2": ("pooled", "arr")}, date(2025, 1, 15))
    engine.dispose()
    code, out, _ = invoke("--from", "2025-01-01", "--to", "2025-04-01", "-w", str(loaded.root), "--format", "json",
                          "--by", "tier")
    assert code == 0
    rows = {r["tier"]: r for r in json.loads(out)}
    assert set(rows) == {"pooled", "mid", None}
    assert (rows["pooled"]["n_start"], rows["pooled"]["n_churned"], rows["pooled"]["start_mrr"]) == (1, 1, 100.0)
    assert (rows["mid"]["n_start"], rows["mid"]["n_churned"], rows["mid"]["end_mrr"]) == (1, 0, 330.1)
    assert rows[None]["start_mrr"] == 200.0
    assert sum(r["start_mrr"] for r in rows.values()) == 600.0
