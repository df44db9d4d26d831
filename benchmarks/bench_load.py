"""Benchmark: `longtail load events` throughput and peak memory, CSV and Parquet.

    .venv/bin/python benchmarks/bench_load.py                 # 10M rows, CSV and Parquet
    .venv/bin/python benchmarks/bench_load.py --quick         # 1M rows smoke run
    .venv/bin/python benchmarks/bench_load.py --format parquet --rows 2000000 --tmp /tmp/lt-bench

The parent process generates the input files (vectorised NumPy/pyarrow, cached in --tmp when given),
loads accounts and contacts into a fresh workspace per format, then runs every measurement in its own
child process so the reported peak RSS belongs to that load alone. Each figure is printed next to a
floor measured in the same run on the same file (the machine is shared and noisy):

    CSV floor      rows/s of `pyarrow.csv.open_csv` parsing the file with every column as a string
    Parquet floor  rows/s of `pyarrow.parquet.ParquetFile(...).iter_batches()` reading the file

`ratio` = longtail rows/s / floor rows/s. Wall-clock figures are never asserted; the only failure is
a load that does not end with exactly --rows events loaded and none rejected (exit status 1).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

DEFAULT_ROWS = 10_000_000
QUICK_ROWS = 1_000_000
GEN_CHUNK = 1_000_000
GEN_VERSION = 1  # bump when the generated data changes, so cached files in --tmp are rebuilt
CONTACTS_PER_ACCOUNT = 3
PARQUET_BATCH = 262_144
SEED = 20260101
RESULT = "BENCH-RESULT "
TARGETS = {"csv": 200_000, "parquet": 500_000}  # rows/s from the issue: informational, never asserted
MEMORY_BUDGET = 2 << 30  # bytes; reported against, not asserted
NOW = datetime(2026, 1, 1, tzinfo=UTC)

EVENT_NAMES = [
    "login", "page_view", "report_viewed", "report_shared", "dashboard_created", "dashboard_viewed",
    "export_csv", "export_pdf", "invite_sent", "invite_accepted", "api_call", "search", "filter_applied",
    "comment_added", "file_uploaded", "integration_connected", "integration_synced", "alert_created",
    "alert_triggered", "seat_added", "seat_removed", "plan_viewed", "billing_updated", "support_opened",
    "feature_flag_toggled", "workspace_created", "template_used", "query_run", "chart_created", "logout",
]
PROPERTY_SOURCES = ["web", "ios", "android", "api", "slack", "email"]
PLANS = ["free", "starter", "pro", "enterprise"]
INDUSTRIES = ["software", "retail", "finance", "health", "education", "manufacturing", "media"]
COUNTRIES = ["US", "GB", "DE", "FR", "NL", "SE", "IN", "BR", "JP", "AU", "CA", "ES"]
ROLES = ["admin", "champion", "power_user", "exec_sponsor", "billing", "user"]
YEAR_START_S = int(datetime(2025, 1, 1, tzinfo=UTC).timestamp())
YEAR_S = 365 * 86_400
HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


# ---------------------------------------------------------------- data generation


def _hex_digits(values: npt.NDArray[np.uint64], width: int) -> npt.NDArray[np.uint8]:
    """(n, width) ASCII hex digits of `values`, most significant first."""
    shifts = np.arange(width - 1, -1, -1, dtype=np.uint64) * np.uint64(4)
    return HEX[((values[:, None] >> shifts) & np.uint64(0xF)).astype(np.intp)]


def _ascii(matrix: npt.NDArray[np.uint8]) -> pa.Array:
    """Rows of an (n, width) uint8 matrix as a string array (vectorised, no Python loop per row)."""
    n, width = matrix.shape
    offsets = pa.array(np.arange(0, (n + 1) * width, width, dtype=np.int32))
    return pa.StringArray.from_buffers(n, offsets.buffers()[1], pa.py_buffer(np.ascontiguousarray(matrix)))


def _ids(prefix: str, count: int, width: int) -> pa.Array:
    numbers = pc.cast(pa.array(np.arange(count, dtype=np.int64)), pa.string())
    return pc.binary_join_element_wise(prefix, pc.utf8_lpad(numbers, width, "0"), "")


def _event_ids(rng: np.random.Generator, start: int, n: int) -> pa.Array:
    """Unique, random-looking ids: 'evt_' + 16 random hex digits + the row number in 8 hex digits."""
    random_part = _hex_digits(rng.integers(0, 2**63, n, dtype=np.uint64), 16)
    row_part = _hex_digits(np.arange(start, start + n, dtype=np.uint64), 8)
    prefix = np.broadcast_to(np.frombuffer(b"evt_", dtype=np.uint8), (n, 4))
    return _ascii(np.hstack([prefix, random_part, row_part]))


def _null_where(arr: pa.Array, missing: npt.NDArray[np.bool_]) -> pa.Array:
    return pc.if_else(pa.array(missing), pa.scalar(None, arr.type), arr)


def _event_chunk(start: int, n: int, accounts: int) -> pa.Table:
    """Rows start..start+n of the events file, typed as in the Parquet file."""
    rng = np.random.default_rng([SEED, start])
    # Long-tailed activity: a few accounts produce most events.
    account = np.minimum((accounts * rng.random(n) ** 2.5).astype(np.int64), accounts - 1)
    account_ids = _ids("acc_", accounts, 6).take(pa.array(account))
    contact = account * CONTACTS_PER_ACCOUNT + rng.integers(0, CONTACTS_PER_ACCOUNT, n)
    contact_ids = _null_where(_ids("con_", accounts * CONTACTS_PER_ACCOUNT, 7).take(pa.array(contact)),
                              rng.random(n) >= 0.6)
    weights = 1.0 / np.arange(1, len(EVENT_NAMES) + 1)
    names = pa.array(EVENT_NAMES).take(pa.array(rng.choice(len(EVENT_NAMES), n, p=weights / weights.sum())))
    seconds = YEAR_START_S + rng.integers(0, YEAR_S, n)
    ts = pa.array(seconds * 1_000_000, pa.timestamp("us", tz="UTC"))
    value = pa.array(np.round(rng.gamma(2.0, 20.0, n), 2), mask=rng.random(n) >= 0.3)
    source = pa.array(PROPERTY_SOURCES).take(pa.array(rng.integers(0, len(PROPERTY_SOURCES), n)))
    plan = pa.array(PLANS).take(pa.array(rng.integers(0, len(PLANS), n)))
    count = pc.cast(pa.array(rng.integers(1, 500, n)), pa.string())
    properties = pc.binary_join_element_wise('{"source":"', source, '","plan":"', plan, '","n":', count, "}", "")
    properties = _null_where(properties, rng.random(n) >= 0.2)
    return pa.table({
        "account_id": account_ids, "contact_id": contact_ids, "event": names, "ts": ts,
        "value": value, "properties": properties, "event_id": _event_ids(rng, start, n),
    })


def _as_csv_chunk(table: pa.Table) -> pa.Table:
    ts = pc.strftime(table["ts"].cast(pa.timestamp("s", tz="UTC")), format="%Y-%m-%dT%H:%M:%SZ")
    return table.set_column(table.schema.get_field_index("ts"), "ts", ts)


def write_events(path: Path, fmt: str, rows: int, accounts: int) -> None:
    partial = path.with_name(path.name + ".partial")
    writer: Any = None
    try:
        for start in range(0, rows, GEN_CHUNK):
            table = _event_chunk(start, min(GEN_CHUNK, rows - start), accounts)
            if fmt == "csv":
                table = _as_csv_chunk(table)
                writer = writer or pacsv.CSVWriter(partial, table.schema)
            else:
                writer = writer or pq.ParquetWriter(partial, table.schema)
            writer.write_table(table)
    finally:
        if writer is not None:
            writer.close()
    os.replace(partial, path)


def write_accounts(path: Path, accounts: int) -> None:
    rng = np.random.default_rng([SEED, 1])
    created = pa.array((YEAR_START_S - rng.integers(0, 3 * YEAR_S, accounts)) * 1_000_000,
                       pa.timestamp("us", tz="UTC"))
    table = pa.table({
        "account_id": _ids("acc_", accounts, 6),
        "name": _ids("Company ", accounts, 6),
        "created_at": pc.strftime(created.cast(pa.timestamp("s", tz="UTC")), format="%Y-%m-%dT%H:%M:%SZ"),
        "industry": pa.array(INDUSTRIES).take(pa.array(rng.integers(0, len(INDUSTRIES), accounts))),
        "country": pa.array(COUNTRIES).take(pa.array(rng.integers(0, len(COUNTRIES), accounts))),
        "employees": pa.array(rng.lognormal(4.0, 1.5, accounts).astype(np.int64) + 1),
    })
    pacsv.write_csv(table, path)


def write_contacts(path: Path, accounts: int) -> None:
    n = accounts * CONTACTS_PER_ACCOUNT
    rng = np.random.default_rng([SEED, 2])
    ids = _ids("con_", n, 7)
    table = pa.table({
        "contact_id": ids,
        "account_id": _ids("acc_", accounts, 6).take(pa.array(np.arange(n) // CONTACTS_PER_ACCOUNT)),
        "email": pc.binary_join_element_wise(ids, "@example.com", ""),
        "role": pa.array(ROLES).take(pa.array(rng.integers(0, len(ROLES), n))),
    })
    pacsv.write_csv(table, path)


@dataclass
class Inputs:
    accounts: Path
    contacts: Path
    events: dict[str, Path]


def prepare_inputs(tmp: Path, formats: list[str], rows: int, accounts: int, reuse: bool) -> Inputs:
    stem = f"v{GEN_VERSION}-{accounts}"
    inputs = Inputs(tmp / f"accounts-{stem}.csv", tmp / f"contacts-{stem}.csv",
                    {fmt: tmp / f"events-{stem}-{rows}.{fmt}" for fmt in formats})
    for path, write in ((inputs.accounts, write_accounts), (inputs.contacts, write_contacts)):
        if not (reuse and path.exists()):
            write(path, accounts)
    for fmt, path in inputs.events.items():
        if reuse and path.exists():
            print(f"  reusing {path} ({_mib(path.stat().st_size)})", flush=True)
            continue
        began = time.perf_counter()
        write_events(path, fmt, rows, accounts)
        print(f"  generated {path} ({_mib(path.stat().st_size)}) in {time.perf_counter() - began:.1f} s", flush=True)
    return inputs


# ---------------------------------------------------------------- child processes (one per measurement)


def _peak_rss() -> int:
    """Peak resident set size of this process in bytes.

    On Linux this is VmHWM from /proc/self/status, not getrusage's ru_maxrss: Linux carries the
    parent's high-water mark across fork+exec into the child's ru_maxrss (a child of a parent that
    once held 800 MiB reports >= 800 MiB even if it never used 10), which would charge the file
    generation in the parent to the load being measured.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return int(peak if sys.platform == "darwin" else peak * 1024)


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def child_load(workspace: Path, path: Path) -> dict[str, Any]:
    from longtail.ingest.loader import load_files
    from longtail.settings import open_workspace

    ws = open_workspace(workspace)
    last_chunk = [0.0]
    stream_peak = [0]

    def progress(_path: Path, _fraction: float, _rows: int) -> None:
        last_chunk[0] = time.perf_counter()
        stream_peak[0] = _peak_rss()  # high-water mark so far: after the last chunk, the streaming phase's peak

    cpu0, began = _cpu_seconds(), time.perf_counter()
    result = load_files(ws, "events", [path], now=NOW, progress=progress)
    ended = time.perf_counter()
    stream_end = last_chunk[0] or ended
    return {
        "read": result.read, "loaded": result.loaded, "rejected": result.rejected,
        "rejects_file": str(result.rejects_file) if result.rejects_file else None,
        "seconds": ended - began, "stream_seconds": stream_end - began, "compact_seconds": ended - stream_end,
        "cpu_seconds": _cpu_seconds() - cpu0, "peak_rss": _peak_rss(), "stream_peak_rss": stream_peak[0],
    }


