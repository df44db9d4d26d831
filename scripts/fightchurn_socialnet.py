"""Measure longtail's churn model on fightchurn's simulated social network (socialnet7).

fightchurn 1.0.8 ("Fighting Churn With Data", C. Gold) ships the book's customer simulator with the socialnet7
configuration. Its `ChurnSimulation` writes to PostgreSQL; here the simulation classes run unchanged and only
the database layer is replaced: each simulated customer is written to longtail's data contract instead
(accounts.csv, subscriptions.csv, events.parquet). The data then goes through the real CLI: `longtail init`,
`longtail load-dir`, `longtail model train` and `longtail model evaluate --format json`.

Usage (from the repository root; needs network once, to pip-install fightchurn 1.0.8 beside the venv):

    .venv/bin/python scripts/fightchurn_socialnet.py                  # simulate, load, train, evaluate
    .venv/bin/python scripts/fightchurn_socialnet.py --customers 2000  # smaller population
    .venv/bin/python scripts/fightchurn_socialnet.py --reuse-data      # skip the simulation if its output exists

Mapping of the book's setup to longtail (see docs/models.md, "fightchurn socialnet7"):
- the book observes each account 5 days before each monthly renewal and labels it churned when its
  subscription ends within the next month; longtail observes every account on a shared grid, so the grid is
  monthly (`--every 5w`, so one date's 35-day label window ends where the next date starts and the time split
  purges nothing) with `--lead 5 --horizon 30`: window (as_of + 5, as_of + 35];
- the book's metrics are counts per event over 28 days ("like_per_month") plus tenure; the workspace declares
  one event family per simulated event, so longtail's `<event>_events_28d` features are exactly those counts;
- the simulator's `channel` is kept as a custom account attribute (longtail's models read only `industry` and
  `country` as categories, so it is not a model input); `country` is.

Every failing step exits non-zero: an expected failure (pip install, version check, a longtail command, a
`--reuse-data` size mismatch) with one line naming the step; an error inside fightchurn's own code with its
traceback (exit 1), which is the most useful report for that.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import importlib
import json
import os
import random
import shutil
import subprocess
import sys
import time
import types
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from importlib import metadata
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parent.parent
FIGHTCHURN_VERSION = "1.0.8"
FIGHTCHURN_DIR = REPO / ".venv" / f"fightchurn-{FIGHTCHURN_VERSION}"
MODEL = "socialnet7"
MRR = 9.99  # the simulator's price for every monthly subscription
EVENT_BATCH_ROWS = 500_000


class StepFailed(Exception):
    """A step of the measurement failed; the message names the step and the cause."""


def ensure_fightchurn() -> None:
    """Install fightchurn 1.0.8 beside the venv (no deps, like the Makefile's 1.2.0) and put it first on sys.path."""
    dist_info = FIGHTCHURN_DIR / f"fightchurn-{FIGHTCHURN_VERSION}.dist-info"
    if not dist_info.is_dir():
        cmd = [sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-deps",
               "--target", str(FIGHTCHURN_DIR), f"fightchurn=={FIGHTCHURN_VERSION}"]
        done = subprocess.run(cmd, check=False, capture_output=True, text=True)
        if done.returncode != 0:
            raise StepFailed(f"install fightchurn: {' '.join(cmd)} exited {done.returncode}: {done.stderr.strip()}")
    versions = [d.version for d in metadata.distributions(path=[str(FIGHTCHURN_DIR)])
                if d.metadata["Name"] == "fightchurn"]
    if versions != [FIGHTCHURN_VERSION]:
        raise StepFailed(f"install fightchurn: expected version {FIGHTCHURN_VERSION} in {FIGHTCHURN_DIR}, "
                         f"found {versions or 'none'}")
    # 1.2.0 (the parity test's copy) has no datagen package: make sure 1.0.8 is the one imported
    sys.path.insert(0, str(FIGHTCHURN_DIR))
    for name in [m for m in sys.modules if m == "fightchurn" or m.startswith("fightchurn.")]:
        del sys.modules[name]
    if not (FIGHTCHURN_DIR / "fightchurn" / "datagen" / "conf" / f"{MODEL}_population.csv").is_file():
        raise StepFailed(f"install fightchurn: {FIGHTCHURN_DIR} has no datagen/conf/{MODEL}_*.csv")


class _RefusingDatabase:
    """Stands in for `postgres.Postgres` and a psycopg2 connection: any use is a bug in the overrides below."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        pass

    def __getattr__(self, name: str) -> Any:
        raise StepFailed(f"simulate: the simulator tried to use its database ({name}); the override missed a path")


@contextlib.contextmanager
def _without_database(copy_dir: Path) -> Iterator[None]:
    """Import-time and construction-time stand-ins for the simulator's DB layer (postgres, psycopg2, env vars).

    `churnsim` imports `postgres` and `psycopg2` at module level and connects in `__init__`; neither package is
    installed here and no database is wanted, so both names resolve to `_RefusingDatabase` while the module is
    imported and the simulation constructed. The CHURN_DB* env vars only satisfy the connection string it formats;
    CHURN_OUT_DIR is where its behaviour model copies its configuration CSV.
    """
    fake_postgres = types.ModuleType("postgres")
    fake_postgres.Postgres = _RefusingDatabase  # type: ignore[attr-defined]
    fake_psycopg2 = types.ModuleType("psycopg2")
    fake_psycopg2.connect = _RefusingDatabase  # type: ignore[attr-defined]
    saved_modules = {n: sys.modules.get(n) for n in ("postgres", "psycopg2")}
    env = {"CHURN_DB": "none", "CHURN_DB_USER": "none", "CHURN_DB_PASS": "none", "CHURN_OUT_DIR": f"{copy_dir}/"}
    saved_env = {k: os.environ.get(k) for k in env}
    sys.modules.update({"postgres": fake_postgres, "psycopg2": fake_psycopg2})
    os.environ.update(env)
    try:
        yield
    finally:
        for name, module in saved_modules.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


class ContractWriter:
    """Writes simulated customers as longtail contract files: accounts.csv, subscriptions.csv, events.parquet."""

    def __init__(self, out: Path, event_names: Sequence[str]) -> None:
        out.mkdir(parents=True, exist_ok=True)
        self.event_names = list(event_names)
        self._files: list[TextIO] = []
        self.accounts = self._csv(out / "accounts.csv",
                                  ["account_id", "created_at", "country", "channel", "date_of_birth"])
        self.subscriptions = self._csv(out / "subscriptions.csv",
                                       ["subscription_id", "account_id", "plan", "start_date", "end_date", "mrr"])
        self._schema = pa.schema([("event_id", pa.int64()), ("account_id", pa.string()), ("event", pa.string()),
                                  ("ts", pa.timestamp("s"))])
        self._events = pq.ParquetWriter(out / "events.parquet", self._schema)
        self._batch: tuple[list[int], list[str], list[str], list[datetime]] = ([], [], [], [])
        self.n_accounts = self.n_subscriptions = self.n_events = 0

    def _csv(self, path: Path, header: list[str]) -> Any:
        handle = path.open("w", newline="", encoding="utf-8")
        self._files.append(handle)
        writer = csv.writer(handle)
        writer.writerow(header)
        return writer

    def add(self, customer: Any, first_subscription_id: int) -> None:
        """One simulated customer: its account, one subscription row per simulated month, its events."""
        account_id = str(customer.id)
        first_start: date = customer.subscriptions[0][0]
        country = "" if customer.country in (None, "None") else str(customer.country)
        self.accounts.writerow([account_id, first_start.isoformat(), country, customer.channel,
                                customer.date_of_birth.isoformat()])
        for offset, (start, end) in enumerate(customer.subscriptions):
            # the simulator's own rows: one per month, its own id (so longtail sees a monthly renewal), MRR 9.99
            self.subscriptions.writerow([first_subscription_id + offset, account_id, MODEL, start.isoformat(),
                                         end.isoformat(), MRR])
        ids, accounts, names, stamps = self._batch
        for stamp, event_index in customer.events:
            ids.append(self.n_events)
            accounts.append(account_id)
            names.append(self.event_names[event_index])
            stamps.append(stamp)
            self.n_events += 1
        self.n_accounts += 1
        self.n_subscriptions += len(customer.subscriptions)
        if len(ids) >= EVENT_BATCH_ROWS:
            self._flush()

    def _flush(self) -> None:
        if self._batch[0]:
            self._events.write_table(pa.Table.from_arrays([pa.array(c) for c in self._batch], schema=self._schema))
        self._batch = ([], [], [], [])

    def close(self) -> None:
        self._flush()
        self._events.close()
        for handle in self._files:
            handle.close()


@dataclass(frozen=True)
class SimulationSize:
    customers: int
    start: date
    end: date
    seed: int


def simulate(size: SimulationSize, out: Path) -> dict[str, int]:
    """Run fightchurn's socialnet7 simulation unchanged except for where customers are written."""
    with _without_database(out.parent):
        churnsim = importlib.import_module("fightchurn.datagen.churnsim")

        class ToContract(churnsim.ChurnSimulation):  # type: ignore[misc,name-defined]
            """ChurnSimulation whose database steps write contract files instead."""

            writer: ContractWriter

            def truncate_old_sim(self) -> bool:
                return True  # a fresh output folder has nothing to truncate

            def copy_customer_to_database(self, customer: Any) -> None:
                # numbered like the original: the running subscription_count is the first row's id
                self.writer.add(customer, self.subscription_count)
                self.subscription_count += len(customer.subscriptions)

            def remove_tmp_files(self) -> None:
                pass  # copy_customer_to_database above writes no temp files

        # the book's entry point seeds `random` before constructing; the behaviour models seed numpy
        random.seed(size.seed)
        sim = ToContract(MODEL, size.start, size.end, size.customers, size.seed)
    # ChurnSimulation pairs glob order of the behaviour files with the population CSV's row order, so which
    # channel gets which share depends on the file system; pair them by name instead (reproducible, as intended)
    sim.model_list = [sim.behavior_models[v] for v in sim.population_percents.index]
    # kappa is a 1-element array (a (1, n) . (n,) product); numpy >= 2 refuses math.exp() on it, which the
    # book's numpy 1.x accepted: keep the same value as a scalar
    kappa = np.asarray(sim.util_mod.kappa, dtype=float)
    if kappa.size != 1:
        raise StepFailed(f"simulate: expected one churn-scale constant kappa, got shape {kappa.shape}")
    sim.util_mod.kappa = float(kappa.reshape(-1)[0])
    sim.db = _RefusingDatabase()
    sim.con = _RefusingDatabase()
    event_names = list(sim.model_list[0].behave_names)
    # insert_event_types is the one remaining DB use in run_simulation: event names go into the files directly
    for model in sim.model_list:
        model.insert_event_types = lambda *_args: None
    sim.writer = ContractWriter(out, event_names)
    try:
        sim.run_simulation()
    finally:
        sim.writer.close()
    return {"accounts": sim.writer.n_accounts, "subscriptions": sim.writer.n_subscriptions,
            "events": sim.writer.n_events}


def write_features_config(workspace: Path, event_names: Sequence[str]) -> None:
    """One event family per simulated event, so `<event>_events_28d` is the book's `<event>_per_month`."""
    lines = ["version: 1", "event_families:"] + [f"  {name}: [{name}]" for name in event_names]
    path = workspace / "motion" / "features.yml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def longtail(*args: str, step: str) -> str:
    """Run the real longtail CLI (the venv's console script); a non-zero exit fails the step."""
    exe = Path(sys.executable).parent / "longtail"
    cmd = [str(exe), *args]
    print(f"$ longtail {' '.join(args)}", flush=True)
    started = time.monotonic()
    done = subprocess.run(cmd, check=False, capture_output=True, text=True)
    print(f"  ({time.monotonic() - started:.0f} s)", flush=True)
    if done.returncode != 0:
        raise StepFailed(f"{step}: `longtail {' '.join(args)}` exited {done.returncode}: "
                         f"{(done.stderr or done.stdout).strip()[-2000:]}")
    return done.stdout


def _summary(figures: dict[str, Any]) -> dict[str, Any]:
    keys = ("roc_auc", "pr_auc", "brier", "top_decile_lift", "n_observations", "positive_rate")
    out: dict[str, Any] = {k: figures.get(k) for k in keys}
    out["baselines"] = {name: {k: b.get(k) for k in keys if k in b} for name, b in figures.get("baselines", {}).items()}
    for extra in ("uncalibrated", "split", "calibration", "choice"):
        out[extra] = figures.get(extra)
    return out


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=Path("/tmp/fightchurn_work"), help="work folder")
    parser.add_argument("--customers", type=int, default=10_000,
                        help="customers created in the first month (the book: 10,000); +10%% a month after")
    parser.add_argument("--start", type=date.fromisoformat, default=date(2020, 1, 1), help="simulation start")
    parser.add_argument("--end", type=date.fromisoformat, default=date(2020, 6, 1), help="simulation end")
    parser.add_argument("--seed", type=int, default=7, help="random seed (random and numpy)")
    parser.add_argument("--observe-from", type=date.fromisoformat, default=None,
                        help="first observation date (default: start + 39 days = 2020-02-09, the book's first)")
    parser.add_argument("--every", default="5w", help="observation grid step (longtail --every)")
    parser.add_argument("--lead", type=int, default=5, help="days between observation and label window (book: 5)")
    parser.add_argument("--horizon", type=int, default=30, help="label window in days after the lead (book: 1 month)")
    parser.add_argument("--reuse-data", action="store_true", help="reuse the simulated files if they exist")
    args = parser.parse_args(argv)
    if args.customers < 10 or args.customers > 1_000_000:
        parser.error("--customers must be between 10 and 1,000,000")
    if args.end <= args.start:
        parser.error("--end must be after --start")
    return args


