"""Benchmark `longtail sim`: events/s and peak memory, with a same-run floor.

    python benchmarks/bench_sim.py [--accounts 1000000 --days 365 --truth-every 7] [--quick]

The floor is the rate at which this machine, in this run, writes an equal-shaped
table of pre-generated random event rows to Parquet with pyarrow (same columns,
same writer settings). Simulating costs more than only writing, so the ratio
sim / floor is the figure to compare across noisy shared machines. The
issue's targets (>= 2M events/s, < 8 GiB) are printed as information, never
asserted; the script fails (exit 1, a FAIL line) only if the files are wrong:
a row count that does not match what was simulated.
"""

from __future__ import annotations

import argparse
import datetime as dt
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from longtail.sim import SimConfig, generate
from longtail.sim.ids import FixedText, hex_ids
from longtail.sim.writer import parquet_writer


def peak_rss_gib() -> float:
    # ru_maxrss is in KiB on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def floor_rows_per_s(rows: int, out: Path, batch: int = 4_000_000) -> float:
    """Write `rows` pre-generated random event rows to Parquet; return rows/s (writing only)."""
    rng = np.random.default_rng(0)
    n = min(rows, batch)
    accounts = FixedText.decimal("acc_", np.arange(1_000_000, dtype=np.int64), 8)
    contacts = FixedText.decimal("con_", np.arange(5_000_000, dtype=np.int64), 10)
    names = pa.array([f"event_{i}" for i in range(27)])
    table = pa.table({
        "event_id": hex_ids("e", rng.integers(0, 2**63, n, dtype=np.uint64)),
        "account_id": accounts.take(np.sort(rng.integers(0, 1_000_000, n))),
        "contact_id": contacts.take(rng.integers(0, 5_000_000, n)),
        "event": names.take(pa.array(rng.integers(0, 27, n))),
        "ts": pa.array(np.sort(rng.integers(1_735_689_600, 1_767_225_600, n)) * 1_000_000,
                       pa.timestamp("us", tz="UTC")),
        "value": pa.array(np.where(rng.random(n) < 0.05, rng.random(n), np.nan), from_pandas=True),
        "properties": pa.nulls(n, pa.string()),
    })
    writer = parquet_writer(out, table.schema)
    began, written = time.perf_counter(), 0
    while written < rows:
        part = table.slice(0, min(n, rows - written))
        writer.write_table(part, row_group_size=part.num_rows)
        written += part.num_rows
    writer.close()
    return written / (time.perf_counter() - began)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--accounts", type=int, default=1_000_000)
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--truth-every", type=int, default=7, help="days between truth/state snapshots")
    ap.add_argument("--floor-rows", type=int, default=20_000_000, help="rows written for the floor")
    ap.add_argument("--quick", action="store_true", help="smoke run: 20,000 accounts x 60 days")
    args = ap.parse_args(argv)
    if args.quick:
        args.accounts, args.days = 20_000, 60
    cfg = SimConfig(accounts=args.accounts, days=args.days, seed=args.seed,
                    start=dt.date(2025, 1, 1), truth_every=args.truth_every)
    with tempfile.TemporaryDirectory(prefix="longtail-bench-") as tmp:
        began = time.perf_counter()
        summary = generate(cfg, Path(tmp) / "world", "parquet")
        seconds = time.perf_counter() - began
        sim_peak = peak_rss_gib()
        problems = check_files(Path(tmp) / "world", summary.events, args.accounts)
        floor = floor_rows_per_s(min(args.floor_rows, max(summary.events, 1)), Path(tmp) / "floor.parquet")
    rate = summary.events / seconds
    print(f"accounts        {args.accounts:,} x {args.days} days (truth every {args.truth_every} days)")
    print(f"events          {summary.events:,}")
    print(f"wall time       {seconds:,.1f} s")
    print(f"events/s        {rate:,.0f}")
    print(f"peak RSS        {sim_peak:.2f} GiB")
    print(f"floor           {floor:,.0f} rows/s (pyarrow writing random event rows to Parquet)")
    print(f"ratio           {rate / floor:.2f} x floor")
    met = rate >= 2_000_000 and sim_peak < 8
    print(f"targets         >= 2M events/s and < 8 GiB: {'met' if met else 'not met'} on this run (information)")
    for problem in problems:
        print(f"FAIL            {problem}")
    return 1 if problems else 0


def check_files(out: Path, events: int, accounts: int) -> list[str]:
    """Row counts on disk must match what the simulator reports."""
    problems = []
    written = pq.ParquetFile(out / "events.parquet").metadata.num_rows
    if written != events:
        problems.append(f"events.parquet has {written:,} rows, the simulator produced {events:,}")
    n_accounts = pq.ParquetFile(out / "accounts.parquet").metadata.num_rows
    if n_accounts != accounts:
        problems.append(f"accounts.parquet has {n_accounts:,} rows, expected {accounts:,}")
    return problems


if __name__ == "__main__":
    sys.exit(main())
