"""The daily cycle end to end on a simulated workspace with the example motion: plan, run, re-run, CTAs,
escalation, the volume alarm and the backtest (checked against the simulator's ground truth)."""

from __future__ import annotations

import json
import shutil
from datetime import date, timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from longtail.analytics import health_run
from longtail.analytics.features import features_as_of
from longtail.cli.main import app
from longtail.cli.run import plan_json
from longtail.runner.daily import open_store, plan_day, run_day, team_of
from longtail.settings import Workspace, copy_example, init_workspace, open_workspace
from longtail.sim import SimConfig, generate

START = date(2025, 1, 1)
DAYS = 240
DAY = date(2025, 7, 1)
runner = CliRunner()


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A loaded workspace with the example motion; tests copy it so each starts from the same state."""
    root = tmp_path_factory.mktemp("motion-run")
    generate(SimConfig(accounts=150, days=DAYS, start=START, seed=11), root / "data", "parquet")
    ws = init_workspace(root / "ws")
    copy_example(ws)
    result = runner.invoke(app, ["load-dir", str(root / "data"), "--workspace", str(ws.root)])
    assert result.exit_code == 0, result.output
    return root


@pytest.fixture
def ws(source: Path, tmp_path: Path) -> Workspace:
    shutil.copytree(source / "ws", tmp_path / "ws")
    return open_workspace(tmp_path / "ws")


def _creates(plan_dict: dict[str, object]) -> list[tuple[str, str, str, str | None]]:
    ctas = plan_dict["ctas"]
    assert isinstance(ctas, list)
    return sorted((c["cta_id"], c["account_id"], c["reason"], c["owner"]) for c in ctas if c["action"] == "create")


def test_plan_changes_nothing_and_agrees_with_run(ws: Workspace) -> None:
    planned = plan_json(plan_day(ws, DAY))
    store = open_store(ws)
    assert store.list_ctas() == [] and store.runs() == []
    assert planned["counts"]["fires"] > 0, "the example motion should fire on a simulated half year"  # type: ignore[index]
    ran = plan_json(run_day(ws, DAY, store=store))
    assert _creates(planned) == _creates(ran)
    assert planned["fires"] == ran["fires"] and planned["tier_changes"] == ran["tier_changes"]
    stored = {c.cta_id for c in store.list_ctas()}
    assert stored == {c[0] for c in _creates(ran)}
    for cta in store.list_ctas():
        assert cta.definition_hash and cta.inputs["trigger"], "every CTA records the rule and its inputs"


def former_customers(ws: Workspace, day: date) -> tuple[set[str], set[str]]:
    """(customers, former customers) on `day`, from the feature table's is_customer flag."""
    features = features_as_of(ws, day)
    flags = zip(features.column("account_id").to_pylist(), features.column("is_customer").to_pylist(), strict=True)
    split: tuple[set[str], set[str]] = (set(), set())
    for account, flag in flags:
        split[0 if flag == 1 else 1].add(account)
    return split


# acc_00000019's only subscription ended on 2025-06-25 (end_date exclusive): the next day its health fell below
# 50 and, before is_customer, health_below_50 fired a risk playbook for it.
@pytest.mark.parametrize("day", [DAY, date(2025, 6, 26)])
def test_former_customers_are_not_targeted(ws: Workspace, day: date) -> None:
    customers, former = former_customers(ws, day)
    assert former, "the simulated half year should have former customers"
    plan = plan_day(ws, day)
    assert plan.accounts == len(customers)
    assert plan.fires and {f.account_id for f in plan.fires} <= customers
    assert plan.hits and {h.account_id for h in plan.hits} <= customers
    assert {c["account_id"] for c in plan_json(plan)["ctas"]} <= customers  # type: ignore[union-attr]
    assert {t["account_id"] for t in plan.tier_changes} <= customers
    assert plan.entered and not {a for members in plan.entered.values() for a in members} & former


def test_running_a_day_twice_changes_nothing(ws: Workspace) -> None:
    store = open_store(ws)
    first = run_day(ws, DAY, store=store)
    before = sorted((c.cta_id, c.status, c.fire_count) for c in store.list_ctas())
    fires = store.fires_between("usage_drop", None, DAY, DAY)
    again = run_day(ws, DAY, store=store)
    assert first.counts()["ctas_created"] > 0
    assert again.counts()["ctas_created"] == 0 and again.counts()["ctas_refreshed"] == 0
    assert again.counts()["tier_changes"] == 0 and again.counts()["segment_entries"] == 0
    assert sorted((c.cta_id, c.status, c.fire_count) for c in store.list_ctas()) == before
    assert store.fires_between("usage_drop", None, DAY, DAY) == fires
    assert len(store.runs()) == 2


