"""`longtail model train|evaluate|score`: churn-risk and expansion-propensity models (see docs/models.md)."""

from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import pyarrow as pa
import pyarrow.csv as pacsv
import typer
from rich.console import Console

from longtail.cli.common import VerboseOpt, WorkspaceOpt, fail, parse_day, setup_logging
from longtail.errors import LongtailError, UsageError
from longtail.predict import store
from longtail.predict.dataset import observation_grid, parse_every
from longtail.predict.labels import LabelSpec
from longtail.settings import open_workspace

app = typer.Typer(help="Churn-risk and expansion-propensity models: train, evaluate, score.", no_args_is_help=True)
FIGURES = ("roc_auc", "pr_auc", "brier", "top_decile_lift", "n_observations", "positive_rate")
TargetOpt = Annotated[str, typer.Option("--target", help="churn or expansion.")]


def _dates(observe: str | None, first: str | None, last: str | None, every: str) -> list[date]:
    if observe and (first or last):
        raise UsageError("give either --observe or --from/--to, not both")
    if observe:
        return sorted({parse_day(p.strip(), "--observe") for p in observe.split(",") if p.strip()})
    if not (first and last):
        raise UsageError("give the observation dates: --observe D1,D2,... or --from D1 --to D2 [--every 7d]")
    try:
        return observation_grid(parse_day(first, "--from"), parse_day(last, "--to"), parse_every(every))
    except ValueError as exc:
        raise UsageError(str(exc)) from exc


def _figures(block: dict[str, Any]) -> dict[str, Any]:
    return {k: block.get(k) for k in FIGURES} if "unavailable" not in block else dict(block)


