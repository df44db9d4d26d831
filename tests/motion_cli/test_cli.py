"""`longtail tiers` and `longtail coverage` on a small simulated workspace with the example motion: overrides
that the next run applies (and that expire or are cleared), input errors, and the coverage report's sums."""

from __future__ import annotations

import json
import shutil
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner, Result

from longtail.analytics.features import features_as_of
from longtail.analytics.health_run import customers
from longtail.cli.common import actor_name
from longtail.cli.coverage import coverage
from longtail.cli.main import app as main_app
from longtail.cli.tiers import app as tiers_app
from longtail.runner.daily import open_store, run_day
from longtail.settings import Workspace, copy_example, init_workspace, open_workspace
from longtail.sim import SimConfig, generate
from longtail.store.db import make_engine
from longtail.store.users import UserStore

START = date(2025, 1, 1)
DAY = date(2025, 4, 15)
LATER = date(2025, 5, 25)  # the simulator has created three more accounts by then
runner = CliRunner()

# The lead mounts these on `longtail`; here they hang off a local app the same way.
app = typer.Typer()
app.add_typer(tiers_app, name="tiers")
app.command("coverage")(coverage)


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`bare`: loaded, never run; `ws`: the same after `longtail run` for DAY stored every account's tier."""
    root = tmp_path_factory.mktemp("motion-cli")
    generate(SimConfig(accounts=80, days=150, start=START, seed=5), root / "data", "parquet")
    ws = init_workspace(root / "bare")
    copy_example(ws)
    result = runner.invoke(main_app, ["load-dir", str(root / "data"), "--workspace", str(ws.root)])
    assert result.exit_code == 0, result.output
    shutil.copytree(root / "bare", root / "ws")
    run_day(open_workspace(root / "ws"), DAY)
    return root


@pytest.fixture
def ws(source: Path, tmp_path: Path) -> Workspace:
    shutil.copytree(source / "ws", tmp_path / "ws")
    return open_workspace(tmp_path / "ws")


def cli(ws: Workspace, *args: str) -> Result:
    return runner.invoke(app, [*args, "-w", str(ws.root)])


