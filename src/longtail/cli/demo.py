"""`longtail demo`: a simulated customer base run in closed loop with the example motion, then the cockpit.

Creates a workspace from the example motion in `--dir`, simulates about a year of history, runs the motion
over the last `--days` days while the simulated world reacts (`longtail.runner.closed_loop`), prints what
happened against the same world left alone, creates a demo login (`demo@longtail.local`, role lead, a random
password printed at the end) and (with --serve) serves the web cockpit on 127.0.0.1 until Ctrl-C.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from longtail.analytics import health_store
from longtail.cli.common import VerboseOpt, fail, setup_logging
from longtail.errors import LongtailError, UsageError
from longtail.runner.closed_loop import LoopSummary, WorldOutcome, counterfactual, run_closed_loop
from longtail.settings import CONFIG_FILE, Workspace, copy_example, init_workspace, open_workspace
from longtail.sim import SimConfig
from longtail.store.db import make_engine, migrate
from longtail.store.users import UserStore, hash_password

HISTORY_DAYS = 365
"""Days simulated in all: the loop runs over the last `--days` of them, the rest is history."""
START = dt.date(2025, 1, 1)
SEED = 7
DEMO_EMAIL = "demo@longtail.local"
DEMO_ROLE = "lead"
"""A lead sees the whole pool's worklist, the portfolio and every account: the newcomer's view of the motion."""
out = Console()
err = Console(stderr=True)


def demo(
    *,
    directory: Annotated[Path, typer.Option("--dir", help="Folder of the demo workspace (must not exist yet).")] = Path(
        ".demo"),
    accounts: Annotated[int, typer.Option(help="Simulated customer accounts.")] = 2000,
    days: Annotated[int, typer.Option(help="Days run in closed loop at the end of a simulated year.")] = 90,
    serve: Annotated[bool, typer.Option("--serve/--no-serve", help="Start the web cockpit afterwards.")] = True,
    port: Annotated[int, typer.Option(help="Port of the web cockpit.")] = 8000,
    seed: Annotated[int, typer.Option(help="Random seed of the simulated world.")] = SEED,
    verbose: VerboseOpt = False,
) -> None:
    """Simulate a customer base, run the example motion on it in closed loop, and show the result."""
    setup_logging(verbose)
    if not verbose:
        # The example's log-channel alerts (urgent tickets) would print hundreds of lines over 90 simulated days.
        logging.getLogger("longtail.alerts").setLevel(logging.ERROR)
    try:
        config, warmup = _config(accounts, days, seed)
        ws = _workspace(directory)
        began = time.perf_counter()
        summary = _run(ws, config, warmup, days)
        alone = counterfactual(config, warmup_days=warmup, loop_days=days)
        password = demo_login(ws)
    except LongtailError as exc:
        raise fail(exc, verbose) from exc
    _report(ws, summary, alone, time.perf_counter() - began)
    out.print(f"Open http://127.0.0.1:{port} and log in as {DEMO_EMAIL} / {password}", highlight=False,
              soft_wrap=True)
    if serve:
        _serve(ws, port)
    else:
        out.print(f"(start the cockpit with: longtail serve -w {ws.root} --port {port})", highlight=False,
                  soft_wrap=True)


def demo_login(ws: Workspace) -> str:
    """Create the demo user (role lead) with a random password; returns the password (stored only hashed)."""
    password = secrets.token_urlsafe(12)
    engine = make_engine(ws.database_url)
    migrate(engine)
    UserStore(engine).add_user(DEMO_EMAIL, DEMO_ROLE, name="Demo lead", password_hash=hash_password(password),
                               actor="demo")
    return password


def _config(accounts: int, days: int, seed: int) -> tuple[SimConfig, int]:
    """The world's configuration and its number of history days before the loop."""
    if accounts < 1:
        raise UsageError(f"--accounts must be at least 1, not {accounts}")
    if not 1 <= days < HISTORY_DAYS:
        raise UsageError(f"--days must be between 1 and {HISTORY_DAYS - 1}, not {days}")
    if seed < 0:
        raise UsageError(f"--seed must not be negative, not {seed}")
    return SimConfig(accounts=accounts, days=HISTORY_DAYS, start=START, seed=seed, truth_every=7), HISTORY_DAYS - days


def _workspace(directory: Path) -> Workspace:
    """A new workspace with the example motion whose email goes to the simulated world."""
    if (directory / CONFIG_FILE).exists():
        raise UsageError(f"{directory} already holds a workspace; remove it or pass another --dir")
    ws = init_workspace(directory)
    copy_example(ws)
    config = ws.root / CONFIG_FILE
    # Appended at the end: the template holds only top-level keys (its tables are commented out).
    text = config.read_text(encoding="utf-8")
    config.write_text(text + '\n# The demo sends email into the simulated world.\nemail_channel = "sim"\n',
                      encoding="utf-8")
    return open_workspace(ws.root)


