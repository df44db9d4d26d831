"""The analytic floor of issues 4-6, shared by bench_segments.py and bench_journeys.py.

Issue 4 defines it: "one DuckDB pass over the events computing per-account counts over 28 and 90 days", on 1M
accounts and 100M events. bench_features.py owns both the data (`generate`, Parquet cached in a folder under a
stamp.json) and the measurement (its `floor` child process); this module imports that script by path and runs
exactly those, so every benchmark compares against the same floor:

    from analytic_floor import add_floor_arguments, check_floor_data, describe, measure_floor
    add_floor_arguments(ap)                     # --floor-data DIR, --floor-memory-limit
    check_floor_data(args.floor_data, quick=args.quick, accounts=None)   # before any long set-up
    floor = measure_floor(args.floor_data, quick=args.quick, accounts=None, repeat=2,
                          memory_limit=args.floor_memory_limit)
    print(describe(floor)); wall, cpu = floor.ratios(seconds, cpu_seconds)

Sizes: the full run uses 1M accounts and 100M events; `--quick` uses bench_features' quick size (20k accounts,
1M events); a benchmark run at another size N uses N accounts and 100 N events (the issue's 100 events per
account). Without `--floor-data` the data goes to a temporary folder that is deleted afterwards (100M events take
about 12 minutes to generate on a loaded machine); with it, the folder is reused when its stamp.json matches and
filled when it is empty. A folder holding other data (another size, another generator version, or files without a
stamp) is refused rather than regenerated, so pre-generated data such as /tmp/lt-feat-1m is never overwritten.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import shutil
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import ModuleType

BENCH_FEATURES = Path(__file__).resolve().parent / "bench_features.py"
EVENTS_PER_ACCOUNT = 100  # issue 4: 1M accounts, 100M events


class FloorDataError(Exception):
    """--floor-data names a folder this module must not write into."""


@dataclass(frozen=True)
class AnalyticFloor:
    """The best (lowest wall) of `runs` floor children, on `accounts` accounts and `events` events."""

    accounts: int
    events: int
    seconds: float
    cpu_s: float
    peak_rss: float
    rows: int
    runs: int
    folder: str  # where the data was (a deleted temporary folder when --floor-data was not given)

    def ratios(self, seconds: float, cpu_s: float) -> tuple[float, float]:
        """(wall, CPU) of a measurement as multiples of this floor."""
        return seconds / self.seconds, cpu_s / max(self.cpu_s, 1e-9)


@cache
def bench_features() -> ModuleType:
    """benchmarks/bench_features.py as a module (it is a script, not a package member: loaded by path)."""
    spec = importlib.util.spec_from_file_location("longtail_bench_features", BENCH_FEATURES)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {BENCH_FEATURES}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def floor_size(quick: bool, accounts: int | None) -> tuple[int, int]:
    """(accounts, events) of the analytic floor for a benchmark run: full, --quick, or `accounts` given."""
    bf = bench_features()
    if accounts is not None:
        return accounts, accounts * EVENTS_PER_ACCOUNT
    if quick:
        return int(bf.QUICK_ACCOUNTS), int(bf.QUICK_EVENTS)
    return int(bf.DEFAULT_ACCOUNTS), int(bf.DEFAULT_EVENTS)


def add_floor_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--floor-data", type=Path, default=None, metavar="DIR",
                    help="bench_features data for the analytic floor: reused when its stamp.json matches the size, "
                         "generated when DIR is empty or missing, refused otherwise (default: a temporary folder, "
                         "deleted afterwards)")
    ap.add_argument("--floor-memory-limit", default="6GB", help="DuckDB memory_limit of the analytic floor child")


def check_folder(folder: Path, accounts: int, events: int) -> None:
    """Raise FloorDataError unless `folder` is missing, empty, or holds exactly the data wanted."""
    if not folder.exists():
        return
    if not folder.is_dir():
        raise FloorDataError(f"--floor-data {folder} is not a folder")
    stamp = folder / "stamp.json"
    if not stamp.is_file():
        if any(folder.iterdir()):
            raise FloorDataError(f"--floor-data {folder} is not empty and has no stamp.json: not bench_features "
                                 f"data; give an empty or new folder")
        return
    bf = bench_features()
    want = {"version": bf.GEN_VERSION, "accounts": accounts, "events": events, "as_of": bf.AS_OF.isoformat()}
    try:
        have = json.loads(stamp.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise FloorDataError(f"--floor-data {folder}: unreadable stamp.json ({e})") from e
    if have != want:
        raise FloorDataError(f"--floor-data {folder} holds {have}, this run needs {want}; it is not overwritten: "
                             f"give another folder (or generate that size there with bench_features.py --tmp)")


def check_floor_data(folder: Path | None, *, quick: bool, accounts: int | None) -> None:
    """Raise FloorDataError if --floor-data cannot be used for this run (call it before a long set-up)."""
    if folder is not None:
        check_folder(folder, *floor_size(quick, accounts))


def measure_floor(folder: Path | None, *, quick: bool, accounts: int | None, repeat: int,
                  memory_limit: str) -> AnalyticFloor:
    """Generate (or reuse) the data and run bench_features' floor child `repeat` times; the best run by wall."""
    bf = bench_features()
    n_accounts, n_events = floor_size(quick, accounts)
    check_floor_data(folder, quick=quick, accounts=accounts)
    where = folder or Path(tempfile.mkdtemp(prefix="lt-bench-floor-"))
    try:
        bf.generate(where, n_accounts, n_events)
        runs = [bf.run_child("floor", where, memory_limit) for _ in range(max(repeat, 1))]
    finally:
        if folder is None:
            shutil.rmtree(where, ignore_errors=True)
    best = min(runs, key=lambda r: float(r["seconds"]))
    if not 0 < int(best["rows"]) <= n_accounts:
        raise RuntimeError(f"the analytic floor counted {best['rows']:,} accounts with events of {n_accounts:,}")
    return AnalyticFloor(n_accounts, n_events, float(best["seconds"]), float(best["cpu_s"]),
                         float(best["peak_rss"]), int(best["rows"]), len(runs), str(where))


def floor_from_args(ap: argparse.ArgumentParser, args: argparse.Namespace, accounts: int | None) -> AnalyticFloor:
    """The analytic floor for a benchmark's parsed arguments (`add_floor_arguments`, `--quick`, `--repeat`): an
    unusable --floor-data is an argument error, reported before any data is generated or measured."""
    try:
        check_floor_data(args.floor_data, quick=args.quick, accounts=accounts)
    except FloorDataError as e:
        ap.error(str(e))
    return measure_floor(args.floor_data, quick=args.quick, accounts=accounts, repeat=args.repeat,
                         memory_limit=args.floor_memory_limit)


def describe(floor: AnalyticFloor) -> str:
    """One line: the floor's size, seconds and peak RSS."""
    return (f"analytic floor {floor.seconds:8.2f} s  cpu {floor.cpu_s:8.2f} s  (issue 4: one DuckDB pass over "
            f"{floor.events:,} events, per-account counts over 28 and 90 days for {floor.accounts:,} accounts; best "
            f"of {floor.runs}; peak RSS {floor.peak_rss / (1 << 30):.2f} GiB)")
