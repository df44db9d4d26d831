"""`longtail coverage`: is each tier staffed to target, and what does it cost?

The counting is done by longtail.core.motion.coverage; this module gathers its inputs (the tiers the last
`longtail run` stored, ARR from the features of the day, named CSMs from the accounts, the team and the
motion's targets and loaded costs) and prints the report. It reads the clock: --as-of defaults to today.
"""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from datetime import date
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from longtail.analytics.coverage_run import covered_accounts
from longtail.analytics.features import features_as_of
from longtail.analytics.health_run import customers
from longtail.cli.common import VerboseOpt, WorkspaceOpt, fail, parse_day, setup_logging
from longtail.core.motion.coverage import CoverageReport, CoverageTarget, coverage_report
from longtail.errors import LongtailError, UsageError
from longtail.runner.daily import Context, context, open_store
from longtail.settings import open_workspace

out = Console()

AsOfOpt = Annotated[str | None, typer.Option("--as-of", help="The day whose ARR counts, YYYY-MM-DD "
                                                             "(default: today).")]
FmtOpt = Annotated[str, typer.Option("--format", help="Output format: table or json.")]


def build_report(ctx: Context, tiers: dict[str, str], as_of: date) -> CoverageReport:
    """The coverage report for the stored tiers, ARR as of `as_of`, and the motion's targets and costs."""
    coverage = ctx.motion.team.coverage
    # Coverage is about customers on the day: a former customer keeps its last stored tier but needs no CSM.
    current = customers(features_as_of(ctx.ws, as_of)).select(["account_id", "arr"])
    ids = set(current.column("account_id").to_pylist())
    accounts, warnings = covered_accounts({a: t for a, t in tiers.items() if a in ids}, current, ctx.fields)
    targets = [CoverageTarget(tier, low, high) for tier, (low, high) in sorted(coverage.targets.items())]
    report = coverage_report(accounts, ctx.team, targets, coverage.loaded_cost)
    return replace(report, warnings=(*warnings, *report.warnings))


def _money(value: float | None) -> str:
    return "-" if value is None else f"${value:,.0f}"


def _number(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _tier_table(report: CoverageReport) -> Table:
    table = Table(title="Tiers")
    for name in ("tier", "accounts", "ARR", "CSMs", "accounts/CSM", "target", "status", "cost/account",
                 "cost/$1k ARR"):
        table.add_column(name, justify="left" if name in ("tier", "status", "target") else "right")
    for t in report.tiers:
        target = "-" if t.target_min is None else f"{t.target_min}-{t.target_max}"
        table.add_row(t.tier, f"{t.accounts:,}", _money(t.arr), _number(t.fte, 2), _number(t.accounts_per_csm),
                      target, t.status, _money(t.cost_per_account), _number(t.cost_per_1k_arr, 2))
    totals = report.totals
    table.add_row("total", f"{totals.accounts:,}", _money(totals.arr), f"{totals.csms:,}",
                  _number(totals.accounts_per_csm), "", "", _money(totals.cost_per_account),
                  _number(totals.cost_per_1k_arr, 2), style="bold")
    return table


def _member_table(report: CoverageReport) -> Table:
    table = Table(title="CSMs")
    for name in ("member", "name", "role", "accounts", "ARR", "capacity", "utilisation", "!"):
        table.add_column(name, justify="right" if name in ("accounts", "ARR", "capacity", "utilisation") else "left")
    for m in report.members:
        # The warning's sentence is long: the table flags the row and the sentence is listed under warnings.
        table.add_row(m.member_id, m.name, m.role, _number(m.accounts), _money(m.arr),
                      "-" if m.capacity is None else f"{m.capacity:,}",
                      "-" if m.utilisation is None else f"{m.utilisation:.0%}", "!" if m.warning else "")
    return table


def _print(report: CoverageReport, as_of: date) -> None:
    out.print(_tier_table(report))
    for t in report.tiers:
        out.print(f"  {t.tier}: {t.sentence}", highlight=False, soft_wrap=True)
    out.print(_member_table(report))
    totals = report.totals
    out.print(f"cost: CSMs {_money(totals.csm_cost)} + other roles {_money(totals.other_cost)} = "
              f"{_money(totals.total_cost)} a year; ARR as of {as_of}", highlight=False, soft_wrap=True)
    warnings = [*(m.warning for m in report.members if m.warning), *report.warnings]
    out.print("warnings:" if warnings else "warnings: none", highlight=False)
    for warning in warnings:
        out.print(f"  - {warning}", highlight=False, soft_wrap=True)


def coverage(
    *,
    as_of: AsOfOpt = None,
    fmt: FmtOpt = "table",
    workspace: WorkspaceOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """Coverage per tier and per CSM: accounts per CSM against target, utilisation and cost."""
    setup_logging(verbose)
    try:
        if fmt not in ("table", "json"):
            raise UsageError(f"--format must be table or json, not {fmt!r}")
        # The CLI is the outermost loop: the only place that may read the clock.
        day = date.today() if as_of is None else parse_day(as_of, "--as-of")
        ws = open_workspace(workspace)
        ctx = context(ws)
        tiers = open_store(ws).current_tiers()
        if ctx.motion.tier_names() and not tiers:
            raise UsageError("no tiers stored yet: run `longtail run --as-of DAY` first, then `longtail coverage`")
        report = build_report(ctx, tiers, day)
    except LongtailError as exc:
        raise fail(exc, verbose) from exc
    if fmt == "json":
        sys.stdout.write(json.dumps(report.as_dict(), indent=1) + "\n")
        return
    _print(report, day)
