"""`longtail run` applies the daily cycle for a day (or each day of a range); `longtail plan` only shows it."""

from __future__ import annotations

import json
import sys
from datetime import date, timedelta
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from longtail.cli.common import VerboseOpt, WorkspaceOpt, fail, parse_day, setup_logging
from longtail.core.motion.ctas import CloseCta, CreateCta, CtaEffect, RefreshCta, WakeCta
from longtail.errors import LongtailError, UsageError
from longtail.runner import backtest_store
from longtail.runner.backtest import backtest as replay
from longtail.runner.daily import DayPlan, context, open_store, plan_day, run_day
from longtail.settings import open_workspace

AsOfOpt = Annotated[str | None, typer.Option("--as-of", help="The day, YYYY-MM-DD.")]
FromOpt = Annotated[str | None, typer.Option("--from", help="First day of a range, YYYY-MM-DD.")]
ToOpt = Annotated[str | None, typer.Option("--to", help="Last day of a range, YYYY-MM-DD (inclusive).")]
FmtOpt = Annotated[str, typer.Option("--format", help="Output format: text or json.")]
MAX_DAYS = 3_660


def _days(as_of: str | None, first: str | None, last: str | None) -> list[date]:
    if as_of is not None:
        if first is not None or last is not None:
            raise UsageError("give either --as-of or --from/--to, not both")
        return [parse_day(as_of, "--as-of")]
    if first is None or last is None:
        raise UsageError("give --as-of DATE, or --from DATE and --to DATE")
    d1, d2 = parse_day(first, "--from"), parse_day(last, "--to")
    if d2 < d1:
        raise UsageError(f"--to ({d2}) must not be before --from ({d1})")
    if (d2 - d1).days >= MAX_DAYS:
        raise UsageError(f"a range may cover at most {MAX_DAYS} days")
    return [d1 + timedelta(days=i) for i in range((d2 - d1).days + 1)]


def _effect(effect: CtaEffect, plan: DayPlan) -> dict[str, Any]:
    if isinstance(effect, CreateCta):
        req = effect.request
        owner, why = plan.owners.get(effect.cta_id, (None, "not routed"))
        return {"action": "create", "cta_id": effect.cta_id, "status": effect.status, "account_id": req.account_id,
                "cta_type": req.cta_type, "reason": req.reason, "playbook": req.playbook_id,
                "priority": req.priority, "due": req.due.isoformat(), "title": req.title, "owner": owner,
                "owner_reason": why, "inputs": dict(req.inputs), "why": effect.reason,
                "definition_hash": req.definition_hash}
    if isinstance(effect, RefreshCta):
        return {"action": "refresh", "cta_id": effect.cta_id, "priority": effect.priority,
                "fire_count": effect.fire_count, "why": effect.reason}
    if isinstance(effect, CloseCta):
        return {"action": "close", "cta_id": effect.cta_id, "status": effect.status, "why": effect.reason}
    if isinstance(effect, WakeCta):
        return {"action": "wake", "cta_id": effect.cta_id, "why": effect.reason}
    return {"action": type(effect).__name__, "cta_id": effect.cta_id, "why": effect.reason}


def plan_json(plan: DayPlan) -> dict[str, Any]:
    return {
        "as_of": plan.as_of.isoformat(),
        "motion_hash": plan.motion_hash,
        "counts": plan.counts(),
        "hold": None if plan.hold is None else {"held": plan.hold.held, "reason": plan.hold.reason},
        "tier_changes": plan.tier_changes,
        "segments": {"entered": plan.entered, "left": plan.left},
        "fires": [{"signal": f.signal_id, "trigger": f.trigger_id, "account_id": f.account_id,
                   "allowed": f.allowed, "reason": f.reason, "inputs": dict(f.inputs),
                   "definition_hash": f.definition_hash} for f in plan.fires],
        "ctas": [_effect(e, plan) for e in plan.cta_effects],
        "escalations": [e.as_dict() for e in plan.escalations],
        "steps": plan.steps,
        "playbook_hits": [{"playbook": h.playbook_id, "account_id": h.account_id, "signal": h.signal_id,
                           "success_due": h.success_due} for h in plan.hits],
        "success": [{"playbook": o.check.playbook_id, "account_id": o.check.account_id,
                     "hit_on": o.check.hit_on, "success": o.success, "reason": o.reason} for o in plan.success],
    }


def _print(plan: DayPlan, verb: str) -> None:
    out = Console()
    c = plan.counts()
    out.print(f"{plan.as_of}: {verb} {c['fires']} fires ({c['suppressed']} suppressed by cooldown/cap), "
              f"{c['ctas_created']} new CTAs, {c['ctas_refreshed']} refreshed, {c['ctas_closed']} auto-closed, "
              f"{c['escalations']} escalations, {c['tier_changes']} tier changes, "
              f"{c['segment_entries']} segment entries, {c['segment_exits']} exits", highlight=False)
    if plan.hold is not None and plan.hold.held:
        out.print(f"  [yellow]volume alarm:[/yellow] {plan.hold.reason} (approve with `longtail ctas approve`)",
                  highlight=False)
    for effect in plan.cta_effects[:20]:
        if isinstance(effect, CreateCta):
            owner, why = plan.owners.get(effect.cta_id, (None, ""))
            out.print(f"  + {effect.request.account_id} {effect.request.cta_type}: {effect.request.title} "
                      f"-> {owner or 'unassigned'} ({why})", highlight=False, soft_wrap=True)
    if len(plan.cta_effects) > 20:
        out.print(f"  ... and {len(plan.cta_effects) - 20} more (use --format json for all)", highlight=False)


