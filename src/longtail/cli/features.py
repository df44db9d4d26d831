"""`longtail features --as-of DATE`: the feature table of every account existing on that date.

The definitions live in longtail.core.features (see docs/features.md); this module opens the
workspace, runs the expression on the warehouse and prints CSV (default), JSON or a text summary.
"""

from __future__ import annotations

import json
import logging
import math
import sys
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import typer
from rich.console import Console
from rich.table import Table

from longtail.analytics.connect import workspace_feature_defs
from longtail.analytics.features import features_as_of
from longtail.core.features import FeatureSet
from longtail.errors import LongtailError, UsageError
from longtail.settings import open_workspace

console = Console(stderr=True)
FORMATS = ("csv", "json", "text")


def _parse_date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise UsageError(f"--as-of must be a date as YYYY-MM-DD, not {value!r}") from None


def _json_value(value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_csv(table: pa.Table) -> None:
    pacsv.write_csv(table, sys.stdout.buffer, pacsv.WriteOptions(quoting_style="needed"))
    sys.stdout.buffer.flush()


def write_json(table: pa.Table) -> None:
    rows = [{k: _json_value(v) for k, v in row.items()} for row in table.to_pylist()]
    sys.stdout.write(json.dumps(rows) + "\n")
    sys.stdout.flush()


def print_text(table: pa.Table, defs: FeatureSet, as_of: date) -> None:
    out = Console()
    summary = Table(title=f"features as of {as_of.isoformat()}: {table.num_rows:,} accounts", title_justify="left")
    for col in ("feature", "unit", "mean", "min", "max", "nulls"):
        summary.add_column(col, justify="left" if col in ("feature", "unit") else "right")
    for feature in defs.features:
        column = table.column(feature.name)
        valid = column.drop_null()
        if len(valid) == 0:
            mean = low = high = "-"
        else:
            mean = f"{pc.mean(valid).as_py():,.2f}"
            low = f"{pc.min(valid).as_py():,.4g}"
            high = f"{pc.max(valid).as_py():,.4g}"
        summary.add_row(feature.name, feature.unit, mean, low, high, f"{column.null_count:,}")
    out.print(summary)
    out.print(f"feature set hash {defs.hash}", highlight=False)


def features(
    as_of: Annotated[str, typer.Option("--as-of", help="Date, YYYY-MM-DD: data up to the end of this day.")],
    workspace: Annotated[
        Path | None,
        typer.Option("--workspace", "-w", help="Workspace folder (default: LONGTAIL_WORKSPACE or the current folder)."),
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="Output format: csv, json or text.")] = "csv",
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show tracebacks and debug logs.")] = False,
) -> None:
    """Compute every account's features as of a date (CSV with a header, JSON list, or a text summary)."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        if fmt not in FORMATS:
            raise UsageError(f"--format must be csv, json or text, not {fmt!r}")
        day = _parse_date(as_of)
        ws = open_workspace(workspace)
        defs = workspace_feature_defs(ws)
        table = features_as_of(ws, day, defs)
    except LongtailError as exc:
        if verbose:
            console.print_exception()
        console.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(exc.exit_code) from exc
    if fmt == "csv":
        write_csv(table)
    elif fmt == "json":
        write_json(table)
    else:
        print_text(table, defs, day)