def child_floor(fmt: str, path: Path) -> dict[str, Any]:
    cpu0, began = _cpu_seconds(), time.perf_counter()
    rows = 0
    if fmt == "csv":
        with path.open(newline="", encoding="utf-8") as fh:
            columns = next(csv.reader(fh))
        reader = pacsv.open_csv(path, convert_options=pacsv.ConvertOptions(
            column_types={c: pa.string() for c in columns}))
        for batch in reader:
            rows += batch.num_rows
    else:
        pf = pq.ParquetFile(path)
        for batch in pf.iter_batches(batch_size=PARQUET_BATCH):
            rows += batch.num_rows
        pf.close()
    ended = time.perf_counter()
    return {"read": rows, "loaded": rows, "rejected": 0, "seconds": ended - began,
            "cpu_seconds": _cpu_seconds() - cpu0, "peak_rss": _peak_rss()}


def run_child(*args: str) -> dict[str, Any]:
    """Run this script as a child measurement; its last stdout line starting with RESULT is the answer."""
    proc = subprocess.run([sys.executable, __file__, "--child", *args], stdout=subprocess.PIPE, text=True,
                          check=False)
    results = [line for line in proc.stdout.splitlines() if line.startswith(RESULT)]
    if proc.returncode != 0 or not results:
        raise ChildFailed(f"child {' '.join(args)} exited with status {proc.returncode}")
    return dict(json.loads(results[-1][len(RESULT):]))