def test_range_then_overdue_ctas_escalate_to_a_lead(ws: Workspace) -> None:
    store = open_store(ws)
    result = runner.invoke(app, ["run", "--from", DAY.isoformat(), "--to", (DAY + timedelta(days=2)).isoformat(),
                                 "-w", str(ws.root), "--format", "json"])
    assert result.exit_code == 0, result.output
    days = json.loads(result.stdout)
    assert [d["as_of"] for d in days] == ["2025-07-01", "2025-07-02", "2025-07-03"]
    owned = [c for c in store.open_ctas() if c.owner_id]
    assert owned, "routing gave owners"
    late = max(c.due for c in owned) + timedelta(days=4)  # escalate_after_days is 3 in the example
    plan = run_day(ws, late, store=store)
    leads = {m.member_id for m in team_of(ws).members if m.role == "lead"}
    escalated = [c for c in store.list_ctas() if c.escalated_to]
    assert plan.escalations and escalated
    assert {c.escalated_to for c in escalated} <= leads


def test_volume_alarm_holds_and_approve_releases(ws: Workspace) -> None:
    team = ws.root / "motion" / "team.yml"
    team.write_text(team.read_text().replace("volume_alarm: 200", "volume_alarm: 1"))
    store = open_store(ws)
    plan = run_day(ws, DAY, store=store)
    assert plan.hold is not None and plan.hold.held
    held = store.list_ctas(status="held")
    assert len(held) == plan.counts()["ctas_created"] > 1
    result = runner.invoke(app, ["ctas", "approve", "--all-held", "-w", str(ws.root), "--on", DAY.isoformat()])
    assert result.exit_code == 0, result.output
    assert store.list_ctas(status="held") == [] and len(store.list_ctas(status="open")) == len(held)


def test_plan_rejects_bad_input(ws: Workspace) -> None:
    bad = runner.invoke(app, ["plan", "--as-of", "2025-13-01", "-w", str(ws.root)])
    assert bad.exit_code == 2 and "YYYY-MM-DD" in bad.output
    (ws.root / "motion" / "broken.yml").write_text("playbooks:\n  - id: x\n    objective: y\n    trigger: nope\n"
                                                     "    steps: [{type: journey, journey: j}]\n")
    broken = runner.invoke(app, ["run", "--as-of", DAY.isoformat(), "-w", str(ws.root)])
    assert broken.exit_code == 2 and "motion/broken.yml:2" in broken.output and "nope" in broken.output