@app.command("train")
def train_command(  # noqa: PLR0917 - typer options are keyword-like parameters
    target: TargetOpt = "churn",
    label: Annotated[str, typer.Option("--label", help="subscription or inactivity.")] = "subscription",
    horizon: Annotated[int | None, typer.Option("--horizon", help="Days (default: next renewal; 90 if monthly).")]
    = None,
    lead: Annotated[int, typer.Option("--lead", help="Days between observation and label window.")] = 0,
    observe: Annotated[str | None, typer.Option("--observe", help="Observation dates D1,D2,...")] = None,
    first: Annotated[str | None, typer.Option("--from", help="First observation date.")] = None,
    last: Annotated[str | None, typer.Option("--to", help="Last observation date.")] = None,
    every: Annotated[str, typer.Option("--every", help="Grid step, e.g. 7d or 2w.")] = "7d",
    data_end: Annotated[str | None, typer.Option("--data-end", help="Last day with data (default: found).")] = None,
    qualifying: Annotated[str, typer.Option("--qualifying-events",
                                            help="Inactivity label: events that count as activity, E1,E2 "
                                                 "(default: every event).")] = "",
    exclude: Annotated[str, typer.Option("--exclude-features",
                                         help="Features the model must not read, F1,F2 (e.g. a column your data "
                                              "only fills in after the outcome).")] = "",
    workspace: WorkspaceOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """Build a point-in-time training set, fit, calibrate, evaluate against baselines and store the model."""
    from longtail.predict.workspace import train_workspace

    setup_logging(verbose)
    try:
        events = tuple(e.strip() for e in qualifying.split(",") if e.strip())
        try:
            spec = LabelSpec(target=target, label=label, horizon_days=horizon, lead_days=lead,  # type: ignore[arg-type]
                             qualifying_events=events)
        except ValueError as exc:
            raise UsageError(str(exc)) from exc
        dates = _dates(observe, first, last, every)
        end = parse_day(data_end, "--data-end") if data_end else None
        excluded = [f.strip() for f in exclude.split(",") if f.strip()]
        result, meta, folder = train_workspace(open_workspace(workspace), spec, dates, end, excluded)
    except (LongtailError, ValueError) as exc:
        raise fail(exc if isinstance(exc, LongtailError) else LongtailError(str(exc)), verbose) from exc
    out = Console()
    report = result.report
    out.print(f"model {meta['model_id']} ({report['model_kind']}): {report['choice']}", highlight=False)
    out.print(f"test block: ROC AUC {report['roc_auc'] or float('nan'):.3f}, Brier {report['brier']:.4f}, "
              f"{report['n_observations']:,} observations; stored in {folder}", highlight=False)


@app.command("evaluate")
def evaluate_command(
    target: TargetOpt = "churn",
    model_id: Annotated[str | None, typer.Option("--model", help="Model id (default: the current one).")] = None,
    fmt: Annotated[str, typer.Option("--format", help="text or json.")] = "text",
    workspace: WorkspaceOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """The stored evaluation of a model: figures on the latest (test) block and each baseline on the same split."""
    setup_logging(verbose)
    try:
        if fmt not in ("text", "json"):
            raise UsageError(f"--format must be text or json, not {fmt!r}")
        meta = store.load_meta(open_workspace(workspace), target, model_id)
    except LongtailError as exc:
        raise fail(exc, verbose) from exc
    m = meta["metrics"]
    body = {**_figures(m), "model_id": meta["model_id"], "model_kind": m["model_kind"], "choice": m["choice"],
            "calibration": m["calibration"], "uncalibrated": _figures(m["uncalibrated"]),
            "validation": _figures(m["validation"]), "reliability": m["reliability"],
            "baselines": {k: _figures(v) for k, v in m["baselines"].items()}, "cohorts": m["cohorts"],
            "split": m["split"], "training_window": meta["training_window"], "charts": meta.get("charts", [])}
    if fmt == "json":
        sys.stdout.write(json.dumps(body) + "\n")
        return
    out = Console()
    out.print(f"model {meta['model_id']} ({m['model_kind']}, calibration {m['calibration']['method']})")
    rows = {"model": body, **body["baselines"]}
    out.print(f"{'':14} {'roc_auc':>8} {'pr_auc':>8} {'brier':>8} {'lift@10%':>9}")
    for name, f in rows.items():
        if "unavailable" in f:
            out.print(f"{name:14} {f['unavailable']}")
            continue
        vals = [f[k] for k in ("roc_auc", "pr_auc", "brier", "top_decile_lift")]
        out.print(f"{name:14} " + " ".join(f"{v:8.3f}" if v is not None else f"{'-':>8}" for v in vals))


@app.command("score")
def score_command(  # noqa: PLR0917 - typer options are keyword-like parameters
    as_of: Annotated[str, typer.Option("--as-of", help="Date, YYYY-MM-DD.")],
    target: TargetOpt = "churn",
    fmt: Annotated[str, typer.Option("--format", help="csv or json.")] = "csv",
    explain: Annotated[int, typer.Option("--explain", help="Add this many reasons per account.")] = 0,
    workspace: WorkspaceOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """Score every account with the current model: account_id, churn_risk|expansion_propensity, model_id."""
    from longtail.predict.workspace import score

    setup_logging(verbose)
    try:
        if fmt not in ("csv", "json"):
            raise UsageError(f"--format must be csv or json, not {fmt!r}")
        table = score(open_workspace(workspace), parse_day(as_of, "--as-of"), target, explain=explain)
    except LongtailError as exc:
        raise fail(exc, verbose) from exc
    if fmt == "json":
        sys.stdout.write(json.dumps(table.to_pylist()) + "\n")
        return
    if "reasons" in table.column_names:
        joined = [" | ".join(r) for r in table.column("reasons").to_pylist()]
        table = table.drop_columns(["reasons"]).append_column("reasons", pa.array(joined, pa.string()))
    pacsv.write_csv(table, sys.stdout.buffer, pacsv.WriteOptions(quoting_style="needed"))
    sys.stdout.buffer.flush()


@app.command("import-dataset")
def import_dataset_command(
    name: Annotated[str, typer.Argument(help="online-retail or ravenstack.")],
    source: Annotated[Path, typer.Argument(help="The dataset's folder (as under ../shared/datasets).")],
    out: Annotated[Path, typer.Argument(help="Folder for the contract CSV files (then: longtail load-dir OUT).")],
    verbose: VerboseOpt = False,
) -> None:
    """Map a public dataset to data-contract files, to train and evaluate on data that is not ours."""
    from longtail.predict.datasets import import_dataset

    setup_logging(verbose)
    try:
        written = import_dataset(name, source, out)
    except (LongtailError, OSError, pa.ArrowInvalid) as exc:
        raise fail(exc if isinstance(exc, LongtailError) else LongtailError(str(exc)), verbose) from exc
    Console().print(", ".join(f"{kind} {n:,}" for kind, n in written.items()) + f" rows written to {out}",
                    highlight=False)


@app.command("evaluate-snapshot")
def evaluate_snapshot_command(
    csv: Annotated[Path, typer.Argument(help="Telco-Customer-Churn.csv (one snapshot, no dates).")],
    seeds: Annotated[int, typer.Option("--seeds", help="Random splits to average over.")] = 5,
    verbose: VerboseOpt = False,
) -> None:
    """Telco snapshot: the same models and evaluation on RANDOM 50/25/25 splits (no dates: no time split)."""
    from longtail.predict.datasets import snapshot_report, telco_table

    setup_logging(verbose)
    try:
        if seeds < 2:
            raise UsageError("--seeds must be 2 or more (the report gives a standard deviation)")
        table = telco_table(pacsv.read_csv(csv, convert_options=pacsv.ConvertOptions(
            column_types={"TotalCharges": pa.string()})))
    except (LongtailError, OSError, pa.ArrowInvalid, KeyError) as exc:
        raise fail(exc if isinstance(exc, LongtailError) else LongtailError(str(exc)), verbose) from exc
    sys.stdout.write(json.dumps(snapshot_report(table, range(seeds))) + "\n")
