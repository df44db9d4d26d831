"""The `longtail` command. Only this layer reads the clock and turns errors into exit codes."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from longtail import __version__
from longtail.cli import ctas as ctas_cli
from longtail.cli import model as model_cli
from longtail.cli import tiers as tiers_cli
from longtail.cli.common import FormatOpt, VerboseOpt, WorkspaceOpt, console, fail, setup_logging
from longtail.cli.coverage import coverage
from longtail.cli.demo import demo
from longtail.cli.features import features
from longtail.cli.health import health, score
from longtail.cli.metrics import metrics
from longtail.cli.motion import check, playbooks, schema
from longtail.cli.outbox import dispatch_command, outbox_command
from longtail.cli.report import report_app
from longtail.cli.run import backtest, plan
from longtail.cli.run import run as run_motion
from longtail.cli.sim import sim
from longtail.cli.value import bands, ttv
from longtail.cli.web import keys_app, serve, users_app
from longtail.core.contract import KINDS, LOAD_ORDER, contract_schema, json_schema
from longtail.errors import LongtailError, UsageError
from longtail.ingest.formats import detect_format
from longtail.ingest.loader import LoadResult, load_files
from longtail.settings import Workspace, copy_example, init_workspace, open_workspace
from longtail.summary import workspace_summary

app = typer.Typer(
    name="longtail",
    help="Scaled Customer Success as reviewable, backtestable code.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console()

class _State:
    verbose = False


_state = _State()


def _version(value: bool) -> None:
    if value:
        out.print(f"longtail {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """longtail: health scores that say why, motions you can backtest, outreach that never doubles."""


def _fail(exc: LongtailError) -> typer.Exit:
    return fail(exc, _state.verbose)


def _setup(verbose: bool) -> None:
    _state.verbose = verbose
    setup_logging(verbose)


def _now() -> datetime:
    return datetime.now(UTC)


def _check_format(fmt: str) -> None:
    if fmt not in ("text", "json"):
        raise UsageError(f"--format must be text or json, not {fmt!r}")


@app.command()
def init(
    directory: Annotated[Path, typer.Argument(help="Folder to create the workspace in.")] = Path("."),
    tz: Annotated[str, typer.Option("--timezone", help="Time zone for timestamps without an offset.")] = "UTC",
    example: Annotated[bool, typer.Option("--example", help="Start from the example motion (docs/motion.md).")] = False,
    verbose: VerboseOpt = False,
) -> None:
    """Create a workspace: longtail.toml, motion/ and .gitignore (with --example, the example motion too)."""
    _setup(verbose)
    try:
        ws = init_workspace(directory, timezone=tz)
        copied = copy_example(ws) if example else []
    except LongtailError as exc:
        raise _fail(exc) from exc
    out.print(f"Created workspace in {ws.root}")
    if copied:
        out.print(f"Example motion: {', '.join(copied)} (check it with: longtail check -w {directory})")
    out.print("Next: longtail load accounts FILE --workspace " + str(directory))


def _progress_bar(enabled: bool) -> Progress | None:
    if not enabled:
        return None
    return Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[rows]:,} rows"),
                    TimeElapsedColumn(), console=console, transient=True)


def _run_load(ws: Workspace, kind: str, files: list[Path], show_progress: bool) -> LoadResult:
    bar = _progress_bar(show_progress)
    if bar is None:
        return load_files(ws, kind, files, now=_now())
    tasks: dict[Path, TaskID] = {}

    def progress(path: Path, fraction: float, rows: int) -> None:
        if path not in tasks:
            tasks[path] = bar.add_task(f"{kind} {path.name}", total=1.0, rows=0)
        bar.update(tasks[path], completed=fraction, rows=rows)

    with bar:
        return load_files(ws, kind, files, now=_now(), progress=progress)


def _print_result(result: LoadResult, fmt: str) -> None:
    if fmt == "json":
        out.print_json(json.dumps(result.as_dict()))
        return
    out.print(
        f"{result.kind}: read {result.read:,}, loaded {result.loaded:,}, updated {result.updated:,}, "
        f"unchanged {result.unchanged:,}, rejected {result.rejected:,}",
        highlight=False,
    )
    if result.rejects_file:
        out.print(f"  rejected rows are listed in {result.rejects_file}", highlight=False, soft_wrap=True)
    if result.ignored_columns:
        out.print(f"  ignored columns: {', '.join(result.ignored_columns)}", highlight=False)


@app.command()
def load(
    kind: Annotated[str, typer.Argument(help=f"One of: {', '.join(LOAD_ORDER)}.")],
    files: Annotated[list[Path], typer.Argument(help="CSV, JSON Lines or Parquet files (gzip accepted).")],
    workspace: WorkspaceOpt = None,
    fmt: FormatOpt = "text",
    verbose: VerboseOpt = False,
) -> None:
    """Load files of one kind. Exit 0: all loaded; 3: some rows rejected; 2: unusable input."""
    _setup(verbose)
    try:
        _check_format(fmt)
        if kind not in KINDS:
            raise UsageError(f"unknown kind {kind!r}; expected one of: {', '.join(LOAD_ORDER)}")
        ws = open_workspace(workspace)
        result = _run_load(ws, kind, files, fmt == "text" and console.is_terminal)
    except LongtailError as exc:
        raise _fail(exc) from exc
    _print_result(result, fmt)
    if result.rejected:
        raise typer.Exit(3)


def _files_for(directory: Path, kind: str) -> list[Path]:
    found = []
    for path in sorted(directory.iterdir()):
        stem = path.name.split(".")[0]
        if stem == kind and path.is_file():
            detect_format(path)
            found.append(path)
    return found


@app.command("load-dir")
def load_dir(
    directory: Annotated[Path, typer.Argument(help="Folder with files named after their kind (accounts.csv, ...).")],
    workspace: WorkspaceOpt = None,
    fmt: FormatOpt = "text",
    verbose: VerboseOpt = False,
) -> None:
    """Load every kind found in a folder, in dependency order (team, accounts, contacts, ...)."""
    _setup(verbose)
    results: list[LoadResult] = []
    try:
        _check_format(fmt)
        if not directory.is_dir():
            raise UsageError(f"{directory} is not a folder")
        ws = open_workspace(workspace)
        for kind in LOAD_ORDER:
            files = _files_for(directory, kind)
            if files:
                results.append(_run_load(ws, kind, files, fmt == "text" and console.is_terminal))
    except LongtailError as exc:
        raise _fail(exc) from exc
    if not results:
        raise _fail(UsageError(f"no files named after a kind ({', '.join(LOAD_ORDER)}) in {directory}"))
    if fmt == "json":
        out.print_json(json.dumps([r.as_dict() for r in results]))
    else:
        for result in results:
            _print_result(result, fmt)
    if any(r.rejected for r in results):
        raise typer.Exit(3)


@app.command()
def status(workspace: WorkspaceOpt = None, fmt: FormatOpt = "text", verbose: VerboseOpt = False) -> None:
    """Summarise what the workspace holds: accounts, ARR, contacts, events, team."""
    _setup(verbose)
    try:
        _check_format(fmt)
        ws = open_workspace(workspace)
        summary = workspace_summary(ws)
    except LongtailError as exc:
        raise _fail(exc) from exc
    if fmt == "json":
        out.print_json(json.dumps(summary, default=str))
        return
    _print_summary(summary)


def _print_summary(summary: dict[str, Any]) -> None:
    table = Table(title="longtail workspace", show_header=False, title_justify="left")
    table.add_column("what", style="bold")
    table.add_column("value", justify="right")
    for label, value in summary["rows"]:
        table.add_row(label, value)
    out.print(table)
    tiers = Table(title="ARR by contract-value band", title_justify="left")
    for col in ("band", "accounts", "ARR"):
        tiers.add_column(col, justify="right" if col != "band" else "left")
    for band in summary["bands"]:
        tiers.add_row(band["band"], f"{band['accounts']:,}", f"${band['arr']:,.0f}")
    out.print(tiers)


@app.command()
def contract(
    out_dir: Annotated[Path | None, typer.Option("--out", help="Write one JSON Schema file per kind here.")] = None,
) -> None:
    """Export the data contract as JSON Schema (stdout, or one file per kind with --out)."""
    if out_dir is None:
        out.print_json(json.dumps(contract_schema()))
        return
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, spec in KINDS.items():
        (out_dir / f"{name}.schema.json").write_text(json.dumps(json_schema(spec), indent=2) + "\n", encoding="utf-8")
    out.print(f"Wrote {len(KINDS)} schemas to {out_dir}")


app.command("features", help="Account features as of a date (CSV, JSON or a summary).")(features)
app.command("score", help="Compute and store health for a date (or a history) and print account, score, band.")(score)
app.command("health", help="One account's health: score, band, trend, components, reasons, path to green.")(health)
app.command("metrics", help="Logo churn, NRR, GRR, expansion, contraction and churned MRR over [--from, --to).")(
    metrics
)
app.command("ttv", help="Time to value of new accounts by signup month: reached, median days, within 30/90 days.")(
    ttv)
app.command("bands", help="Accounts per health band over time (by tier or an account column).")(bands)
app.command("check", help="Validate the workspace's definitions (features, health, motion).")(check)
app.command("playbooks", help="Playbooks with their measured hits and success rate.")(playbooks)
app.command("schema", help="Export the JSON Schema of motion files for editors.")(schema)
app.command("run", help="Run the daily motion cycle for a day or a range (tiers, segments, triggers, CTAs).")(
    run_motion
)
app.add_typer(tiers_cli.app, name="tiers", help="Tiers: list, manual overrides with reason and expiry.")
app.command("coverage", help="Coverage per tier and per CSM against targets, with cost.")(coverage)
app.command(
    "demo", help="Simulate ~2,000 accounts, run the example motion on them in closed loop, show the result, serve the "
    "cockpit.")(demo)
app.command("serve", help="Serve the web cockpit and API (default http://127.0.0.1:8000).")(serve)
app.add_typer(users_app, name="users", help="Cockpit users: add, list.")
app.add_typer(keys_app, name="keys", help="API keys for machines: create, list, revoke.")
app.add_typer(report_app, name="report", help="Reports: journeys (funnel, holdout lift with its interval).")
app.add_typer(model_cli.app, name="model", help="Churn-risk and expansion-propensity models: train, evaluate, score.")
app.add_typer(ctas_cli.app, name="ctas", help="The CTA queue: list, show, snooze, start, done, cancel, approve.")
app.command("plan", help="Show what a run of a day would do, for whom, why and to whom; changes nothing.")(plan)
app.command("backtest", help="Replay the motion over history and measure each playbook against churn.")(backtest)
app.command("dispatch", help="Send due messages from the outbox (durable: none lost, none doubled).")(dispatch_command)
app.command("outbox", help="Outbox message counts by status and channel.")(outbox_command)
app.command("sim", help="Generate a simulated SaaS customer base (data files and ground truth).")(sim)


def run() -> None:
    try:
        app()
    except KeyboardInterrupt:
        console.print("interrupted")
        sys.exit(130)
    except Exception as exc:  # the outermost edge: a bug must still end in one readable line
        if _state.verbose or "--verbose" in sys.argv or "-v" in sys.argv:
            raise
        console.print(f"[red]internal error:[/red] {type(exc).__name__}: {exc} (rerun with --verbose for details)",
                      highlight=False, soft_wrap=True)
        sys.exit(1)
