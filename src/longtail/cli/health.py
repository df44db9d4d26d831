"""`longtail score` and `longtail health`: compute features, score them, store the daily health history.

Scorecards come from `motion/health.yml` (built-in defaults when it does not exist); scoring lives in
longtail.core.health, storage in longtail.analytics.health_store (see docs/health.md).
"""

from __future__ import annotations

import csv
import io
import json
import logging
import re
import sys
from collections import Counter
from datetime import date, timedelta
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from longtail.analytics import health_store
from longtail.analytics.health_run import checked_features, customers, score_day, workspace_scorecards
from longtail.cli.common import VerboseOpt, WorkspaceOpt, console, fail, parse_day, setup_logging
from longtail.core.health import HealthResult
from longtail.errors import LongtailError, UsageError
from longtail.settings import open_workspace

log = logging.getLogger(__name__)
out = Console()


AsOfOpt = Annotated[str | None, typer.Option("--as-of", help="Score for this day, YYYY-MM-DD.")]
FromOpt = Annotated[str | None, typer.Option("--from", help="First day of a history, YYYY-MM-DD.")]
ToOpt = Annotated[str | None, typer.Option("--to", help="Last day of a history, YYYY-MM-DD (inclusive).")]
EveryOpt = Annotated[str, typer.Option("--every", help="Spacing of a history: Nd or Nw, e.g. 7d.")]
ScoreFormatOpt = Annotated[str, typer.Option("--format", help="Output format: text, csv or json.")]
HealthFormatOpt = Annotated[str, typer.Option("--format", help="Output format: text or json.")]


def _every(value: str) -> timedelta:
    match = re.fullmatch(r"\s*(\d+)\s*([dw])\s*", value)
    if not match or int(match.group(1)) == 0:
        raise UsageError(f"--every must look like 1d, 7d or 2w, not {value!r}")
    days = int(match.group(1)) * (7 if match.group(2) == "w" else 1)
    return timedelta(days=days)


def score_dates(as_of: str | None, from_: str | None, to: str | None, every: str) -> list[date]:
    """--as-of DATE, or --from/--to (both inclusive) every N days."""
    if as_of is not None:
        if from_ is not None or to is not None:
            raise UsageError("give either --as-of or --from/--to, not both")
        return [parse_day(as_of, "--as-of")]
    if from_ is None or to is None:
        raise UsageError("give --as-of DATE, or --from DATE and --to DATE for a history")
    first, last, step = parse_day(from_, "--from"), parse_day(to, "--to"), _every(every)
    if last < first:
        raise UsageError(f"--to ({last}) must not be before --from ({first})")
    days = []
    day = first
    while day <= last:
        days.append(day)
        day += step
    return days


def _write_scores(rows: list[tuple[date, HealthResult]], fmt: str, history: bool) -> None:
    if fmt == "json":
        payload = [{**({"as_of": day.isoformat()} if history else {}), "account_id": r.account_id,
                    "score": r.score, "band": r.band} for day, r in rows]
        sys.stdout.write(json.dumps(payload, indent=1) + "\n")
        return
    buffer = io.StringIO()
    if fmt == "csv":
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow((["as_of"] if history else []) + ["account_id", "score", "band"])
        for day, r in rows:
            writer.writerow(([day.isoformat()] if history else []) + [r.account_id, f"{r.score:.2f}", r.band])
    else:
        width = max([len("account_id")] + [len(r.account_id) for _, r in rows])
        head = "as_of       " if history else ""
        buffer.write(f"{head}{'account_id':<{width}}  {'score':>6}  band\n")
        for day, r in rows:
            prefix = f"{day.isoformat()}  " if history else ""
            buffer.write(f"{prefix}{r.account_id:<{width}}  {r.score:>6.1f}  {r.band}\n")
    sys.stdout.write(buffer.getvalue())


