"""`longtail demo`: a simulated customer base run in closed loop with the example motion, then the cockpit.

Creates a workspace from the example motion in `--dir`, simulates about a year of history, runs the motion
over the last `--days` days while the simulated world reacts (`longtail.runner.closed_loop`), prints what
happened against the same world left alone, and (with --serve) starts the web cockpit on it.
"""

from __future__ import annotations

import datetime as dt
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

HISTORY_DAYS = 365
"""Days simulated in all: the loop runs over the last `--days` of them, the rest is history."""
START = dt.date(2025, 1, 1)
SEED = 7
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
    try:
        config, warmup = _config(accounts, days, seed)
        ws = _workspace(directory)
        began = time.perf_counter()
        summary = _run(ws, config, warmup, days)
        alone = counterfactual(config, warmup_days=warmup, loop_days=days)
    except LongtailError as exc:
        raise fail(exc, verbose) from exc
    _report(ws, summary, alone, time.perf_counter() - began)
    if serve:
        _serve(ws, port)


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
                       ("opened or viewed", "opened"), ("clicked", "clicked"), ("unsubscribed", "unsubscribed"),
                       ("CTAs created", "ctas_created"), ("CTAs worked by the simulated CSMs", "ctas_worked"),
                       ("rescue calls that reached an account in a usage drop", "rescues")):
        table.add_row(label, f"{int(t[key]):,}")
    out.print(table)
    treated = set(summary.churned_accounts)
    untreated = set(alone.churned_accounts)
    saved = len(untreated - treated)
    lost = len(treated - untreated)
    out.print(f"Churned accounts in the window: {summary.churned_in_loop} with the motion, {alone.churned_in_loop} "
              f"in the same world left alone (saved {saved}, lost {lost} that would have stayed).", highlight=False)
    out.print(f"ARR at the end: ${summary.arr_end:,.0f} with the motion vs ${alone.arr_end:,.0f} without "
              f"({summary.arr_end - alone.arr_end:+,.0f}).", highlight=False)
    bands = health_store.read_day(ws, last, ["band"])
    if bands is not None and bands.num_rows:
        counts: dict[str, int] = {}
        for band in bands.column("band").to_pylist():
            counts[str(band)] = counts.get(str(band), 0) + 1
        shown = ", ".join(f"{k} {v:,}" for k, v in sorted(counts.items()))
        out.print(f"Health on {last}: {shown}.", highlight=False)
    out.print(f"Workspace: {ws.root} (try: longtail ctas list -w {ws.root}; longtail outbox -w {ws.root})",
              highlight=False, soft_wrap=True)


def _serve(ws: Workspace, port: int) -> None:
    """Start the cockpit on the demo workspace, if the web app is installed in this version."""
    try:
        import uvicorn

        from longtail.web.app import create_app  # type: ignore[import-not-found,unused-ignore]
    except ImportError as exc:
        err.print(f"The web cockpit is not available in this version ({exc}); the demo data stays in {ws.root}. "
                  f"Start it later with: longtail serve -w {ws.root}", highlight=False, soft_wrap=True)
        return
    out.print(f"Serving the cockpit on http://127.0.0.1:{port} (Ctrl-C to stop).", highlight=False)
    uvicorn.run(create_app(ws), host="127.0.0.1", port=port, log_level="warning")
