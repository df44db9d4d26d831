"""`longtail ttv` (time to value by signup cohort) and `longtail bands` (health bands over time)."""

from __future__ import annotations

import json
import sys
from datetime import date
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from longtail.analytics.value_metrics import band_rows, ttv_rows
from longtail.cli.common import FormatOpt, VerboseOpt, WorkspaceOpt, fail, parse_day, setup_logging
from longtail.errors import LongtailError, UsageError
from longtail.settings import open_workspace

out = Console()

FromOpt = Annotated[str, typer.Option("--from", help="First day, YYYY-MM-DD (inclusive).")]
ToOpt = Annotated[str, typer.Option("--to", help="End day, YYYY-MM-DD (exclusive).")]


def _check_format(fmt: str) -> None:
    if fmt not in ("text", "json"):
        raise UsageError(f"--format must be text or json, not {fmt!r}")


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, date) else v for k, v in row.items()}


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def ttv(
    *,
    from_: FromOpt,
    to: ToOpt,
    as_of: Annotated[str | None, typer.Option("--as-of", help="Measure on this day (default: the day before --to).")]
    = None,
    by: Annotated[str | None, typer.Option("--by", help="Group by an account column, e.g. industry.")] = None,
    workspace: WorkspaceOpt = None,
    fmt: FormatOpt = "text",
    verbose: VerboseOpt = False,
) -> None:
    """Time to value of the accounts created in [--from, --to), by creation month."""
    setup_logging(verbose)
    try:
        _check_format(fmt)
        d1, d2 = parse_day(from_, "--from"), parse_day(to, "--to")
        day = parse_day(as_of, "--as-of") if as_of else date.fromordinal(d2.toordinal() - 1)
        rows = ttv_rows(open_workspace(workspace), d1, d2, day, by)
    except LongtailError as exc:
        raise fail(exc, verbose) from exc
    if fmt == "json":
        sys.stdout.write(json.dumps([_jsonable(r) for r in rows]) + "\n")
        return
    table = Table(title=f"Time to value, accounts created {d1} to {d2}, measured on {day}")
    for name in ("cohort", *(("group",) if by else ()), "accounts", "reached", "median days", "p75 days",
                 "within 30d", "within 90d"):
        table.add_column(name, justify="left" if name in ("cohort", "group") else "right")
    for r in rows:
        table.add_row(r["cohort"].strftime("%Y-%m"), *((str(r["group"]),) if by else ()), str(r["accounts"]),
                      f"{r['reached']} ({_pct(r['reached_share'])})", _num(r["median_days"]), _num(r["p75_days"]),
                      _pct(r["within_30d"]), _pct(r["within_90d"]))
    out.print(table)


def bands(
    *,
    from_: FromOpt,
    to: ToOpt,
    every: Annotated[int, typer.Option("--every", help="Days between sampled health days.")] = 7,
    by: Annotated[str | None, typer.Option("--by", help="Group by `tier` (held on each day) or an account column.")]
    = None,
    workspace: WorkspaceOpt = None,
    fmt: FormatOpt = "text",
    verbose: VerboseOpt = False,
) -> None:
    """Accounts per health band over time, from the stored daily scores."""
    setup_logging(verbose)
    try:
        _check_format(fmt)
        d1, d2 = parse_day(from_, "--from"), parse_day(to, "--to")
        rows = band_rows(open_workspace(workspace), d1, d2, every, by)
    except LongtailError as exc:
        raise fail(exc, verbose) from exc
    if fmt == "json":
        sys.stdout.write(json.dumps([_jsonable(r) for r in rows]) + "\n")
        return
    names = sorted({b for r in rows for b in r["bands"]})
    table = Table(title=f"Health bands from {d1} to {d2}")
    for name in ("day", *(("group",) if by else ()), *names, "accounts"):
        table.add_column(name, justify="left" if name in ("day", "group") else "right")
    for r in rows:
        cells = [f"{r['bands'].get(b, 0)} ({_pct(r['bands'].get(b, 0) / r['accounts'])})" for b in names]
        table.add_row(r["day"].isoformat(), *((str(r["group"]),) if by else ()), *cells, str(r["accounts"]))
    out.print(table)