class ChildFailed(RuntimeError):
    pass


# ---------------------------------------------------------------- the benchmark


def _mib(n: float) -> str:
    return f"{n / (1 << 20):,.0f} MiB"


def fresh_workspace(root: Path, inputs: Inputs) -> Path:
    from longtail.ingest.loader import load_files
    from longtail.settings import init_workspace

    if root.exists():
        shutil.rmtree(root)
    ws = init_workspace(root)
    for kind, path in (("accounts", inputs.accounts), ("contacts", inputs.contacts)):
        result = load_files(ws, kind, [path], now=NOW)
        if result.rejected:
            raise ChildFailed(f"setup: {result.rejected} {kind} rejected (see {result.rejects_file})")
    return root


def _rejects_sample(path: str | None) -> str:
    if not path or not Path(path).exists():
        return ""
    with open(path, encoding="utf-8") as fh:
        return "".join(line for _, line in zip(range(6), fh, strict=False))


def measure(fmt: str, path: Path, tmp: Path, inputs: Inputs, rows: int) -> dict[str, Any]:
    print(f"\nevents.{fmt}: {rows:,} rows, {_mib(path.stat().st_size)} on disk", flush=True)
    floor = run_child("floor", fmt, str(path))
    workspace = fresh_workspace(tmp / f"ws-{fmt}", inputs)
    load = run_child("load", str(workspace), str(path))
    shutil.rmtree(workspace, ignore_errors=True)
    ok = load["loaded"] == rows and load["rejected"] == 0 and floor["read"] == rows
    rate, floor_rate = rows / load["seconds"], rows / floor["seconds"]
    figures = {
        "format": fmt, "rows": rows, "ok": ok, "rate": rate, "floor_rate": floor_rate, "ratio": rate / floor_rate,
        "peak_rss": load["peak_rss"], "floor_peak_rss": floor["peak_rss"], **{f"load_{k}": v for k, v in load.items()},
    }
    target = TARGETS[fmt]
    print(f"  longtail rows/s  {rate:>12,.0f}   ({load['seconds']:.1f} s wall = {load['stream_seconds']:.1f} s "
          f"read/validate/land + {load['compact_seconds']:.1f} s compact; {load['cpu_seconds']:.1f} s CPU)")
    how = "pyarrow.csv.open_csv, all strings" if fmt == "csv" else "ParquetFile.iter_batches"
    print(f"  floor rows/s     {floor_rate:>12,.0f}   ({floor['seconds']:.1f} s wall, "
          f"{floor['cpu_seconds']:.1f} s CPU; {how})")
    print(f"  ratio            {rate / floor_rate:>12.3f}")
    print(f"  peak RSS         {_mib(load['peak_rss']):>12}   (floor process: {_mib(floor['peak_rss'])}; "
          f"budget {_mib(MEMORY_BUDGET)}{', OVER BUDGET' if load['peak_rss'] > MEMORY_BUDGET else ''})")
    print(f"  peak RSS phases  {_mib(load['stream_peak_rss']):>12}   by the end of read/validate/land; "
          f"{'compaction raised it' if load['peak_rss'] > load['stream_peak_rss'] else 'compaction did not raise it'}")
    print(f"  issue target     {target:>12,} rows/s (informational; {'met' if rate >= target else 'not met'} "
          f"on this run)")
    if not ok:
        print(f"  FAIL: events.{fmt}: expected {rows:,} rows loaded and 0 rejected; got loaded={load['loaded']:,} "
              f"read={load['read']:,} rejected={load['rejected']:,} (floor read {floor['read']:,})", flush=True)
        sample = _rejects_sample(load.get("rejects_file"))
        if sample:
            print(f"  first rejects ({load['rejects_file']}):\n" + sample, end="")
    return figures


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    ap.add_argument("--rows", type=int, default=None, help=f"events per file (default {DEFAULT_ROWS:,}; "
                    f"{QUICK_ROWS:,} with --quick)")
    ap.add_argument("--accounts", type=int, default=10_000, help="accounts referenced by the events (default 10,000)")
    ap.add_argument("--format", choices=["csv", "parquet", "both"], default="both")
    ap.add_argument("--tmp", type=Path, default=None,
                    help="work folder; generated files are kept there and reused (default: a temporary folder)")
    ap.add_argument("--quick", action="store_true", help=f"smoke run with {QUICK_ROWS:,} rows")
    ap.add_argument("--json", type=Path, default=None, help="also write the figures to this JSON file")
    args = ap.parse_args(argv)
    if args.rows is None:
        args.rows = QUICK_ROWS if args.quick else DEFAULT_ROWS
    if args.rows < 1 or args.accounts < 1:
        ap.error("--rows and --accounts must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    formats = ["csv", "parquet"] if args.format == "both" else [args.format]
    own_tmp = args.tmp is None
    tmp = Path(tempfile.mkdtemp(prefix="longtail-bench-")) if own_tmp else args.tmp.resolve()
    tmp.mkdir(parents=True, exist_ok=True)
    load1, load5, _ = os.getloadavg()
    print(f"bench_load: {args.rows:,} events, {args.accounts:,} accounts, formats {', '.join(formats)}; "
          f"{os.cpu_count()} CPUs, load average {load1:.2f}/{load5:.2f}; python {sys.version.split()[0]}, "
          f"pyarrow {pa.__version__}", flush=True)
    failed = False
    results = []
    try:
        inputs = prepare_inputs(tmp, formats, args.rows, args.accounts, reuse=not own_tmp)
        for fmt in formats:
            try:
                figures = measure(fmt, inputs.events[fmt], tmp, inputs, args.rows)
            except ChildFailed as exc:
                print(f"  FAIL: events.{fmt}: {exc}", flush=True)
                failed = True
                continue
            results.append(figures)
            failed = failed or not figures["ok"]
    finally:
        if own_tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    print("\nformat   rows          longtail rows/s  floor rows/s  ratio   peak RSS")
    for r in results:
        print(f"{r['format']:<8} {r['rows']:<13,} {r['rate']:>15,.0f} {r['floor_rate']:>13,.0f} {r['ratio']:>6.3f} "
              f"{_mib(r['peak_rss']):>10}{'' if r['ok'] else '  FAIL'}")
    if args.json:
        args.json.write_text(json.dumps({"date": datetime.now(UTC).isoformat(timespec="seconds"),
                                         "load_average": [load1, load5], "results": results}, indent=2))
    if failed:
        print("bench_load: FAIL (rows lost, rejected or a measurement crashed; see above)", flush=True)
        return 1
    return 0


def child_main(argv: list[str]) -> int:
    what, *rest = argv
    if what == "load":
        result = child_load(Path(rest[0]), Path(rest[1]))
    elif what == "floor":
        result = child_floor(rest[0], Path(rest[1]))
    else:
        raise SystemExit(f"unknown child measurement {what!r}")
    print(RESULT + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        sys.exit(child_main(sys.argv[2:]))
    sys.exit(main())