def run(args: argparse.Namespace) -> dict[str, Any]:
    data = args.work / "data"
    size = SimulationSize(args.customers, args.start, args.end, args.seed)
    counts_file = args.work / "simulation.json"
    if args.reuse_data and counts_file.is_file():
        counts = json.loads(counts_file.read_text(encoding="utf-8"))
        if counts.get("size") != [size.customers, str(size.start), str(size.end), size.seed]:
            raise StepFailed(f"reuse data: {counts_file} was simulated with {counts.get('size')}, not this size")
        print(f"reusing {data}: {counts}", flush=True)
    else:
        ensure_fightchurn()
        print(f"simulating {MODEL}: {size}", flush=True)
        started = time.monotonic()
        counts = simulate(size, data)
        counts["seconds"] = round(time.monotonic() - started)
        counts["size"] = [size.customers, str(size.start), str(size.end), size.seed]  # type: ignore[assignment]
        counts_file.write_text(json.dumps(counts), encoding="utf-8")
        print(f"simulated: {counts}", flush=True)

    workspace = args.work / "ws"
    if workspace.exists():
        shutil.rmtree(workspace)  # a fresh workspace every run
    longtail("init", str(workspace), step="init")
    write_features_config(workspace, _event_names(data))
    longtail("load-dir", str(data), "--workspace", str(workspace), step="load")
    first = args.observe_from or date.fromordinal(args.start.toordinal() + 39)
    # last date whose window (as_of + lead, as_of + lead + horizon] ends by the simulation end
    last = date.fromordinal(args.end.toordinal() - args.lead - args.horizon)
    longtail("model", "train", "--target", "churn", "--label", "subscription", "--lead", str(args.lead),
             "--horizon", str(args.horizon), "--from", first.isoformat(), "--to", last.isoformat(),
             "--every", args.every, "--data-end", args.end.isoformat(), "--workspace", str(workspace), step="train")
    figures = json.loads(longtail("model", "evaluate", "--format", "json", "--workspace", str(workspace),
                                  step="evaluate"))
    return {"simulation": counts, "seed": args.seed, "grid": {"from": str(first), "to": str(last),
                                                             "every": args.every, "lead": args.lead,
                                                             "horizon": args.horizon},
            "evaluate": _summary(figures)}


def _event_names(data: Path) -> list[str]:
    table = pq.read_table(data / "events.parquet", columns=["event"])
    names = sorted({str(v) for v in table.column("event").unique().to_pylist()})
    if not names:
        raise StepFailed(f"convert: {data / 'events.parquet'} has no events")
    return names


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        result = run(args)
    except StepFailed as failed:
        print(f"fightchurn_socialnet: {failed}", file=sys.stderr)
        return 1
    print(json.dumps(result, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
