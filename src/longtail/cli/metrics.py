"""`longtail metrics`: logo and MRR retention over a period, optionally by month and by segment.

The formulas live in longtail.core.retention (see docs/metrics.md); this module reads the store,
runs the expressions on an in-memory DuckDB and prints. Rounding happens here, for display only.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping
from datetime import date
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from longtail.analytics.retention_run import compute
from longtail.cli.common import FormatOpt, VerboseOpt, WorkspaceOpt, console, fail, parse_day, setup_logging
from longtail.errors import LongtailError, UsageError

log = logging.getLogger(__name__)
out = Console()

TEXT_ROWS: tuple[tuple[str, str, str], ...] = (
    ("Starting-MRR basis: accounts active on the first day", "", ""),
    ("accounts active at start", "n_start", "int"),
    ("accounts active at end", "n_end", "int"),
    ("churned accounts", "n_churned", "int"),
    ("new accounts", "n_new", "int"),
    ("logo churn rate", "logo_churn_rate", "pct"),
    ("  annualised", "annualised_logo_churn_rate", "pct"),
    ("  scaled to one month", "monthly_logo_churn_rate", "pct"),
    ("MRR at start", "start_mrr", "money"),
    ("MRR at end (all accounts)", "end_mrr", "money"),
    ("churned MRR", "churned_mrr", "money"),
    ("contraction MRR", "contraction_mrr", "money"),
    ("expansion MRR", "expansion_mrr", "money"),
    ("new MRR", "new_mrr", "money"),
    ("net revenue retention (NRR)", "nrr", "pct"),
    ("gross revenue retention (GRR)", "grr", "pct"),
    ("MRR churn rate (1 - GRR)", "mrr_churn_rate", "pct"),
    ("  annualised", "annualised_mrr_churn_rate", "pct"),
    ("Renewals-due basis: accounts with a term ending in the period", "", ""),
    ("renewals due", "renewals_due", "int"),
    ("renewed", "renewals_renewed", "int"),
    ("renewal churn rate", "renewal_churn_rate", "pct"),
    ("MRR due for renewal", "renewals_due_mrr", "money"),
    ("renewal MRR churn rate", "renewal_mrr_churn_rate", "pct"),
)

# Up to this many periods/groups print side by side with every metric; more print one line each.
WIDE_LIMIT = 4
LONG_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("period", "period", "str"),
    ("by", "by", "str"),
    ("active at start", "n_start", "int"),
    ("churned", "n_churned", "int"),
    ("logo churn", "logo_churn_rate", "pct"),
    ("MRR at start", "start_mrr", "money"),
    ("MRR at end", "end_mrr", "money"),
    ("NRR", "nrr", "pct"),
    ("GRR", "grr", "pct"),
    ("renewals due", "renewals_due", "int"),
    ("renewal churn", "renewal_churn_rate", "pct"),
)

FromOpt = Annotated[str, typer.Option("--from", help="First day of the period, YYYY-MM-DD (inclusive).")]
ToOpt = Annotated[str, typer.Option("--to", help="End of the period, YYYY-MM-DD (exclusive).")]
ByOpt = Annotated[
    str | None, typer.Option("--by", help="Group by an account column or custom attribute, e.g. segment.")
]
MonthlyOpt = Annotated[bool, typer.Option("--monthly", help="One row per month from --from until --to.")]


def _check(from_: str, to: str, fmt: str, by: str | None) -> tuple[date, date]:
    if fmt not in ("text", "json"):
        raise UsageError(f"--format must be text or json, not {fmt!r}")
    d1, d2 = parse_day(from_, "--from"), parse_day(to, "--to")
    if d2 <= d1:
        raise UsageError(f"--to ({d2}) must be after --from ({d1})")
    if by is not None and not by.strip():
        raise UsageError("--by needs a column or attribute name")
    return d1, d2


def _warn(message: str) -> None:
    console.print(f"warning: {message}", highlight=False, soft_wrap=True)


def _json_value(column: str, value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if column.endswith("_mrr") and isinstance(value, float):
        # The store keeps money to 4 decimals, so this only drops floating-point noise from the sums.
        return round(value, 4)
    return value


def _format(value: Any, kind: str) -> str:
    if value is None:
        return "-"
    if kind == "int":
        return f"{value:,}"
    if kind == "pct":
        return f"{value * 100:.1f}%"
    return f"{value:,.2f}"


def _label(row: Mapping[str, Any], by: str | None, several_periods: bool) -> str:
    parts = [f"{row['period_start']:%Y-%m-%d} to {row['period_end']:%Y-%m-%d}"] if several_periods else []
    if by:
        parts.append(f"{by}={row[by] if row[by] is not None else '(none)'}")
    return "\n".join(parts) or "value"


def _print_long(rows: list[dict[str, Any]], by: str | None, title: str) -> None:
    """Many periods or groups: one line each, the headline columns only (JSON has them all)."""
    table = Table(title=title, title_justify="left")
    columns = [c for c in LONG_COLUMNS if c[1] != "by" or by]
    for header, _column, _kind in columns:
        table.add_column(by if header == "by" and by else header, justify="left" if _kind == "str" else "right")
    for row in rows:
        cells = []
        for _header, column, kind in columns:
            if column == "period":
                cells.append(f"{row['period_start']:%Y-%m-%d} to {row['period_end']:%Y-%m-%d}")
            elif column == "by":
                cells.append("(none)" if by is None or row[by] is None else str(row[by]))
            else:
                cells.append(_format(row[column], kind))
        table.add_row(*cells)
    out.print(table)


def _print_table(rows: list[dict[str, Any]], by: str | None, d1: date, d2: date) -> None:
    title = f"Retention from {d1} to {d2} (end exclusive, {(d2 - d1).days} days)"
    if len(rows) > WIDE_LIMIT:
        _print_long(rows, by, title)
        return
    several = len({r["period_start"] for r in rows}) > 1
    table = Table(title=title, title_justify="left")
    table.add_column("metric")
    for row in rows:
        table.add_column(_label(row, by, several), justify="right")
    for label, column, kind in TEXT_ROWS:
        if not column:
            table.add_section()
            table.add_row(f"[bold]{label}[/bold]", *["" for _ in rows])
            continue
        table.add_row(label, *[_format(r[column], kind) for r in rows])
    out.print(table)


def metrics(
    *,
    from_: FromOpt,
    to: ToOpt,
    by: ByOpt = None,
    monthly: MonthlyOpt = False,
    workspace: WorkspaceOpt = None,
    fmt: FormatOpt = "text",
    verbose: VerboseOpt = False,
) -> None:
    """Logo churn, NRR, GRR, expansion, contraction and churned MRR over [--from, --to)."""
    setup_logging(verbose)
    try:
        d1, d2 = _check(from_, to, fmt, by)
        rows = compute(workspace, d1, d2, by, monthly, warn=_warn)
    except LongtailError as exc:
        raise fail(exc, verbose) from exc
    if fmt == "json":
        payload = [{k: _json_value(k, v) for k, v in r.items()} for r in rows]
        single = not monthly and by is None
        out.print_json(json.dumps(payload[0] if single else payload))
        return
    _print_table(rows, by, d1, d2)