def score(
    *,
    as_of: AsOfOpt = None,
    from_: FromOpt = None,
    to: ToOpt = None,
    every: EveryOpt = "1d",
    workspace: WorkspaceOpt = None,
    fmt: ScoreFormatOpt = "text",
    verbose: VerboseOpt = False,
) -> None:
    """Compute features and health for a day (or a history) and print account_id, score, band."""
    setup_logging(verbose)
    rows: list[tuple[date, HealthResult]] = []
    try:
        if fmt not in ("text", "csv", "json"):
            raise UsageError(f"--format must be text, csv or json, not {fmt!r}")
        days = score_dates(as_of, from_, to, every)
        ws = open_workspace(workspace)
        cards = workspace_scorecards(ws)
        for day in days:
            results = sorted(score_day(ws, day, cards), key=lambda r: r.account_id)
            rows.extend((day, r) for r in results)
            bands = Counter(r.band for r in results)
            console.print(f"{day}: scored {len(results):,} accounts ("
                          + ", ".join(f"{n:,} {b}" for b, n in sorted(bands.items())) + ")", highlight=False)
    except LongtailError as exc:
        raise fail(exc, verbose) from exc
    _write_scores(rows, fmt, history=as_of is None)


def health(
    account_id: Annotated[str, typer.Argument(help="The account to explain.")],
    *,
    as_of: Annotated[str, typer.Option("--as-of", help="Day, YYYY-MM-DD.")],
    workspace: WorkspaceOpt = None,
    fmt: HealthFormatOpt = "text",
    verbose: VerboseOpt = False,
) -> None:
    """One account's health: score, band, trend, components, reasons and the path to green."""
    setup_logging(verbose)
    try:
        if fmt not in ("text", "json"):
            raise UsageError(f"--format must be text or json, not {fmt!r}")
        day = parse_day(as_of, "--as-of")
        ws = open_workspace(workspace)
        features = checked_features(ws, day)
        if account_id not in features.column("account_id").to_pylist():
            raise UsageError(f"no account {account_id!r} in the features for {day}")
        current = customers(features)
        if account_id not in current.column("account_id").to_pylist():
            raise UsageError(f"{account_id} was not a customer on {day} (no active subscription)")
        score_day(ws, day, workspace_scorecards(ws), current)
        row = health_store.read_account(ws, day, account_id)
        if row is None:
            raise LongtailError(f"account {account_id!r} was scored but not found in the store for {day}")
    except LongtailError as exc:
        raise fail(exc, verbose) from exc
    if fmt == "json":
        sys.stdout.write(json.dumps(row, default=str, indent=1) + "\n")
        return
    _print_health(row)


def _signed(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.1f}"


def _print_health(row: dict[str, Any]) -> None:
    band = row["band"]
    detail = []
    if row["raw_band"] != band:
        detail.append(f"score alone says {row['raw_band']}")
    if row["pending_band"]:
        detail.append(f"{row['pending_band']} pending since {row['pending_since']}")
    extra = f" ({'; '.join(detail)})" if detail else ""
    out.print(f"{row['account_id']} on {row['as_of']}: {row['score']:.1f}, {band}{extra}", highlight=False,
              soft_wrap=True)
    out.print(f"trend: {_signed(row['change_7d'])} vs 7 days ago, {_signed(row['change_30d'])} vs 30 days ago",
              highlight=False)
    out.print(f"scorecard: {row['scorecard']} ({row['scorecard_hash'][:12]})", highlight=False)
    table = Table(title="components", title_justify="left")
    for name in ("component", "value", "score", "weight", "contribution"):
        table.add_column(name, justify="left" if name == "component" else "right")
    for comp in row["components"]:
        carried = " (carried)" if comp["carried"] else ""
        value = "no data" if comp["value"] is None else f"{comp['value']:.4g}{carried}"
        points = "excluded" if comp["score"] is None else f"{comp['score']:.1f}"
        table.add_row(comp["label"], value, points, f"{comp['weight']:g}", f"{comp['contribution']:.1f}")
    out.print(table)
    out.print("reasons:" if row["reasons"] else "reasons: none", highlight=False)
    for reason in row["reasons"]:
        out.print(f"  - {reason}", highlight=False, soft_wrap=True)
    if row["path_to_green"]:
        out.print("path to green:", highlight=False)
        for step in row["path_to_green"]:
            out.print(f"  - {step['sentence']}", highlight=False, soft_wrap=True)
    elif not row["green_reachable"]:
        out.print("path to green: out of reach by improving the measured components alone", highlight=False)