def ok_json(ws: Workspace, *args: str) -> Any:
    result = cli(ws, *args, "--format", "json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def one_line_error(result: Result, *needles: str) -> None:
    assert result.exit_code == 2, result.output
    text = result.output.strip()
    assert text.startswith("error:") and "\n" not in text, text
    for needle in needles:
        assert needle in text, text


def listed(ws: Workspace) -> dict[str, dict[str, str]]:
    return {row["account_id"]: row for row in ok_json(ws, "tiers", "list")}


def a_pooled_account(ws: Workspace) -> str:
    """The pooled account with the least ARR: far from every boundary, so only an override moves it."""
    arr = dict(zip(*customers(features_as_of(ws, DAY)).select(["account_id", "arr"]).to_pydict().values(), strict=True))
    pooled = [a for a, t in open_store(ws).current_tiers().items() if t == "pooled"]
    return min(pooled, key=lambda a: (arr[a] or 0.0, a))


# ------------------------------------------------------------------------------------------------ tiers


def test_list_shows_the_stored_tiers_with_since_and_reason(ws: Workspace) -> None:
    rows = listed(ws)
    assert {a: r["tier"] for a, r in rows.items()} == open_store(ws).current_tiers()
    assert len(rows) == customers(features_as_of(ws, DAY)).num_rows
    assert {r["since"] for r in rows.values()} == {DAY.isoformat()}
    assert all(r["reason"].startswith("ARR ") for r in rows.values()), "every tier says why"
    mid = ok_json(ws, "tiers", "list", "--tier", "mid")
    assert mid and {r["tier"] for r in mid} == {"mid"}
    assert len(mid) == sum(r["tier"] == "mid" for r in rows.values())
    table = cli(ws, "tiers", "list", "--tier", "mid")
    assert table.exit_code == 0 and f"{len(mid)} accounts" in table.output
    one_line_error(cli(ws, "tiers", "list", "--tier", "midd"), "unknown tier 'midd'", "did you mean 'mid'?")


def test_override_then_run_applies_it(ws: Workspace) -> None:
    account = a_pooled_account(ws)
    result = cli(ws, "tiers", "override", account, "enterprise", "--reason", "exec sponsor asked",
                 "--on", DAY.isoformat(), "--actor", "dana")
    assert result.exit_code == 0, result.output
    assert "next `longtail run`" in result.output
    assert listed(ws)[account]["tier"] == "pooled", "an override waits for the next run"
    [active] = ok_json(ws, "tiers", "overrides", "--on", DAY.isoformat())
    assert active == {"account_id": account, "tier": "enterprise", "reason": "exec sponsor asked", "expires": None,
                      "created_on": DAY.isoformat(), "created_by": "dana"}
    next_day = DAY + timedelta(days=1)
    plan = run_day(ws, next_day)
    assert [c["account_id"] for c in plan.tier_changes if c["to"] == "enterprise"].count(account) == 1
    row = listed(ws)[account]
    assert row["tier"] == "enterprise" and row["since"] == next_day.isoformat()
    assert row["reason"] == "manual override: exec sponsor asked (until removed)"


def test_override_expires(ws: Workspace) -> None:
    account = a_pooled_account(ws)
    ends = DAY + timedelta(days=2)
    result = cli(ws, "tiers", "override", account, "mid", "--reason", "pilot", "--on", DAY.isoformat(),
                 "--expires", ends.isoformat())
    assert result.exit_code == 0, result.output
    run_day(ws, DAY + timedelta(days=1))
    pinned = listed(ws)[account]
    assert pinned["tier"] == "mid" and pinned["reason"] == f"manual override: pilot (until {ends.isoformat()})"
    assert len(ok_json(ws, "tiers", "overrides", "--on", (ends - timedelta(days=1)).isoformat())) == 1
    assert ok_json(ws, "tiers", "overrides", "--on", ends.isoformat()) == [], "it stops applying on its expiry day"
    run_day(ws, ends)
    back = listed(ws)[account]
    assert back["tier"] == "pooled" and back["since"] == ends.isoformat()
    assert not back["reason"].startswith("manual override")


def test_clear_removes_the_override_before_it_applies(ws: Workspace) -> None:
    account = a_pooled_account(ws)
    assert cli(ws, "tiers", "override", account, "enterprise", "--reason", "asked", "--on", DAY.isoformat()
               ).exit_code == 0
    cleared = cli(ws, "tiers", "clear", account, "--actor", "erin")
    assert cleared.exit_code == 0 and "override removed" in cleared.output
    trail = UserStore(make_engine(ws.database_url)).audit_entries(object_type="account", object_id=account)
    assert [(e["actor"], e["action"]) for e in trail] == [("erin", "tier.clear"), (actor_name(None), "tier.override")]
    assert trail[1]["detail"]["tier"] == "enterprise" and trail[1]["detail"]["reason"] == "asked"
    assert ok_json(ws, "tiers", "overrides", "--on", DAY.isoformat()) == []
    one_line_error(cli(ws, "tiers", "clear", account), "has no tier override")
    run_day(ws, DAY + timedelta(days=1))
    row = listed(ws)[account]
    assert (row["tier"], row["since"]) == ("pooled", DAY.isoformat()), "the run left it where the rules put it"


def test_a_second_override_replaces_the_first(ws: Workspace) -> None:
    account = a_pooled_account(ws)
    assert cli(ws, "tiers", "override", account, "mid", "--reason", "a", "--on", DAY.isoformat()).exit_code == 0
    again = cli(ws, "tiers", "override", account, "enterprise", "--reason", "b", "--on", DAY.isoformat())
    assert again.exit_code == 0 and "replaces the override to mid" in again.output
    [active] = ok_json(ws, "tiers", "overrides", "--on", DAY.isoformat())
    assert (active["tier"], active["reason"]) == ("enterprise", "b")


@pytest.mark.parametrize(("args", "needles"), [
    (["enterprize", "--reason", "r"], ["unknown tier 'enterprize'", "did you mean 'enterprise'?"]),
    (["pooled ", "--reason", "r"], ["unknown tier 'pooled '"]),
    (["mid"], ["--reason"]),
    (["mid", "--reason", "   "], ["--reason"]),
    (["mid", "--reason", "r", "--on", "2025-02-30"], ["--on", "YYYY-MM-DD"]),
    (["mid", "--reason", "r", "--expires", "soon"], ["--expires", "YYYY-MM-DD"]),
    (["mid", "--reason", "r", "--on", "2025-04-15", "--expires", "2025-04-15"], ["must be after --on"]),
    (["mid", "--reason", "r", "--on", "2025-04-15", "--expires", "2025-04-01"], ["must be after --on"]),
])
def test_override_rejects_bad_input(ws: Workspace, args: list[str], needles: list[str]) -> None:
    account = a_pooled_account(ws)
    one_line_error(cli(ws, "tiers", "override", account, *args), *needles)
    assert open_store(ws).overrides(DAY) == {}


def test_override_rejects_an_unknown_account(ws: Workspace) -> None:
    account = a_pooled_account(ws)
    typo = account[:-1] + ("x" if account[-1] != "x" else "y")
    one_line_error(cli(ws, "tiers", "override", typo, "mid", "--reason", "r"), f"no account {typo!r}",
                   "did you mean")
    one_line_error(cli(ws, "tiers", "override", "nobody", "mid", "--reason", "r"), "no account 'nobody'")
    one_line_error(cli(ws, "tiers", "overrides", "--format", "csv"), "--format must be table or json")
    assert open_store(ws).overrides(DAY) == {}


# ------------------------------------------------------------------------------------------------ coverage


def test_coverage_totals_are_the_sum_of_the_tiers(ws: Workspace) -> None:
    report = ok_json(ws, "coverage", "--as-of", DAY.isoformat())
    current = set(customers(features_as_of(ws, DAY)).column("account_id").to_pylist())
    tiers = {a: t for a, t in open_store(ws).current_tiers().items() if a in current}
    totals, rows = report["totals"], report["tiers"]
    assert totals["accounts"] == sum(t["accounts"] for t in rows) == len(tiers)
    assert totals["arr"] == pytest.approx(sum(t["arr"] for t in rows))
    arr = customers(features_as_of(ws, DAY)).column("arr").to_pylist()
    assert totals["arr"] == pytest.approx(sum(a or 0.0 for a in arr)) and totals["arr"] > 0
    for row in rows:
        assert row["accounts"] == sum(t == row["tier"] for t in tiers.values()), row["tier"]
    assert {t["tier"] for t in rows} == {"pooled", "mid", "enterprise"}, "no account is left without a tier"
    members = [m for m in report["members"] if m["role"] == "csm"]
    assert sum(m["accounts"] for m in members) == pytest.approx(totals["accounts"] - totals["uncovered_accounts"])
    assert totals["total_cost"] == pytest.approx(totals["csm_cost"] + totals["other_cost"]) and totals["csm_cost"] > 0
    table = cli(ws, "coverage", "--as-of", DAY.isoformat())
    assert table.exit_code == 0, table.output
    assert "Tiers" in table.output and "CSMs" in table.output and "accounts per CSM" in table.output


def test_coverage_counts_accounts_new_since_the_last_run_as_untiered(ws: Workspace) -> None:
    report = ok_json(ws, "coverage", "--as-of", LATER.isoformat())
    later = set(customers(features_as_of(ws, LATER)).column("account_id").to_pylist())
    new = len(later - set(open_store(ws).current_tiers()))
    assert new > 0, "the simulator should create accounts after DAY"
    [untiered] = [t for t in report["tiers"] if t["tier"] == "(no tier)"]
    assert untiered["accounts"] == untiered["uncovered_accounts"] == new
    assert any(f"{new} account(s) have no stored tier yet" in w for w in report["warnings"])


def test_coverage_before_any_run_says_to_run_first(source: Path) -> None:
    bare = open_workspace(source / "bare")
    one_line_error(cli(bare, "coverage", "--as-of", DAY.isoformat()), "no tiers stored yet", "longtail run")
    one_line_error(cli(bare, "coverage", "--as-of", "15/04/2025"), "--as-of", "YYYY-MM-DD")
    listed_bare = cli(bare, "tiers", "list")
    assert listed_bare.exit_code == 0 and "run `longtail run` first" in listed_bare.output
