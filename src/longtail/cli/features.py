"""`longtail features --as-of DATE`: the feature table of every account existing on that date.

The definitions live in longtail.core.features (see docs/features.md); this module opens the
workspace, runs the expression on the warehouse and prints CSV (default), JSON or a text summary.
"""

from __future__ import annotations

import json
import math
import sys
from datetime import date
from typing import Annotated, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import typer
from rich.console import Console
from rich.table import Table

from longtail.analytics.connect import workspace_feature_defs
from longtail.analytics.features import features_as_of
from longtail.cli.common import VerboseOpt, WorkspaceOpt, fail, parse_day, setup_logging
from longtail.core.features import FeatureSet
from longtail.errors import LongtailError, UsageError
from longtail.settings import open_workspace

FORMATS = ("csv", "json", "text")


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
    workspace: WorkspaceOpt = None,
    fmt: Annotated[str, typer.Option("--format", help="Output format: csv, json or text.")] = "csv",
    verbose: VerboseOpt = False,
) -> None:
    """Compute every account's features as of a date (CSV with a header, JSON list, or a text summary)."""
    setup_logging(verbose)
    try:
        if fmt not in FORMATS:
            raise UsageError(f"--format must be csv, json or text, not {fmt!r}")
        day = parse_day(as_of, "--as-of")
        ws = open_workspace(workspace)
        defs = workspace_feature_defs(ws)
        table = features_as_of(ws, day, defs)
    except LongtailError as exc:
        raise fail(exc, verbose) from exc
    if fmt == "csv":
        write_csv(table)
    elif fmt == "json":
        write_json(table)
    else:
        print_text(table, defs, day)
