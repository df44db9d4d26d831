"""`longtail report journeys`: per journey, entries, funnel, exits and the goal's lift over the holdout.

Mount in cli/main.py with `app.add_typer(report_app, name="report")`. Only this layer reads the clock:
`--as-of` defaults to now.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, time, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.table import Table

from longtail.analytics.connect import workspace_feature_defs
from longtail.analytics.motion_source import workspace_motion
from longtail.cli.common import FormatOpt, VerboseOpt, WorkspaceOpt, fail, parse_day, setup_logging
from longtail.errors import LongtailError, UsageError
from longtail.runner.journey_report import JourneyStats, journey_report
from longtail.runner.journeys import journey_context
from longtail.settings import open_workspace
from longtail.store.db import make_engine, migrate

report_app = typer.Typer(name="report", help="Reports on what the motion did.", no_args_is_help=True)
out = Console()

AsOfOpt = Annotated[str | None, typer.Option("--as-of", help="Report as of the end of this day, YYYY-MM-DD in "
                                             "the workspace time zone (default: now).")]


def _as_of(day: str | None, tz: str) -> datetime:
    if day is None:
        return datetime.now(UTC)
    end = datetime.combine(parse_day(day, "--as-of") + timedelta(days=1), time(0), tzinfo=ZoneInfo(tz))
    return end.astimezone(UTC) - timedelta(microseconds=1)


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
    for note in stats.notes:
        out.print(f"  {note}", highlight=False)


@report_app.command("journeys")
def journeys_command(as_of: AsOfOpt = None, fmt: FormatOpt = "text", workspace: WorkspaceOpt = None,
                     verbose: VerboseOpt = False) -> None:
    """Per journey: entered, holdout vs treated, funnel per step, exits, and the goal's lift with a 95% CI."""
    setup_logging(verbose)
    try:
        if fmt not in ("text", "json"):
            raise UsageError(f"--format must be text or json, not {fmt!r}")
        ws = open_workspace(workspace)
        context = journey_context(ws, workspace_motion(ws), workspace_feature_defs(ws).names)
        at = _as_of(as_of, ws.settings.timezone)
        engine = make_engine(ws.database_url)
        migrate(engine)
        stats = journey_report(engine, context.journeys.journeys if context else {}, at)
    except LongtailError as exc:
        raise fail(exc, verbose) from exc
    if fmt == "json":
        sys.stdout.write(json.dumps({"as_of": at.isoformat(), "journeys": [s.to_json() for s in stats]},
                                    indent=2, default=str) + "\n")
        return
    if not stats:
        out.print("no journeys defined (motion/journeys/*.yml)")
    for s in stats:
        _print(s)