def run(as_of: AsOfOpt = None, first: FromOpt = None, last: ToOpt = None, *, workspace: WorkspaceOpt = None,
        fmt: FmtOpt = "text", verbose: VerboseOpt = False) -> None:
    """Run the daily cycle; a range runs one day after another. Safe to run twice for the same day."""
    setup_logging(verbose)
    try:
        if fmt not in ("text", "json"):
            raise UsageError(f"--format must be text or json, not {fmt!r}")
        days = _days(as_of, first, last)
        ws = open_workspace(workspace)
        ctx, store = context(ws), open_store(ws)
        plans = []
        for day in days:
            plan = run_day(ws, day, ctx=ctx, store=store)
            plans.append(plan)
            if fmt == "text":
                _print(plan, "ran")
    except LongtailError as exc:
        raise fail(exc, verbose) from exc
    if fmt == "json":
        sys.stdout.write(json.dumps([plan_json(p) for p in plans], default=str) + "\n")


def plan(as_of: Annotated[str, typer.Option("--as-of", help="The day, YYYY-MM-DD.")],
         workspace: WorkspaceOpt = None, fmt: FmtOpt = "text", verbose: VerboseOpt = False) -> None:
    """What a run of that day would do, for whom, why and for which owner; changes nothing."""
    setup_logging(verbose)
    try:
        if fmt not in ("text", "json"):
            raise UsageError(f"--format must be text or json, not {fmt!r}")
        day = parse_day(as_of, "--as-of")
        ws = open_workspace(workspace)
        result = plan_day(ws, day)
    except LongtailError as exc:
        raise fail(exc, verbose) from exc
    if fmt == "json":
        sys.stdout.write(json.dumps(plan_json(result), default=str) + "\n")
    else:
        _print(result, "would make")


def backtest(
    first: Annotated[str, typer.Option("--from", help="First day to replay, YYYY-MM-DD.")],
    last: Annotated[str, typer.Option("--to", help="Last day to replay, YYYY-MM-DD (inclusive).")],
    playbook: Annotated[str | None, typer.Option("--playbook", help="Only this playbook.")] = None,
    every: Annotated[int, typer.Option("--every", help="Evaluate every N days (1 = daily, like run).")] = 1,
    horizon: Annotated[int, typer.Option("--horizon", help="Churn horizon in days.")] = 90,
    *, workspace: WorkspaceOpt = None, fmt: FmtOpt = "text", verbose: VerboseOpt = False,
) -> None:
    """Replay the motion over history (nothing is sent) and measure each playbook against churn; the report is
    kept for the cockpit's playbooks page."""
    setup_logging(verbose)
    try:
        if fmt not in ("text", "json"):
            raise UsageError(f"--format must be text or json, not {fmt!r}")
        d1, d2 = parse_day(first, "--from"), parse_day(last, "--to")
        ws = open_workspace(workspace)
        report = replay(ws, d1, d2, every=every, horizon_days=horizon, playbook=playbook)
        backtest_store.save(ws, report, only=playbook)  # for the cockpit's playbooks page
    except LongtailError as exc:
        raise fail(exc, verbose) from exc
    if fmt == "json":
        sys.stdout.write(json.dumps(report, default=str) + "\n")
        return
    _print_backtest(report)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _num(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _print_backtest(report: dict[str, Any]) -> None:
    out = Console(width=max(Console().width, 110))  # the table is unreadable when squeezed into 80 columns
    out.print(f"backtest {report['from']} to {report['to']} ({report['evaluations']} evaluations, every "
              f"{report['every_days']}d), churn within {report['horizon_days']} days; base rate "
              f"{_pct(report['base_rate'])}; data to {report['data_end']}; {report['csm_count']} CSMs",
              highlight=False)
    table = Table()
    for col in ("playbook", "fires", "accounts", "precision", "lift", "recall", "lead time (d)", "CTAs/CSM/week",
                "success"):
        table.add_column(col, justify="left" if col == "playbook" else "right")
    rows = [(p["id"], p) for p in report["playbooks"]] + [(f"health: entered {b['band']}", b)
                                                          for b in report["health_bands"]]
    for name, p in rows:
        table.add_row(name, f"{p['fires']:,}", f"{p['accounts']:,}", _pct(p["precision"]), _num(p["lift"], 2),
                      _pct(p["recall"]), _num(p["lead_time_days"], 0), _num(p["ctas_per_csm_week"], 2),
                      _pct(p.get("success_rate")))
    out.print(table)