def test_backtest_against_the_simulators_ground_truth(ws: Workspace, source: Path) -> None:
    first, last = date(2025, 3, 1), date(2025, 5, 31)
    result = runner.invoke(app, ["backtest", "--from", first.isoformat(), "--to", last.isoformat(), "--every", "7",
                                 "-w", str(ws.root), "--format", "json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["evaluations"] == 14 and report["horizon_days"] == 90
    truth = pq.read_table(source / "data" / "truth" / "churns.parquet")
    assert set(truth.column("outcome").to_pylist()) <= {"churn", "cancel"}
    days = [d for d in truth.column("day").to_pylist() if first < d <= last]
    books = {p["id"]: p for p in report["playbooks"]}
    assert set(books) >= {"usage_drop", "risk_escalation", "renewal_outreach"}
    for p in report["playbooks"]:
        assert p["churns"] == len(days), "churns found in the subscriptions are the simulator's churns"
        if p["fires"] - p["censored_fires"] > 0:
            assert p["precision"] == pytest.approx(p["true_fires"] / (p["fires"] - p["censored_fires"]))
        if p["churns"]:
            assert p["recall"] == pytest.approx(p["caught_churns"] / p["churns"])
        assert p["base_rate"] == report["base_rate"]
    assert {b["band"] for b in report["health_bands"]} >= {"red"}
    # The renewal rule fires ahead of the renewals where churn happens: it must beat the base rate.
    assert books["renewal_outreach"]["lift"] is not None and books["renewal_outreach"]["lift"] > 1


def test_run_measures_playbook_success_at_the_horizon(ws: Workspace) -> None:
    (ws.root / "motion" / "quick.yml").write_text(
        "playbooks:\n"
        "  - id: quick_check\n"
        "    objective: Measure success two days after a usage drop\n"
        "    trigger: usage_down_30\n"
        "    steps: [{type: alert, message: usage dropped}]\n"
        "    success: {when: \"events_7d >= 0\", horizon_days: 2}\n")
    store = open_store(ws)
    first = run_day(ws, DAY, store=store)
    hits = [h for h in first.hits if h.playbook_id == "quick_check"]
    assert hits and all(h.success_due == DAY + timedelta(days=2) for h in hits)
    assert not [o for o in first.success if o.check.playbook_id == "quick_check"]
    run_day(ws, DAY + timedelta(days=1), store=store)
    third = run_day(ws, DAY + timedelta(days=2), store=store)
    checked = [o for o in third.success if o.check.playbook_id == "quick_check" and o.check.hit_on == DAY]
    assert {o.check.account_id for o in checked} == {h.account_id for h in hits}
    # events_7d >= 0 holds for every account still in the data; an account gone from it has failed.
    assert all(o.success == ("no longer a customer" not in o.reason) for o in checked)
    result = runner.invoke(app, ["playbooks", "-w", str(ws.root), "--format", "json"])
    assert result.exit_code == 0, result.output
    row = next(r for r in json.loads(result.stdout) if r["id"] == "quick_check")
    assert row["success_checked"] >= len(checked) and row["hits"] >= len(hits)
    assert row["success_rate"] == row["success_succeeded"] / row["success_checked"]
    again = run_day(ws, DAY + timedelta(days=2), store=store)
    assert not [o for o in again.success if o.check.hit_on == DAY], "a checked hit is not checked twice"


def test_event_triggers_catch_up_after_skipped_days(ws: Workspace) -> None:
    from longtail.runner.daily import CATCH_UP_DAYS, _since

    store = open_store(ws)
    assert _since(store, DAY) == DAY - timedelta(days=1)
    run_day(ws, DAY, store=store)
    assert _since(store, DAY + timedelta(days=3)) == DAY, "events of the skipped days are read"
    assert _since(store, DAY) == DAY - timedelta(days=1), "re-running a day does not read beyond it"
    far = DAY + timedelta(days=CATCH_UP_DAYS + 1)
    assert _since(store, far) == far - timedelta(days=1)


def test_a_full_pool_hands_ctas_to_the_team_lead(ws: Workspace) -> None:
    team = ws.root / "motion" / "team.yml"
    team.write_text(team.read_text().replace("max_open_ctas: 40", "max_open_ctas: 1"))
    store = open_store(ws)
    plan = run_day(ws, DAY, store=store)
    leads = {m.member_id for m in team_of(ws).members if m.role == "lead"}
    overflow = [(owner, why) for owner, why in plan.owners.values() if "given to the team lead" in why]
    assert overflow, "with one open CTA per CSM the pool fills up"
    assert all(owner in leads and "nobody available" in why for owner, why in overflow)
    per_csm: dict[str, int] = {}
    for cta in store.open_ctas():
        if cta.owner_id and cta.owner_id not in leads:
            per_csm[cta.owner_id] = per_csm.get(cta.owner_id, 0) + 1
    assert per_csm and max(per_csm.values()) == 1


def test_scoring_in_batches_changes_no_figure(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    """Health is scored in batches (memory): with batches of 7 accounts the plan, the run and the backtest are the
    ones a single batch gives."""
    args = ["backtest", "--from", "2025-03-01", "--to", "2025-04-30", "--every", "7", "-w", str(ws.root),
            "--format", "json"]
    whole = runner.invoke(app, args)
    whole_plan = plan_json(plan_day(ws, DAY))
    monkeypatch.setattr(health_run, "SCORE_BATCH", 7)
    batched = runner.invoke(app, args)
    assert whole.exit_code == 0 and batched.exit_code == 0, whole.output + batched.output
    assert json.loads(batched.stdout) == json.loads(whole.stdout)
    assert plan_json(plan_day(ws, DAY)) == whole_plan
    ran = plan_json(run_day(ws, DAY, store=open_store(ws)))
    assert ran["fires"] == whole_plan["fires"] and _creates(ran) == _creates(whole_plan)
    stored = pq.read_table(ws.state_dir / "health" / f"as_of={DAY}" / "scores.parquet")
    assert stored.num_rows > 7 and stored.column("account_id").to_pylist() == sorted(
        stored.column("account_id").to_pylist())
