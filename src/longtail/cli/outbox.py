"""`longtail dispatch` (deliver due outbox messages) and `longtail outbox` (messages per status).

Mount with `app.command("dispatch")(dispatch_command)` and `app.command("outbox")(outbox_command)`.
Which email backend `dispatch` uses comes from the settings: email_channel = smtp | file | sim.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from longtail.channels.workspace import OUTBOX_DIR, email_channel, push_channel
from longtail.cli.common import VerboseOpt, WorkspaceOpt, console, fail, setup_logging
from longtail.dispatch import DEFAULT_LEASE_SECONDS, PUSH_CHANNELS, dispatch
from longtail.errors import LongtailError, UsageError
from longtail.settings import Workspace, open_workspace
from longtail.store.db import make_engine, migrate
from longtail.store.outbox import STATUSES, OutboxStore

out = Console()
CHANNELS = PUSH_CHANNELS

ChannelOpt = Annotated[str, typer.Option(
    "--channel", help="Outbox channel: email, webhook or slack (in_app is fetched by the product).")]


def _now() -> datetime:
    return datetime.now(UTC)


def _check_channel(channel: str | None) -> None:
    if channel is not None and channel not in CHANNELS:
        raise UsageError(f"--channel must be one of {', '.join(CHANNELS)}, not {channel!r}")


def _store(ws: Workspace) -> OutboxStore:
    engine = make_engine(ws.database_url)
    migrate(engine)
    return OutboxStore(engine)


def dispatch_command(
    *,
    until_empty: Annotated[bool, typer.Option("--until-empty/--one-batch",
                                              help="Keep claiming until nothing is due (default), or one batch.")]
    = True,
    channel: ChannelOpt = "email",
    batch: Annotated[int, typer.Option("--batch", min=1, help="Messages claimed per round.")] = 100,
    max_attempts: Annotated[int, typer.Option("--max-attempts", min=1, help="Attempts before a message fails.")]
    = 5,
    lease: Annotated[float, typer.Option("--lease", min=1.0, help="Seconds a claim lasts before another "
                                         "dispatcher may take the message over.")] = DEFAULT_LEASE_SECONDS,
    fmt: Annotated[str, typer.Option("--format", help="Output format: text or json.")] = "text",
    workspace: WorkspaceOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """Send the outbox messages that are due, through the channel set in the workspace settings."""
    setup_logging(verbose)
    try:
        _check_channel(channel)
        if fmt not in ("text", "json"):
            raise UsageError(f"--format must be text or json, not {fmt!r}")
        ws = open_workspace(workspace)
        store = _store(ws)
        worker = f"{socket.gethostname()}:{os.getpid()}"
        sender = push_channel(ws, channel)
        try:
            counts = dispatch(store, sender, worker, _now, batch=batch, until_empty=until_empty,
                              max_attempts=max_attempts, lease_seconds=lease, channel_name=channel)
        finally:
            sender.close()
    except LongtailError as exc:
        raise fail(exc, verbose) from exc
    if fmt == "json":
        sys.stdout.write(json.dumps(asdict(counts)) + "\n")
    else:
        console.print(f"{counts.sent:,} sent, {counts.retried:,} to retry, {counts.failed:,} failed, "
                      f"{counts.bounced:,} bounced, {counts.suppressed:,} suppressed "
                      f"({counts.claimed:,} claimed)", highlight=False)
    if counts.stopped:
        console.print(f"[red]stopped:[/red] {counts.stopped}", highlight=False, soft_wrap=True)
        raise typer.Exit(1)


def outbox_command(
    *,
    channel: Annotated[str | None, typer.Option("--channel", help="Only this channel (email).")] = None,
    fmt: Annotated[str, typer.Option("--format", help="Output format: table or json.")] = "table",
    workspace: WorkspaceOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """How many outbox messages are in each status (pending, sending, sent, failed, suppressed, held)."""
    setup_logging(verbose)
    try:
        _check_channel(channel)
        if fmt not in ("table", "json"):
            raise UsageError(f"--format must be table or json, not {fmt!r}")
        counts = _store(open_workspace(workspace)).counts(channel)
    except LongtailError as exc:
        raise fail(exc, verbose) from exc
    if fmt == "json":
        sys.stdout.write(json.dumps(counts) + "\n")
        return
    table = Table()
    table.add_column("status")
    table.add_column("messages", justify="right")
    for status in STATUSES:
        table.add_row(status, f"{counts[status]:,}")
    out.print(table)


__all__ = ["OUTBOX_DIR", "dispatch_command", "email_channel", "outbox_command"]
