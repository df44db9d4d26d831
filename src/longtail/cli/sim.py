"""`longtail sim`: generate a seeded synthetic customer base (see docs/simulator.md)."""

from __future__ import annotations

import datetime as dt
import math
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from longtail.sim import SimConfig, Summary, generate


class Format(StrEnum):
    """Output file format."""

    csv = "csv"
    parquet = "parquet"


def _positive(value: int, name: str) -> int:
    if value < 1:
        raise typer.BadParameter(f"must be at least 1, got {value}", param_hint=name)
    return value


def _start(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"expected a date as YYYY-MM-DD, got {value!r}", param_hint="--start") from None


def sim(
    *,
    accounts: Annotated[int, typer.Option(help="Number of customer accounts.")] = 500,
    days: Annotated[int, typer.Option(help="Days to simulate.")] = 365,
    start: Annotated[str, typer.Option(help="First simulated day, YYYY-MM-DD.")] = "2025-01-01",
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives identical files.")] = 7,
    out: Annotated[Path, typer.Option(help="Output directory.")] = Path("./sim-data"),
    format: Annotated[Format, typer.Option("--format", help="File format.")] = Format.csv,
    truth_every: Annotated[int, typer.Option(help="Days between truth/state snapshots.")] = 1,
) -> None:
    """Simulate a B2B SaaS customer base and write its data files plus truth/."""
    _positive(accounts, "--accounts")
    _positive(days, "--days")
    _positive(truth_every, "--truth-every")
    if seed < 0:
        raise typer.BadParameter(f"must be non-negative, got {seed}", param_hint="--seed")
    config = SimConfig(accounts=accounts, days=days, start=_start(start), seed=seed, truth_every=truth_every)
    console = Console(stderr=True)
    columns = (TextColumn("simulating"), BarColumn(), MofNCompleteColumn(), TextColumn("days"),
               TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("sim", total=days)
        summary = generate(config, out, format.value,
                           progress=lambda done, total: bar.update(task, completed=done))
    Console().print(render(summary, out))


def _pct(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.1%}"


def render(summary: Summary, out: Path) -> Table:
    """A short, readable summary of the generated world."""
    table = Table(title=f"Simulated world in {out}", show_header=False)
    table.add_row("accounts", f"{summary.accounts:,}")
    table.add_row("contacts", f"{summary.contacts:,}")
    table.add_row("events", f"{summary.events:,} over {summary.days} days")
    table.add_row("tickets / survey responses", f"{summary.tickets:,} / {summary.surveys:,}")
    churn = ", ".join(f"{tier} {_pct(rate)}" for tier, rate in summary.churn_by_tier.items())
    table.add_row("logo churn (annualised)", churn)
    table.add_row("NRR / GRR (starting book)", f"{_pct(summary.nrr)} / {_pct(summary.grr)}")
    table.add_row("activated within 90 days", _pct(summary.activation_rate))
    table.add_row("time", f"{summary.seconds:.1f} s")
    return table
