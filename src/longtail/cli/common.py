"""What every command shares: options, logging set-up, date parsing and the error edge.

The edge turns a `LongtailError` into one readable line on stderr and its exit code (a traceback only
with --verbose).
"""

from __future__ import annotations

import getpass
import logging
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from longtail.errors import LongtailError, UsageError

console = Console(stderr=True)

WorkspaceOpt = Annotated[
    Path | None,
    typer.Option("--workspace", "-w", help="Workspace folder (default: LONGTAIL_WORKSPACE or the current folder)."),
]
VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v", help="Show tracebacks and debug logs.")]
FormatOpt = Annotated[str, typer.Option("--format", help="Output format: text or json.")]


def setup_logging(verbose: bool) -> None:
    level = logging.DEBUG if verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


def fail(exc: LongtailError, verbose: bool) -> typer.Exit:
    """Report `exc` in one line (plus the traceback with --verbose); returns the Exit to raise."""
    if verbose:
        console.print_exception()
    console.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False, soft_wrap=True)
    return typer.Exit(exc.exit_code)


def parse_day(value: str, option: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise UsageError(f"{option} must be a date as YYYY-MM-DD, not {value!r}") from None


def actor_name(value: str | None) -> str:
    """Who made a change by hand: --actor, else the login name (recorded in the audit trail)."""
    if value:
        return value
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name (e.g. a container without a passwd entry)
        return "cli"
