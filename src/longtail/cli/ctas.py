"""`longtail ctas`: list, show and work the CTAs (snooze, start, done, cancel, approve, escalate).

The moves themselves are validated in longtail.core.motion.ctas; this module reads the clock (the day a
move happens defaults to today), loads the CTA from the operational store, applies the move and saves it
with its audit line.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from longtail.cli.common import VerboseOpt, WorkspaceOpt, actor_name, console, fail, parse_day, setup_logging
from longtail.core.motion import ctas as core
from longtail.core.motion.ctas import Cta
from longtail.errors import LongtailError, UsageError
from longtail.settings import open_workspace
from longtail.store.db import make_engine, migrate
from longtail.store.motion import MotionStore

app = typer.Typer(help="Work the CTAs (calls to action): list, show, snooze, start, done, cancel, approve.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
out = Console()

IdArg = Annotated[str, typer.Argument(help="The CTA id (see `longtail ctas list`).")]
OnOpt = Annotated[str | None, typer.Option("--on", help="Day of the move, YYYY-MM-DD (default: today).")]
ActorOpt = Annotated[str | None, typer.Option("--actor", help="Who makes the move (default: your login name).")]
ListFormatOpt = Annotated[str, typer.Option("--format", help="Output format: table or json.")]


def _store(workspace: Path | None) -> MotionStore:
    ws = open_workspace(workspace)
    engine = make_engine(ws.database_url)
    migrate(engine)
    return MotionStore(engine)


def _day(value: str | None) -> date:
    # The CLI is the outermost loop: the only place that may read the clock.
    return date.today() if value is None else parse_day(value, "--on")


def _load(store: MotionStore, cta_id: str) -> Cta:
    cta = store.get_cta(cta_id)
    if cta is None:
        raise UsageError(f"no CTA {cta_id!r} (see `longtail ctas list`)")
    return cta


def _required(value: str | None, option: str, command: str) -> str:
    if value is None or not value.strip():
        raise UsageError(f"{command} needs {option}")
    return value


def _check_format(fmt: str, allowed: tuple[str, ...]) -> None:
    if fmt not in allowed:
        raise UsageError(f"--format must be {' or '.join(allowed)}, not {fmt!r}")


def cta_json(cta: Cta) -> dict[str, Any]:
    """A Cta as JSON-able values (dates as YYYY-MM-DD)."""
    data = asdict(cta)
    return {k: v.isoformat() if isinstance(v, date) else list(v) if isinstance(v, tuple) else v
            for k, v in data.items()}


def _say(message: str) -> None:
    console.print(message, highlight=False, soft_wrap=True)


@app.command("list")
def list_(
    *,
    status: Annotated[str | None, typer.Option("--status", help="Only CTAs with this status.")] = None,
    owner: Annotated[str | None, typer.Option("--owner", help="Only CTAs owned by this member.")] = None,
    account: Annotated[str | None, typer.Option("--account", help="Only CTAs of this account.")] = None,
    fmt: ListFormatOpt = "table",
    workspace: WorkspaceOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """List CTAs (all of them, or filtered), soonest due first."""
    setup_logging(verbose)
    try:
        _check_format(fmt, ("table", "json"))
        if status is not None and status not in core.STATUSES:
            raise UsageError(f"--status must be one of {', '.join(core.STATUSES)}, not {status!r}")
        rows = _store(workspace).list_ctas(status=status, owner=owner, account=account)
    except LongtailError as exc:
        raise fail(exc, verbose) from exc
    if fmt == "json":
        sys.stdout.write(json.dumps([cta_json(c) for c in rows], indent=1) + "\n")
        return
    table = Table()
    for name in ("id", "account", "type", "priority", "status", "due", "owner", "title"):
        table.add_column(name)
    for c in rows:
        table.add_row(c.cta_id, c.account_id, c.cta_type, c.priority, c.status, c.due.isoformat(),
                      c.owner_id or "-", c.title)
    out.print(table)
    _say(f"{len(rows):,} CTAs")


@app.command()
def show(cta_id: IdArg, *, fmt: ListFormatOpt = "table", workspace: WorkspaceOpt = None,
         verbose: VerboseOpt = False) -> None:
    """One CTA: its fields, the inputs that made it fire, and its history."""
    setup_logging(verbose)
    try:
        _check_format(fmt, ("table", "json"))
        store = _store(workspace)
        cta = _load(store, cta_id)
        history = store.history(cta_id)
    except LongtailError as exc:
        raise fail(exc, verbose) from exc
    if fmt == "json":
        payload = {**cta_json(cta), "history": history}
        sys.stdout.write(json.dumps(payload, indent=1, default=str) + "\n")
        return
    table = Table(show_header=False)
    table.add_column("field")
    table.add_column("value")
    for key, value in cta_json(cta).items():
        if key not in ("inputs", "checklist"):
            table.add_row(key, "-" if value is None else str(value))
    out.print(table)
    out.print("checklist:" if cta.checklist else "checklist: none", highlight=False)
    for item in cta.checklist:
        out.print(f"  - {item}", highlight=False, soft_wrap=True)
    out.print(f"inputs: {json.dumps(dict(cta.inputs), default=str)}", highlight=False, soft_wrap=True)
    out.print("history:", highlight=False)
    for line in history:
        reason = line["detail"].get("reason") if isinstance(line["detail"], dict) else None
        out.print(f"  {line['on']}  {line['action']:<10} {line['actor']}" + (f": {reason}" if reason else ""),
                  highlight=False, soft_wrap=True)


@app.command()
def snooze(
    cta_id: IdArg,
    *,
    until: Annotated[str | None, typer.Option("--until", help="Wake up on this day, YYYY-MM-DD.")] = None,
    reason: Annotated[str | None, typer.Option("--reason", help="Why it waits (required).")] = None,
    on: OnOpt = None,
    actor: ActorOpt = None,
    workspace: WorkspaceOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """Put a CTA aside until a day; it opens again on that day."""
    setup_logging(verbose)
    try:
        wake = parse_day(_required(until, "--until DATE", "snooze"), "--until")
        why = _required(reason, "--reason TEXT", "snooze")
        day = _day(on)
        store = _store(workspace)
        cta = core.snooze(_load(store, cta_id), wake, why, day)
        store.save_cta(cta, "snooze", actor_name(actor), {"until": wake.isoformat(), "reason": why})
    except LongtailError as exc:
        raise fail(exc, verbose) from exc
    _say(f"{cta_id} snoozed until {wake}")


@app.command()
def start(cta_id: IdArg, *, on: OnOpt = None, actor: ActorOpt = None, workspace: WorkspaceOpt = None,
          verbose: VerboseOpt = False) -> None:
    """Start working a CTA."""
    setup_logging(verbose)
    try:
        day = _day(on)
        store = _store(workspace)
        cta = core.start(_load(store, cta_id), day)
        store.save_cta(cta, "start", actor_name(actor))
    except LongtailError as exc:
        raise fail(exc, verbose) from exc
    _say(f"{cta_id} in progress")


@app.command()
def done(
    cta_id: IdArg,
    *,
    note: Annotated[str | None, typer.Option("--note", help="What was done.")] = None,
    on: OnOpt = None,
    actor: ActorOpt = None,
    workspace: WorkspaceOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """Complete a CTA (and create its follow-up when it asks for one)."""
    setup_logging(verbose)
    try:
        day = _day(on)
        store = _store(workspace)
        cta, follow_request = core.complete(_load(store, cta_id), day, note)
        follow = None if follow_request is None else core.plan_follow_up(cta, follow_request, day)
        store.save_cta(cta, "done", actor_name(actor), {"note": note} if note else None, follow_up=follow)
    except LongtailError as exc:
        raise fail(exc, verbose) from exc
    extra = "" if follow is None else f"; follow-up {follow.cta_id} due {follow.request.due}"
    _say(f"{cta_id} done{extra}")


@app.command()
def cancel(
    cta_id: IdArg,
    *,
    reason: Annotated[str | None, typer.Option("--reason", help="Why it is not needed (required).")] = None,
    on: OnOpt = None,
    actor: ActorOpt = None,
    workspace: WorkspaceOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """Close a CTA without doing it."""
    setup_logging(verbose)
    try:
        why = _required(reason, "--reason TEXT", "cancel")
        day = _day(on)
        store = _store(workspace)
        cta = core.cancel(_load(store, cta_id), day, why)
        store.save_cta(cta, "cancel", actor_name(actor), {"reason": why})
    except LongtailError as exc:
        raise fail(exc, verbose) from exc
    _say(f"{cta_id} cancelled")


@app.command()
def approve(
    cta_ids: Annotated[list[str] | None, typer.Argument(help="Held CTA ids to release.")] = None,
    *,
    all_held: Annotated[bool, typer.Option("--all-held", help="Release every held CTA.")] = False,
    on: OnOpt = None,
    actor: ActorOpt = None,
    workspace: WorkspaceOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """Release CTAs held by the volume alarm so people can work them."""
    setup_logging(verbose)
    try:
        if bool(cta_ids) == all_held:
            raise UsageError("give CTA ids to approve, or --all-held (not both)")
        day = _day(on)
        store = _store(workspace)
        held = store.list_ctas(status="held") if all_held else [_load(store, i) for i in dict.fromkeys(cta_ids or [])]
        released = [core.approve(c, day) for c in held]
        store.save_ctas(released, "approve", actor_name(actor))
    except LongtailError as exc:
        raise fail(exc, verbose) from exc
    _say(f"approved {len(released):,} CTAs")


@app.command()
def escalate(
    cta_id: IdArg,
    *,
    to: Annotated[str | None, typer.Option("--to", help="The member to escalate to (required).")] = None,
    reason: Annotated[str | None, typer.Option("--reason", help="Why it needs them (required).")] = None,
    on: OnOpt = None,
    actor: ActorOpt = None,
    workspace: WorkspaceOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """Hand a CTA up to another member (usually a lead)."""
    setup_logging(verbose)
    try:
        member = _required(to, "--to MEMBER", "escalate")
        why = _required(reason, "--reason TEXT", "escalate")
        day = _day(on)
        store = _store(workspace)
        cta = core.escalate(_load(store, cta_id), member, day, why)
        store.save_cta(cta, "escalate", actor_name(actor), {"to": member, "reason": why})
    except LongtailError as exc:
        raise fail(exc, verbose) from exc
    _say(f"{cta_id} escalated to {member}")
