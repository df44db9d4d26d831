"""`longtail serve`, `longtail users` and `longtail keys`: run the cockpit and manage who may use it.

Mounted on the main app by the lead: `app.command("serve")(serve)`, `app.add_typer(users_app, name="users")`,
`app.add_typer(keys_app, name="keys")`. Every change is written to the audit log with the login name as actor.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from longtail.cli.common import FormatOpt, VerboseOpt, WorkspaceOpt, actor_name, console, fail, setup_logging
from longtail.errors import LongtailError, UsageError
from longtail.settings import open_workspace
from longtail.store.db import make_engine, migrate
from longtail.store.users import ROLES, RoleNeeded, UserStore, hash_password, new_password

users_app = typer.Typer(help="People who may log in to the cockpit.", no_args_is_help=True, add_completion=False,
                        pretty_exceptions_enable=False)
keys_app = typer.Typer(help="API keys for machines: ingest (send events) or read (GET /api).", no_args_is_help=True,
                       add_completion=False, pretty_exceptions_enable=False)
out = Console()

LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


def _store(workspace: Path | None) -> UserStore:
    ws = open_workspace(workspace)
    engine = make_engine(ws.database_url)
    migrate(engine)
    return UserStore(engine)


def _check_format(fmt: str) -> None:
    if fmt not in ("text", "json"):
        raise UsageError(f"--format must be text or json, not {fmt!r}")


def serve(
    *,
    host: Annotated[str, typer.Option("--host", help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="TCP port.")] = 8000,
    secure_cookies: Annotated[bool | None, typer.Option(
        "--secure-cookies/--no-secure-cookies",
        help="Mark the session cookie Secure (HTTPS only). Default: on, except on a loopback host, where the "
             "cockpit is served over plain HTTP.")] = None,
    workers: Annotated[int, typer.Option(
        "--workers", min=1, max=64,
        help="Server processes. One process runs one request's Python at a time; on a machine with several "
             "cores, about one worker per core serves concurrent users without queueing.")] = 1,
    workspace: WorkspaceOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """Serve the web cockpit and API (uvicorn)."""
    setup_logging(verbose)
    import uvicorn  # only this command needs the server

    from longtail.web import create_app
    from longtail.web.app import SECURE_COOKIES_ENV

    secure = host not in LOOPBACK if secure_cookies is None else secure_cookies
    try:
        ws = open_workspace(workspace)
        app = create_app(ws, secure_cookies=secure)  # also checks the workspace before any worker starts
    except LongtailError as exc:
        raise fail(exc, verbose) from exc
    console.print(f"serving {ws.root} on http://{host}:{port}"
                  + (f" with {workers} worker processes" if workers > 1 else ""), highlight=False)
    level = "debug" if verbose else "info"
    if workers == 1:
        uvicorn.run(app, host=host, port=port, log_level=level)
        return
    # Several processes need the app as an import string: each worker builds its own from the environment.
    os.environ["LONGTAIL_WORKSPACE"] = str(ws.root)
    os.environ[SECURE_COOKIES_ENV] = "1" if secure else "0"
    uvicorn.run("longtail.web.app:app_from_environment", factory=True, workers=workers, host=host, port=port,
                log_level=level)


@users_app.command("add")
def add_user(
    who: Annotated[str, typer.Argument(metavar="EMAIL|MEMBER_ID",
                                       help="An email, or a member id of the team table (email and name from it).")],
    *,
    role: Annotated[str | None, typer.Option("--role", help=f"One of {', '.join(ROLES)} (default for a team "
                                                             "member: from the team table).")] = None,
    name: Annotated[str | None, typer.Option("--name", help="Display name.")] = None,
    password_stdin: Annotated[bool, typer.Option("--password-stdin",
                                                 help="Read the password from stdin (else one is generated "
                                                      "and printed once).")] = False,
    workspace: WorkspaceOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """Add a user who may log in; a user whose email is on the team table is linked to that member."""
    setup_logging(verbose)
    try:
        store = _store(workspace)
        by_email = "@" in who
        try:
            # The same validation as the web admin page (longtail.web.routes_admin).
            plan = store.plan_user(email=who if by_email else None, member_id=None if by_email else who, role=role,
                                   name=name)
        except RoleNeeded:
            raise UsageError("give --role (" + ", ".join(ROLES) + ")") from None
        password = sys.stdin.readline().rstrip("\r\n") if password_stdin else new_password()
        user = store.add_user(plan.email, plan.role, name=plan.name, member_id=plan.member_id,
                              password_hash=hash_password(password), actor=actor_name(None))
    except LongtailError as exc:
        raise fail(exc, verbose) from exc
    linked = f", team member {user.member_id}" if user.member_id else ""
    console.print(f"added {user.email} ({user.role}{linked})", highlight=False, soft_wrap=True)
    if not password_stdin:
        # Shown once, on stdout so it can be captured; only its hash is stored.
        sys.stdout.write(f"password: {password}\n")


@users_app.command("list")
def list_users(*, fmt: FormatOpt = "text", workspace: WorkspaceOpt = None, verbose: VerboseOpt = False) -> None:
    """List the users (never their password hashes)."""
    setup_logging(verbose)
    try:
        _check_format(fmt)
        found = _store(workspace).list_users()
    except LongtailError as exc:
        raise fail(exc, verbose) from exc
    rows = [{"email": u.email, "name": u.name, "role": u.role, "member_id": u.member_id, "disabled": u.disabled}
            for u in found]
    if fmt == "json":
        sys.stdout.write(json.dumps(rows, indent=1) + "\n")
        return
    table = Table()
    for column in ("email", "name", "role", "member_id", "disabled"):
        table.add_column(column)
    for row in rows:
        table.add_row(*["-" if v is None else str(v) for v in row.values()])
    out.print(table)


@keys_app.command("create")
def create_key(
    *,
    scope: Annotated[str, typer.Option("--scope", help="ingest (send events only) or read (GET /api only).")],
    name: Annotated[str, typer.Option("--name", help="What the key is for.")] = "",
    fmt: FormatOpt = "text",
    workspace: WorkspaceOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """Create an API key; it is printed once and only its digest is stored."""
    setup_logging(verbose)
    try:
        _check_format(fmt)
        key, record = _store(workspace).create_key(scope, name or f"{scope} key", actor=actor_name(None))
    except LongtailError as exc:
        raise fail(exc, verbose) from exc
    if fmt == "json":
        sys.stdout.write(json.dumps({"key": key, "prefix": record.prefix, "scope": record.scope,
                                     "name": record.name}) + "\n")
        return
    sys.stdout.write(f"{key}\n")
    console.print(f"{record.scope} key {record.prefix} created; store it now, it is not shown again",
                  highlight=False)


@keys_app.command("list")
def list_keys(*, fmt: FormatOpt = "text", workspace: WorkspaceOpt = None, verbose: VerboseOpt = False) -> None:
    """List API keys by prefix (the keys themselves are not stored)."""
    setup_logging(verbose)
    try:
        _check_format(fmt)
        found = _store(workspace).list_keys()
    except LongtailError as exc:
        raise fail(exc, verbose) from exc
    rows = [{"prefix": k.prefix, "scope": k.scope, "name": k.name, "created_by": k.created_by,
             "created_at": k.created_at.isoformat(), "revoked_at": k.revoked_at.isoformat() if k.revoked_at else None}
            for k in found]
    if fmt == "json":
        sys.stdout.write(json.dumps(rows, indent=1) + "\n")
        return
    table = Table()
    for column in ("prefix", "scope", "name", "created_by", "created_at", "revoked_at"):
        table.add_column(column)
    for row in rows:
        table.add_row(*["-" if v is None else str(v) for v in row.values()])
    out.print(table)


@keys_app.command("revoke")
def revoke_key(prefix: Annotated[str, typer.Argument(help="The key's prefix (see `longtail keys list`).")], *,
               workspace: WorkspaceOpt = None, verbose: VerboseOpt = False) -> None:
    """Revoke an API key: requests with it are refused from now on."""
    setup_logging(verbose)
    try:
        _store(workspace).revoke_key(prefix, actor=actor_name(None))
    except LongtailError as exc:
        raise fail(exc, verbose) from exc
    console.print(f"revoked {prefix}", highlight=False)