def _run(ws: Workspace, config: SimConfig, warmup: int, days: int) -> LoopSummary:
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err, transient=True) as bar:
        tasks: dict[str, TaskID] = {}
        labels = {"warmup": "simulating the history", "load": "loading it", "loop": "closed loop (days)"}

        def progress(phase: str, done: int, total: int) -> None:
            if phase not in tasks:
                tasks[phase] = bar.add_task(labels.get(phase, phase), total=total)
            bar.update(tasks[phase], completed=done)

        return run_closed_loop(ws, config, warmup_days=warmup, loop_days=days, progress=progress)


def _report(ws: Workspace, summary: LoopSummary, alone: WorldOutcome, seconds: float) -> None:
    t = summary.totals()
    first, last = summary.days[0].day, summary.days[-1].day
    out.print(f"[bold]longtail demo[/bold]: {summary.config.accounts:,} simulated accounts; the example motion ran "
              f"every day from {first} to {last} ({len(summary.days)} days) in {seconds:.0f} s "
              f"({t['seconds_per_day']:.1f} s per day).", highlight=False)
    table = Table(title="What the motion did", show_header=False)
    table.add_column("what")
    table.add_column("count", justify="right")
    for label, key in (("messages sent (email and in-app)", "messages_sent"), ("delivered", "delivered"),
                       ("opened or viewed", "opened"), ("clicked", "clicked"), ("replied", "replied"),
                       ("unsubscribed", "unsubscribed"),
                       ("CTAs created", "ctas_created"), ("CTAs worked by the simulated CSMs", "ctas_worked"),
                       ("rescue calls that reached an account in a usage drop", "rescues")):
        table.add_row(label, f"{int(t[key]):,}")
    out.print(table)
    out.print(story(summary, alone), highlight=False, soft_wrap=True)
    bands = health_store.read_day(ws, last, ["band"])
    if bands is not None and bands.num_rows:
        counts: dict[str, int] = {}
        for band in bands.column("band").to_pylist():
            counts[str(band)] = counts.get(str(band), 0) + 1
        shown = ", ".join(f"{k} {v:,}" for k, v in sorted(counts.items()))
        out.print(f"Health on {last}: {shown}.", highlight=False)
    out.print(f"Workspace: {ws.root} (try: longtail ctas list -w {ws.root}; longtail outbox -w {ws.root})",
              highlight=False, soft_wrap=True)


def story(summary: LoopSummary, alone: WorldOutcome) -> str:
    """What happened, in plain words: the outreach, the CSMs' work, and churn and ARR against the same world
    left alone (the counterfactual shares the world's random numbers, so the difference is the motion's doing)."""
    t = summary.totals()
    days = len(summary.days)
    treated, untreated = set(summary.churned_accounts), set(alone.churned_accounts)
    saved, lost = len(untreated - treated), len(treated - untreated)
    arr_gain = summary.arr_end - alone.arr_end
    return (
        f"In {days} days the motion sent {int(t['messages_sent']):,} messages, of which "
        f"{int(t['opened']):,} were opened, {int(t['clicked']):,} clicked and {int(t['replied']):,} answered; "
        f"it raised {int(t['ctas_created']):,} calls to action and the simulated CSMs worked {int(t['ctas_worked']):,} "
        f"of them ({_count(int(t['rescues']), 'rescue call')} reached an account whose usage was dropping). "
        f"{_accounts(summary.churned_in_loop)} churned with the motion, against "
        f"{_accounts(alone.churned_in_loop)} in the same world left alone: {_accounts(saved)} saved"
        f"{'' if not lost else f', {_accounts(lost)} lost that would have stayed'}. "
        f"ARR ends at ${summary.arr_end:,.0f} with the motion and ${alone.arr_end:,.0f} without it "
        f"({'+' if arr_gain >= 0 else '-'}${abs(arr_gain):,.0f})."
    )


def _accounts(n: int) -> str:
    return _count(n, "account")


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


def _serve(ws: Workspace, port: int) -> None:
    """Serve the cockpit on the demo workspace on 127.0.0.1 until Ctrl-C (plain HTTP on loopback, so the
    session cookie is not marked Secure: a browser would not send it back over http://)."""
    import uvicorn  # only serving needs the server

    from longtail.web import create_app

    out.print(f"Serving the cockpit on http://127.0.0.1:{port} (Ctrl-C to stop).", highlight=False)
    uvicorn.run(create_app(ws, secure_cookies=False), host="127.0.0.1", port=port, log_level="warning")
