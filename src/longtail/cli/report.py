"""`longtail report journeys`: per journey, entries, funnel, exits and the goal's lift over the holdout.

Mount in cli/main.py with `app.add_typer(report_app, name="report")`. Only this layer reads the clock:
`--as-of` defaults to now. `--from D1 --to D2` reports instead the enrollments that entered in [D1, D2) (days in
the workspace time zone, D2 exclusive), observed as of the end of the window.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.table import Table

from longtail.analytics.connect import workspace_feature_defs
from longtail.analytics.motion_source import workspace_motion
from longtail.cli.common import FormatOpt, VerboseOpt, WorkspaceOpt, fail, parse_day, setup_logging
from longtail.errors import LongtailError, UsageError
from longtail.runner.journey_report import JourneyStats, Window, channel_rates, journey_report
from longtail.runner.journeys import journey_context
from longtail.settings import open_workspace
from longtail.store.db import make_engine, migrate

report_app = typer.Typer(name="report", help="Reports on what the motion did.", no_args_is_help=True)
out = Console()

AsOfOpt = Annotated[str | None, typer.Option("--as-of", help="Report as of the end of this day, YYYY-MM-DD in "
                                             "the workspace time zone (default: now).")]
FromOpt = Annotated[str | None, typer.Option("--from", help="Only enrollments that entered on or after this day, "
                                             "YYYY-MM-DD in the workspace time zone (with --to).")]
ToOpt = Annotated[str | None, typer.Option("--to", help="...and before this day (exclusive), YYYY-MM-DD; outcomes "
                                           "are observed as of the start of this day (with --from).")]
MAX_DAY_CHARS = 40
"""A longer --from/--to/--as-of cannot be a date; the error does not echo it back."""


def _day(value: str, option: str) -> date:
    if len(value) > MAX_DAY_CHARS:
        raise UsageError(f"{option} must be a date as YYYY-MM-DD, not a {len(value):,}-character string")
    return parse_day(value, option)


def _midnight(day: date, tz: str, option: str) -> datetime:
    """The start of `day` in the time zone `tz`, in UTC."""
    try:
        return datetime.combine(day, time(0), tzinfo=ZoneInfo(tz)).astimezone(UTC)
    except OverflowError:
        raise UsageError(f"{option} {day.isoformat()} is out of range") from None


def _as_of(day: str | None, tz: str) -> datetime:
    if day is None:
        return datetime.now(UTC)
    parsed = _day(day, "--as-of")
    if parsed == date.max:
        raise UsageError(f"--as-of {parsed.isoformat()} is out of range")
    return _midnight(parsed + timedelta(days=1), tz, "--as-of") - timedelta(microseconds=1)


def _check_window(as_of: str | None, start: str | None, end: str | None) -> tuple[date, date] | None:
    """The days of --from/--to, checked before the workspace is opened; None for a cumulative report."""
    if start is None and end is None:
        return None
    if start is None or end is None:
        raise UsageError("--from and --to go together: give both for a window of entry, or neither for a "
                         "cumulative report")
    if as_of is not None:
        raise UsageError("--as-of is for a cumulative report and cannot be combined with --from/--to (a window "
                         "is observed as of its --to day)")
    first, last = _day(start, "--from"), _day(end, "--to")
    if last <= first:
        raise UsageError(f"--to ({last.isoformat()}) must be after --from ({first.isoformat()}): the window is "
                         "[--from, --to), --to excluded")
    return first, last


def _window_line(days: tuple[date, date], tz: str) -> str:
    first, last = days
    return (f"Enrollments that entered from {first.isoformat()} up to {last.isoformat()} (excluded), {tz}; "
            f"outcomes as of the end of {(last - timedelta(days=1)).isoformat()}.")


def _pct(part: int | None, whole: int) -> str:
    return "-" if part is None else f"{part:,}" + (f" ({part / whole:.0%})" if whole else "")


def _print(stats: JourneyStats) -> None:
    out.print(f"[bold]{stats.journey_id}[/bold]: {stats.entered:,} entered ({stats.accounts:,} accounts; "
              f"{stats.treated_enrollments:,} treated, {stats.holdout_enrollments:,} held out)", highlight=False)
    table = Table("step", "type", "reached", "sent", "opened", "clicked")
    for s in stats.funnel:
        sent = s.sent or 0
        table.add_row(s.step_id, s.type, f"{s.reached:,}", _pct(s.sent, stats.treated_enrollments),
                      _pct(s.opened, sent), _pct(s.clicked, sent))
    out.print(table)
    for reason, n in stats.exit_reasons.items():
        out.print(f"  {n:,} {reason}", highlight=False)
    if stats.lift is not None:
        out.print(f"  goal `{stats.goal}`: {stats.lift.verdict}", highlight=False, soft_wrap=True)
    for channel, shares in channel_rates(stats.channels).items():
        parts = [f"{kind} {share:.0%}" for kind, share in shares.items() if share is not None]
        if parts:
            out.print(f"  {channel}, of {stats.channels[channel].get('sent', 0):,} sent: " + ", ".join(parts),
                      highlight=False)
    for note in stats.notes:
        out.print(f"  {note}", highlight=False)


@report_app.command("journeys")
def journeys_command(  # noqa: PLR0917 - typer options are keyword-like parameters
        as_of: AsOfOpt = None, start: FromOpt = None, end: ToOpt = None, fmt: FormatOpt = "text",
        workspace: WorkspaceOpt = None, verbose: VerboseOpt = False) -> None:
    """Per journey: entered, holdout vs treated, funnel per step, exits, and the goal's lift with a 95% CI.

    Cumulative as of --as-of, or with --from D1 --to D2 for the enrollments that entered in [D1, D2).
    """
    setup_logging(verbose)
    try:
        if fmt not in ("text", "json"):
            raise UsageError(f"--format must be text or json, not {fmt!r}")
        days = _check_window(as_of, start, end)
        ws = open_workspace(workspace)
        tz = ws.settings.timezone
        window = None if days is None else Window(_midnight(days[0], tz, "--from"), _midnight(days[1], tz, "--to"))
        context = journey_context(ws, workspace_motion(ws), workspace_feature_defs(ws).names)
        at = window.as_of if window else _as_of(as_of, tz)
        engine = make_engine(ws.database_url)
        migrate(engine)
        stats = journey_report(engine, context.journeys.journeys if context else {}, window or at)
    except LongtailError as exc:
        raise fail(exc, verbose) from exc
    if fmt == "json":
        doc: dict[str, Any] = {"as_of": at.isoformat(), "journeys": [s.to_json() for s in stats]}
        if window is not None and days is not None:
            # The days as asked, then the instants they mean; `as_of` is the last instant counted (end - 1 us).
            doc = {"from": days[0].isoformat(), "to": days[1].isoformat(), "to_excluded": True, "timezone": tz,
                   "start": window.start.isoformat(), "end": window.end.isoformat(), **doc}
        for row, s in zip(doc["journeys"], stats, strict=True):
            row["rates"] = channel_rates(s.channels)
        sys.stdout.write(json.dumps(doc, indent=2, default=str) + "\n")
        return
    if days is not None:
        out.print(_window_line(days, tz), highlight=False, soft_wrap=True)
    if not stats:
        out.print("no journeys defined (motion/journeys/*.yml)")
    for s in stats:
        _print(s)
