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

import pyarrow as pa
import typer
from rich.console import Console
from rich.table import Table

from longtail.analytics import health_store
from longtail.analytics.health_run import (
    checked_features,
    customers,
    score_day,
    score_series,
    workspace_scorecards,
)
from longtail.cli.common import VerboseOpt, WorkspaceOpt, console, fail, parse_day, setup_logging
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


class _ScoreWriter:
    """Prints `score`'s rows day by day (a history of a million accounts is never held whole): text, CSV or a JSON
    list, with an as_of column for a history."""

    def __init__(self, fmt: str, history: bool) -> None:
        self.fmt, self.history, self.rows = fmt, history, 0

    def day(self, day: date, scores: pa.Table) -> None:
        ids = scores.column("account_id").to_pylist()
        values = scores.column("score").to_pylist()
        bands = scores.column("band").to_pylist()
        buffer = io.StringIO()
        if self.fmt == "json":
            for account, value, band in zip(ids, values, bands, strict=True):
                item = {**({"as_of": day.isoformat()} if self.history else {}), "account_id": account,
                        "score": value, "band": band}
                buffer.write(("[\n" if self.rows == 0 else ",\n") + json.dumps(item))
                self.rows += 1
        elif self.fmt == "csv":
            writer = csv.writer(buffer, lineterminator="\n")
            if self.rows == 0:
                writer.writerow((["as_of"] if self.history else []) + ["account_id", "score", "band"])
            prefix = [day.isoformat()] if self.history else []
            writer.writerows([*prefix, a, f"{v:.2f}", b] for a, v, b in zip(ids, values, bands, strict=True))
            self.rows += len(ids)
        else:
            self._text(buffer, day, ids, values, bands)
        sys.stdout.write(buffer.getvalue())

    def _text(self, buffer: io.StringIO, day: date, ids: list[str], values: list[float], bands: list[str]) -> None:
        # the width of each day's own ids: a day is printed before the next is scored
        width = max([len("account_id")] + [len(a) for a in ids])
        head = "as_of       " if self.history else ""
        buffer.write(f"{head}{'account_id':<{width}}  {'score':>6}  band\n")
        prefix = f"{day.isoformat()}  " if self.history else ""
        for account, value, band in zip(ids, values, bands, strict=True):
            buffer.write(f"{prefix}{account:<{width}}  {value:>6.1f}  {band}\n")
        self.rows += len(ids)

    def close(self) -> None:
        if self.fmt == "json":
            sys.stdout.write("[]\n" if self.rows == 0 else "\n]\n")


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
    try:
        if fmt not in ("text", "csv", "json"):
            raise UsageError(f"--format must be text, csv or json, not {fmt!r}")
        days = score_dates(as_of, from_, to, every)
        ws = open_workspace(workspace)
        cards = workspace_scorecards(ws)
        out = _ScoreWriter(fmt, history=as_of is None)
        # a history reads its features as one series (whole-history parts carried from date to date)
        scored = score_series(ws, days, cards) if as_of is None else ((d, score_day(ws, d, cards)) for d in days)
        for day, scores in scored:
            bands = Counter(scores.column("band").to_pylist())
            console.print(f"{day}: scored {scores.num_rows:,} accounts ("
                          + ", ".join(f"{n:,} {b}" for b, n in sorted(bands.items())) + ")", highlight=False)
            out.day(day, scores)
    except LongtailError as exc:
        raise fail(exc, verbose) from exc
    out.close()


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
