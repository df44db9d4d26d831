"""`longtail tiers`: see each account's tier and pin accounts to a tier by hand (overrides).

The run decides tiers (longtail.core.motion.tiers) and stores them; this module only shows what was stored
and records a person's override, which the next `longtail run` applies. It reads the clock: the day an
override is set (`--on`) defaults to today.
"""

from __future__ import annotations

import difflib
import json
import sys
from collections.abc import Iterable
from datetime import date
from typing import Annotated, Any

import pyarrow.parquet as pq
import typer
from rich.console import Console
from rich.table import Table

from longtail.analytics.connect import ensure_snapshots
from longtail.analytics.motion_source import workspace_motion
from longtail.cli.common import VerboseOpt, WorkspaceOpt, actor_name, console, fail, parse_day, setup_logging
from longtail.errors import LongtailError, UsageError
from longtail.runner.daily import open_store
from longtail.settings import Workspace, open_workspace
from longtail.store.motion import TierOverride
from longtail.store.tier_queries import current_tier_rows, stored_tier_names
from longtail.store.users import UserStore

app = typer.Typer(help="Each account's tier, and manual tier overrides (applied by the next `longtail run`).",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
out = Console()

AccountArg = Annotated[str, typer.Argument(help="The account id.")]
OnOpt = Annotated[str | None, typer.Option("--on", help="The day, YYYY-MM-DD (default: today).")]
ActorOpt = Annotated[str | None, typer.Option("--actor", help="Who sets it (default: your login name).")]
ListFormatOpt = Annotated[str, typer.Option("--format", help="Output format: table or json.")]


def _say(message: str) -> None:
    console.print(message, highlight=False, soft_wrap=True)


def _check_format(fmt: str) -> None:
    if fmt not in ("table", "json"):
        raise UsageError(f"--format must be table or json, not {fmt!r}")


def _day(value: str | None) -> date:
    # The CLI is the outermost loop: the only place that may read the clock.
    return date.today() if value is None else parse_day(value, "--on")


def _hint(name: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _check_tier(ws: Workspace, tier: str) -> None:
    """The tier must be one the workspace's motion defines."""
    names = workspace_motion(ws).tier_names()
    if not names:
        raise UsageError("the motion defines no tiers (add a `tiers:` section to a motion file)")
    if tier not in names:
        raise UsageError(f"unknown tier {tier!r}; the tiers are {', '.join(names)}{_hint(tier, names)}")


def _check_account(ws: Workspace, account_id: str) -> None:
    """The account must be in the accounts snapshot (what `longtail load-dir` loaded)."""
    ensure_snapshots(ws)
    path = ws.tables_dir / "accounts.parquet"
    known: set[str] = set()
    if path.is_file():
        known = set(pq.read_table(path, columns=["account_id"]).column("account_id").to_pylist())
    if account_id not in known:
        raise UsageError(f"no account {account_id!r} in the workspace{_hint(account_id, sorted(known))}")


def _until(expires: date | None) -> str:
    return f"until {expires.isoformat()}" if expires else "until removed"


def override_json(o: TierOverride) -> dict[str, Any]:
    """An override as JSON-able values (dates as YYYY-MM-DD)."""
    return {"account_id": o.account_id, "tier": o.tier, "reason": o.reason,
            "expires": o.expires.isoformat() if o.expires else None, "created_on": o.created_on.isoformat(),
            "created_by": o.created_by}


@app.command("list")
def list_(
    *,
    tier: Annotated[str | None, typer.Option("--tier", help="Only the accounts in this tier.")] = None,
    fmt: ListFormatOpt = "table",
    workspace: WorkspaceOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """Each account's current tier as the last run stored it: since when, and why."""
    setup_logging(verbose)
    try:
        _check_format(fmt)
        ws = open_workspace(workspace)
        engine = open_store(ws).engine
        if tier is not None:
            stored = stored_tier_names(engine)
            # A tier nobody is in yet is still a valid filter when the motion defines it.
            if tier not in stored:
                _check_tier(ws, tier)
        rows = current_tier_rows(engine, tier)
    except LongtailError as exc:
        raise fail(exc, verbose) from exc
    if fmt == "json":
        payload = [{"account_id": r.account_id, "tier": r.tier, "since": r.since.isoformat(), "reason": r.reason}
                   for r in rows]
        sys.stdout.write(json.dumps(payload, indent=1) + "\n")
        return
    table = Table()
    for name in ("account", "tier", "since", "reason"):
        table.add_column(name)
    for r in rows:
        table.add_row(r.account_id, r.tier, r.since.isoformat(), r.reason)
    out.print(table)
    _say(f"{len(rows):,} accounts" + ("" if rows or tier else "; no tiers stored yet: run `longtail run` first"))


@app.command()
def override(
    account_id: AccountArg,
    tier: Annotated[str, typer.Argument(help="The tier to pin the account to.")],
    *,
    reason: Annotated[str | None, typer.Option("--reason", help="Why (required; shown in the tier's reason).")] = None,
    expires: Annotated[str | None, typer.Option("--expires", help="Stops applying on this day, YYYY-MM-DD "
                                                                  "(default: until cleared).")] = None,
    on: OnOpt = None,
    actor: ActorOpt = None,
    workspace: WorkspaceOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """Pin an account to a tier; the next `longtail run` applies it (it replaces any earlier override)."""
    setup_logging(verbose)
    try:
        if reason is None or not reason.strip():
            raise UsageError("override needs --reason TEXT")
        day = _day(on)
        until = None if expires is None else parse_day(expires, "--expires")
        if until is not None and until <= day:
            raise UsageError(f"--expires ({until}) must be after --on ({day})")
        ws = open_workspace(workspace)
        _check_tier(ws, tier)
        _check_account(ws, account_id)
        store = open_store(ws)
        earlier = store.overrides(day).get(account_id)
        who = actor_name(actor)
        store.set_override(account_id, tier, reason, on=day, by=who, expires=until)
        UserStore(store.engine).audit(who, "tier.override", "account", account_id, {
            "tier": tier, "reason": reason.strip(), "on": day.isoformat(),
            "expires": None if until is None else until.isoformat(),
            "replaces": None if earlier is None else earlier.tier})
    except LongtailError as exc:
        raise fail(exc, verbose) from exc
    replaced = f"; replaces the override to {earlier.tier}" if earlier else ""
    _say(f"{account_id} pinned to {tier} {_until(until)}{replaced}; the next `longtail run` applies it")


@app.command()
def clear(account_id: AccountArg, *, actor: ActorOpt = None, workspace: WorkspaceOpt = None,
          verbose: VerboseOpt = False) -> None:
    """Remove an account's override; the next `longtail run` decides its tier by the rules again."""
    setup_logging(verbose)
    try:
        store = open_store(open_workspace(workspace))
        if not store.clear_override(account_id):
            raise UsageError(f"account {account_id!r} has no tier override (see `longtail tiers overrides`)")
        UserStore(store.engine).audit(actor_name(actor), "tier.clear", "account", account_id, {})
    except LongtailError as exc:
        raise fail(exc, verbose) from exc
    _say(f"{account_id}: override removed; the next `longtail run` decides its tier by the rules")


@app.command()
def overrides(*, on: OnOpt = None, fmt: ListFormatOpt = "table", workspace: WorkspaceOpt = None,
              verbose: VerboseOpt = False) -> None:
    """The overrides in force on a day (default: today), by account."""
    setup_logging(verbose)
    try:
        _check_format(fmt)
        day = _day(on)
        active = sorted(open_store(open_workspace(workspace)).overrides(day).values(), key=lambda o: o.account_id)
    except LongtailError as exc:
        raise fail(exc, verbose) from exc
    if fmt == "json":
        sys.stdout.write(json.dumps([override_json(o) for o in active], indent=1) + "\n")
        return
    table = Table()
    for name in ("account", "tier", "expires", "set on", "by", "reason"):
        table.add_column(name)
    for o in active:
        table.add_row(o.account_id, o.tier, o.expires.isoformat() if o.expires else "-", o.created_on.isoformat(),
                      o.created_by, o.reason)
    out.print(table)
    _say(f"{len(active):,} overrides in force on {day}")
