"""Benchmark: features + health for one as-of date and for a 52-date weekly history against a one-pass DuckDB
floor, with peak memory (issue 4's targets).

    .venv/bin/python benchmarks/bench_features.py                      # 1M accounts, 100M events
    .venv/bin/python benchmarks/bench_features.py --quick              # 20k accounts, 1M events, 4 dates
    .venv/bin/python benchmarks/bench_features.py --accounts 100000 --events 10000000 --tmp /tmp/lt-feat
    .venv/bin/python benchmarks/bench_features.py --quick --history-dates 0   # skip the history

The parent process generates the data as Parquet with DuckDB (`range()` + `hash()`, cached in --tmp
when given): accounts, 5 contacts per account (roles cycle through the contract's roles), one or two
subscriptions, tickets, NPS/CSAT responses and events (30 event names, uniform over the 365 days before
the as-of date, every event with a contact). Each measurement runs in its own child process, so its
peak RSS belongs to it alone:

    floor     one DuckDB SQL pass over the events: per-account counts over 28 and 90 days
    features  one date as `longtail score --as-of` computes it: longtail.core.features.feature_table
              (standard set, building and compiling the Ibis expression included) fetched to Arrow, then
              health: the customers scored with the built-in scorecards and stored (`score_day`, into a fresh
              workspace under the data folder). Both parts are printed, and their sum is the ratio.
    history   --history-dates weekly dates ending with the as-of date (52 by default), oldest first, as
              `longtail score --from --to --every 7d` does it: the feature tables as one series
              (`feature_series`: last activity and milestones carried from date to date as temporary
              tables, so each event is read once for them), and per date health scored with the previous
              date's stored state (hysteresis) and stored. (`feature_history`, which stacks the tables in
              memory for model training, costs the same per date plus ~0.4 GiB per million rows.)

Each prints wall seconds and CPU seconds of that step (all threads; the machines are shared, CPU time is
the steadier figure) and the peak RSS of the child process (VmHWM from /proc/self/status: on Linux
ru_maxrss carries the generating parent's peak across fork+exec).

`ratio` = seconds / floor seconds (the issue's targets: features + health within 2x, the 52-date history
within 10x, peak RSS under 8 GiB). Wall-clock figures are never asserted; the script exits 1 only when a result
is wrong (more rows than accounts, events_90d disagreeing with the floor's 90-day count, a red account without
reasons, or the history's table of the as-of date differing from the one-date table: compared by a
SHA-256 of each column's nulls and null-filled values, `_digest`).
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

DEFAULT_ACCOUNTS = 1_000_000
DEFAULT_EVENTS = 100_000_000
QUICK_ACCOUNTS = 20_000
QUICK_EVENTS = 1_000_000
AS_OF = date(2026, 6, 30)
GEN_VERSION = 1
RESULT = "BENCH-RESULT "
TARGET_RATIO = 2.0
HISTORY_TARGET_RATIO = 10.0
HISTORY_DATES = 52
QUICK_HISTORY_DATES = 4
MEMORY_BUDGET = 8 << 30
EVENT_NAMES = [
    "login", "project_created", "document_edited", "file_uploaded", "comment_added", "task_completed",
    "search_performed", "dashboard_created", "automation_created", "workflow_run", "api_call", "template_used",
    "data_exported", "integration_synced", "settings_updated", "role_assigned", "sso_configured",
    "billing_updated", "report_created", "report_viewed", "invite_accepted", "integration_connected",
    "user_invited", "report_shared", "onboarding_milestone", "license_usage", "page_view", "export_pdf",
    "alert_created", "query_run",
]
ROLES = ["admin", "champion", "power_user", "exec_sponsor", "billing", "user"]


def generate(folder: Path, accounts: int, events: int) -> None:
    import duckdb

    stamp = folder / "stamp.json"
    want = {"version": GEN_VERSION, "accounts": accounts, "events": events, "as_of": AS_OF.isoformat()}
    if stamp.is_file() and json.loads(stamp.read_text()) == want:
        print(f"using cached data in {folder}", flush=True)
        return
    folder.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    con.execute("SET preserve_insertion_order = false")
    end = f"TIMESTAMPTZ '{AS_OF.isoformat()} 23:59:59+00'"
    names = "[" + ", ".join(f"'{n}'" for n in EVENT_NAMES) + "]"
    roles = "[" + ", ".join(f"'{r}'" for r in ROLES) + "]"
    began = time.perf_counter()
    con.execute(f"""COPY (
        SELECT 'a' || i AS account_id, 'Account ' || i AS name,
               TIMESTAMPTZ '2023-01-01 00:00:00+00' + to_days((hash(i) % 1200)::INTEGER) AS created_at,
               NULL::VARCHAR AS industry, NULL::VARCHAR AS country, (hash(i + 1) % 500)::BIGINT AS employees,
               NULL::VARCHAR AS parent_account_id, NULL::VARCHAR AS attributes
        FROM range({accounts}) t(i)) TO '{folder}/accounts.parquet' (FORMAT parquet)""")
    con.execute(f"""COPY (
        SELECT 'c' || j AS contact_id, 'a' || (j // 5) AS account_id, NULL::VARCHAR AS email,
               NULL::VARCHAR AS name, {roles}[((j % 6) + 1)::BIGINT] AS role, NULL::VARCHAR AS title,
               NULL::VARCHAR AS timezone, NULL::TIMESTAMPTZ AS created_at, NULL::VARCHAR AS attributes
        FROM range({accounts * 5}) t(j)) TO '{folder}/contacts.parquet' (FORMAT parquet)""")
    con.execute(f"""COPY (
        SELECT 's' || k AS subscription_id, 'a' || (k % {accounts}) AS account_id, 'pro' AS plan,
               (DATE '{AS_OF.isoformat()}' - 400 + (hash(k) % 300)::INTEGER) AS start_date,
               (DATE '{AS_OF.isoformat()}' - 30 + (hash(k + 5) % 400)::INTEGER) AS end_date,
               (50 + hash(k + 9) % 5000)::DOUBLE AS mrr, NULL::DOUBLE AS arr,
               (1 + hash(k + 11) % 100)::BIGINT AS quantity, 'USD' AS currency, NULL::VARCHAR AS attributes
        FROM range({accounts * 3 // 2}) t(k)) TO '{folder}/subscriptions.parquet' (FORMAT parquet)""")
    con.execute(f"""COPY (
        SELECT 't' || k AS ticket_id, 'a' || (hash(k) % {accounts}) AS account_id,
               {end} - to_microseconds((hash(k + 1) % 31536000000000)::BIGINT) AS opened_at,
               CASE WHEN k % 10 = 0 THEN NULL
                    ELSE {end} - to_microseconds((hash(k + 1) % 31536000000000)::BIGINT)
                         + to_microseconds((hash(k + 2) % 864000000000)::BIGINT) END AS closed_at,
               ['low', 'normal', 'high', 'urgent'][((k % 4) + 1)::BIGINT] AS priority, 'closed' AS status,
               NULL::DOUBLE AS csat, NULL::VARCHAR AS attributes
        FROM range({accounts}) t(k)) TO '{folder}/tickets.parquet' (FORMAT parquet)""")
    con.execute(f"""COPY (
        SELECT 'r' || k AS response_id, 'a' || (hash(k) % {accounts}) AS account_id, NULL::VARCHAR AS contact_id,
               {end} - to_microseconds((hash(k + 1) % 31536000000000)::BIGINT) AS ts,
               CASE WHEN k % 3 = 0 THEN 'csat' ELSE 'nps' END AS kind,
               (hash(k + 2) % 11)::DOUBLE AS score, NULL::VARCHAR AS comment, NULL::VARCHAR AS attributes
        FROM range({accounts}) t(k)) TO '{folder}/surveys.parquet' (FORMAT parquet)""")
    con.execute(f"""COPY (
        SELECT 'e' || i AS event_id, 'a' || a AS account_id, 'c' || (a * 5 + hash(i + 1) % 5) AS contact_id,
               {names}[((hash(i + 2) % {len(EVENT_NAMES)}) + 1)::BIGINT] AS event,
               {end} - to_microseconds((hash(i + 3) % 31536000000000)::BIGINT) AS ts,
               NULL::DOUBLE AS value, NULL::VARCHAR AS properties
        FROM (SELECT i, hash(i) % {accounts} AS a FROM range({events}) t(i)))
        TO '{folder}/events.parquet' (FORMAT parquet, ROW_GROUP_SIZE 1000000)""")
    con.close()
    stamp.write_text(json.dumps(want))
    print(f"generated {accounts:,} accounts and {events:,} events in {time.perf_counter() - began:.1f} s", flush=True)


def _peak_rss() -> float:
    """The process's high-water RSS in bytes: VmHWM where /proc exists (ru_maxrss is inherited across exec)."""
    status = Path("/proc/self/status")
    if status.is_file():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return float(line.split()[1]) * 1024.0
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024.0


def _usage(cpu_began: float) -> dict[str, float]:
    """CPU seconds of the measured step (all threads) and the peak RSS of the whole child process."""
    return {"cpu_s": time.process_time() - cpu_began, "peak_rss": _peak_rss()}


def child_floor(folder: Path, memory_limit: str) -> dict[str, Any]:
    import duckdb

    con = duckdb.connect()
    con.execute(f"SET memory_limit = '{memory_limit}'")
    con.execute("SET preserve_insertion_order = false")
    began, cpu_began = time.perf_counter(), time.process_time()
    s28 = f"TIMESTAMPTZ '{date.fromordinal(AS_OF.toordinal() - 27)} 00:00:00+00'"
    s90 = f"TIMESTAMPTZ '{date.fromordinal(AS_OF.toordinal() - 89)} 00:00:00+00'"
    end = f"TIMESTAMPTZ '{date.fromordinal(AS_OF.toordinal() + 1)} 00:00:00+00'"
    table = con.execute(f"""
        SELECT account_id, count(*) FILTER (WHERE ts >= {s28}) AS n28, count(*) FILTER (WHERE ts >= {s90}) AS n90
        FROM read_parquet('{folder}/events.parquet') WHERE ts < {end} GROUP BY account_id""").fetch_arrow_table()
    seconds = time.perf_counter() - began
    total90 = int(table.column("n90").to_numpy().sum())
    return {"seconds": seconds, "rows": table.num_rows, "total90": total90, **_usage(cpu_began)}


def _feature_inputs(folder: Path, memory_limit: str) -> tuple[Any, Any, Any]:
    """An Ibis DuckDB connection, the contract's tables read from the Parquet files, the standard feature set."""
    import ibis

    from longtail.core.features import AnalyticTables, load_feature_defs

    con = ibis.duckdb.connect()
    con.raw_sql(f"SET memory_limit = '{memory_limit}'")
    con.raw_sql("SET preserve_insertion_order = false")
    tables = AnalyticTables(**{k: con.read_parquet(str(folder / f"{k}.parquet")) for k in (
        "events", "accounts", "subscriptions", "contacts", "tickets", "surveys")})
    return con, tables, load_feature_defs(None)


def _health(table: Any, day: date, ws: Any) -> dict[str, Any]:
    """What `longtail score` does after the features: score the customers with the built-in scorecards (previous
    state read from the store) and store the day's results (Parquet). Returns its seconds, CPU and count."""
    from longtail.analytics.health_run import score_day
    from longtail.core.health import default_scorecards

    began, cpu_began = time.perf_counter(), time.process_time()
    scores = score_day(ws, day, default_scorecards(), features=table)
    seconds, cpu = time.perf_counter() - began, time.process_time() - cpu_began
    return {"seconds": seconds, "cpu_s": cpu, "scored": scores.num_rows}


def _health_check(health: dict[str, Any], day: date, ws: Any) -> dict[str, Any]:
    """`health` with what the store holds for the day: rows, red accounts, red accounts without reasons (read
    after every timing, so no figure includes it)."""
    import pyarrow.compute as pc

    from longtail.analytics import health_store

    stored = health_store.read_day(ws, day, columns=["band", "reasons"])
    red = stored.filter(pc.equal(stored.column("band"), "red"))
    silent = int(pc.sum(pc.equal(pc.fill_null(pc.list_value_length(red.column("reasons")), 0), 0)).as_py() or 0)
    return {**health, "stored": stored.num_rows, "red": red.num_rows, "red_without_reasons": silent}


def _workspace(folder: Path) -> Any:
    """A fresh workspace next to the data (health results are stored in it; removed first)."""
    from longtail.analytics import health_run  # noqa: F401  (imported here so that no timing includes it)
    from longtail.settings import init_workspace

    root = folder / "workspace"
    shutil.rmtree(root, ignore_errors=True)
    return init_workspace(root)


def child_features(folder: Path, memory_limit: str) -> dict[str, Any]:
    """One date as `longtail score --as-of` computes it: the feature table, then health scored and stored."""
    import pyarrow.compute as pc

    from longtail.core.features import feature_table

    con, tables, defs = _feature_inputs(folder, memory_limit)
    ws = _workspace(folder)
    began, cpu_began = time.perf_counter(), time.process_time()
    table = con.to_pyarrow(feature_table(tables, AS_OF, defs))
    features_s, features_cpu = time.perf_counter() - began, time.process_time() - cpu_began
    health = _health(table, AS_OF, ws)
    seconds, usage = time.perf_counter() - began, _usage(cpu_began)
    total90 = int(pc.sum(table.column("events_90d")).as_py() or 0)
    return {"seconds": seconds, "rows": table.num_rows, "columns": table.num_columns, "total90": total90,
            "digest": _digest(table),
            "features_s": features_s, "features_cpu_s": features_cpu, "health": _health_check(health, AS_OF, ws),
            **usage}


def _digest(table: Any) -> str:
    """SHA-256 of the table's schema, and per column of where it is null and of its values with the nulls filled:
    equal tables (same rows in the same order) hash alike. (Not the IPC bytes as they are: what lies under a
    null slot is undefined, so two equal tables can differ there.)"""
    import hashlib

    import pyarrow as pa
    import pyarrow.compute as pc

    digest = hashlib.sha256(str(table.schema).encode())
    for name in table.column_names:
        column = table.column(name).combine_chunks()
        digest.update(pc.is_null(column).to_numpy(zero_copy_only=False).tobytes())
        filler = pa.scalar("" if pa.types.is_string(column.type) else 0, column.type)
        filled = pc.fill_null(column, filler)
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, pa.schema([(name, column.type)])) as writer:
            writer.write_table(pa.table({name: filled}))
        digest.update(sink.getvalue().to_pybytes())
    return digest.hexdigest()


def history_dates(count: int) -> list[date]:
    """`count` dates 7 days apart, the last being the as-of date (`--from`/`--to`/`--every 7d`)."""
    return [date.fromordinal(AS_OF.toordinal() - 7 * i) for i in reversed(range(count))]


def child_history(folder: Path, memory_limit: str, count: int) -> dict[str, Any]:
    """What `longtail score --from --to --every 7d` does: the feature tables as one series, oldest first, and per
    date health scored (with the previous date's state: hysteresis) and stored. Between dates only the store and
    the series' state (temporary tables) are kept."""
    import pyarrow.compute as pc

    from longtail.analytics.features import feature_series

    con, tables, defs = _feature_inputs(folder, memory_limit)
    ws = _workspace(folder)
    began, cpu_began = time.perf_counter(), time.process_time()
    rows = 0
    features_cpu = health_cpu = 0.0
    last: dict[str, Any] = {}
    series = feature_series(con, tables, history_dates(count), defs)
    while True:
        cpu = time.process_time()
        item = next(series, None)
        features_cpu += time.process_time() - cpu
        if item is None:
            break
        day, table = item
        health = _health(table, day, ws)
        health_cpu += health["cpu_s"]
        rows += table.num_rows
        last = {"table": table, "health": health, "day": day}
    seconds, usage = time.perf_counter() - began, _usage(cpu_began)
    if last:  # checked after the timing
        last = {"last_rows": last["table"].num_rows, "last_digest": _digest(last["table"]),
                "last_total90": int(pc.sum(last["table"].column("events_90d")).as_py() or 0),
                "last_health": _health_check(last["health"], last["day"], ws)}
    return {"seconds": seconds, "rows": rows, "dates": count, "features_cpu_s": features_cpu,
            "health_cpu_s": health_cpu, **last, **usage}


def run_child(which: str, folder: Path, memory_limit: str, history: int = HISTORY_DATES) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child", which, "--tmp", str(folder), "--memory-limit", memory_limit,
           "--history-dates", str(history)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    for line in proc.stdout.splitlines():
        if line.startswith(RESULT):
            result: dict[str, Any] = json.loads(line[len(RESULT):])
            return result
    raise RuntimeError(f"{which} child failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help=f"{QUICK_ACCOUNTS:,} accounts, {QUICK_EVENTS:,} events")
    ap.add_argument("--accounts", type=int, default=None)
    ap.add_argument("--events", type=int, default=None)
    ap.add_argument("--tmp", type=Path, default=None, help="keep (and reuse) the generated data here")
    ap.add_argument("--memory-limit", default="6GB", help="DuckDB memory_limit for both measurements")
    ap.add_argument("--repeat", type=int, default=1, help="measure each side this many times; report the best")
    ap.add_argument("--history-dates", type=int, default=None,
                    help=f"weekly dates of the history measurement (0 skips it; default {HISTORY_DATES}, "
                         f"{QUICK_HISTORY_DATES} with --quick)")
    ap.add_argument("--child", choices=["floor", "features", "history"], help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.history_dates is None:
        args.history_dates = QUICK_HISTORY_DATES if args.quick else HISTORY_DATES
    if args.history_dates < 0:
        ap.error("--history-dates must be 0 or more")
    if args.child:
        if args.child == "history":
            result = child_history(args.tmp, args.memory_limit, args.history_dates)
        else:
            result = (child_floor if args.child == "floor" else child_features)(args.tmp, args.memory_limit)
        print(RESULT + json.dumps(result), flush=True)
        return 0
    accounts = args.accounts or (QUICK_ACCOUNTS if args.quick else DEFAULT_ACCOUNTS)
    events = args.events or (QUICK_EVENTS if args.quick else DEFAULT_EVENTS)
    folder = args.tmp or Path(tempfile.mkdtemp(prefix="lt-bench-features-"))
    try:
        generate(folder, accounts, events)
        floors = [run_child("floor", folder, args.memory_limit) for _ in range(args.repeat)]
        feats = [run_child("features", folder, args.memory_limit) for _ in range(args.repeat)]
        hist = (run_child("history", folder, args.memory_limit, args.history_dates)
                if args.history_dates else None)
    finally:
        if args.tmp is None:
            shutil.rmtree(folder, ignore_errors=True)
    floor = min(floors, key=lambda r: r["seconds"])
    feat = min(feats, key=lambda r: r["seconds"])
    ratio = feat["seconds"] / floor["seconds"]
    cpu_ratio = feat["cpu_s"] / max(floor["cpu_s"], 1e-9)
    gib = 1 << 30
    print(f"accounts {accounts:,}  events {events:,}  as_of {AS_OF}  memory_limit {args.memory_limit}")
    print(f"  floor      {floor['seconds']:8.2f} s  cpu {floor['cpu_s']:8.2f} s  peak RSS "
          f"{floor['peak_rss'] / gib:5.2f} GiB")
    print(f"  one date   {feat['seconds']:8.2f} s  cpu {feat['cpu_s']:8.2f} s  peak RSS "
          f"{feat['peak_rss'] / gib:5.2f} GiB")
    print(f"   features  {feat['features_s']:8.2f} s  cpu {feat['features_cpu_s']:8.2f} s  "
          f"({feat['features_cpu_s'] / max(floor['cpu_s'], 1e-9):.2f}x cpu)")
    print(f"   health    {feat['health']['seconds']:8.2f} s  cpu {feat['health']['cpu_s']:8.2f} s  "
          f"({feat['health']['scored']:,} customers scored and stored, {feat['health']['red']:,} red)")
    print(f"  ({floor['rows']:,} accounts with events; feature table {feat['rows']:,} rows x "
          f"{feat['columns']} columns)")
    print(f"  ratio     {ratio:8.2f}x wall, {cpu_ratio:.2f}x cpu (target <= {TARGET_RATIO}x; "
          f"peak RSS target < {MEMORY_BUDGET / gib:.0f} GiB: "
          f"{'ok' if feat['peak_rss'] < MEMORY_BUDGET else 'OVER'})")
    if hist is not None:
        print(f"  history   {hist['seconds']:8.2f} s  cpu {hist['cpu_s']:8.2f} s  peak RSS "
              f"{hist['peak_rss'] / gib:5.2f} GiB  ({hist['dates']} weekly dates, {hist['rows']:,} rows, "
              f"{hist['seconds'] / hist['dates']:.2f} s per date; CPU: features {hist['features_cpu_s']:.1f} s, "
              f"health {hist['health_cpu_s']:.1f} s)")
        print(f"  ratio     {hist['seconds'] / floor['seconds']:8.2f}x wall, "
              f"{hist['cpu_s'] / max(floor['cpu_s'], 1e-9):.2f}x cpu (target <= {HISTORY_TARGET_RATIO:.0f}x "
              f"for 52 dates; peak RSS {'ok' if hist['peak_rss'] < MEMORY_BUDGET else 'OVER'})")
    return 0 if _results_right(accounts, floor, feat, hist) else 1


def _results_right(accounts: int, floor: dict[str, Any], feat: dict[str, Any], hist: dict[str, Any] | None) -> bool:
    """False (with a WRONG line) when a result is wrong, whatever the timings."""
    ok = True
    if feat["rows"] > accounts:
        print(f"WRONG: {feat['rows']:,} feature rows for {accounts:,} accounts", file=sys.stderr)
        ok = False
    # The floor counts every event; events_90d excludes the 2 system event names of the 30 generated
    # (onboarding_milestone, license_usage), so its total is about 28/30 of the floor's.
    if not (0.85 * floor["total90"] <= feat["total90"] <= floor["total90"]):
        print(f"WRONG: events_90d total {feat['total90']:,} vs floor {floor['total90']:,}", file=sys.stderr)
        ok = False
    if feat["health"]["red_without_reasons"]:
        print(f"WRONG: {feat['health']['red_without_reasons']:,} red accounts without reasons", file=sys.stderr)
        ok = False
    if hist is not None and (hist["last_rows"], hist["last_total90"]) != (feat["rows"], feat["total90"]):
        print(f"WRONG: the history's {AS_OF} has {hist['last_rows']:,} rows and events_90d total "
              f"{hist['last_total90']:,}; the one-date table {feat['rows']:,} and {feat['total90']:,}", file=sys.stderr)
        ok = False
    elif hist is not None and hist["last_digest"] != feat["digest"]:
        print(f"WRONG: the history's table of {AS_OF} differs from the one-date table", file=sys.stderr)
        ok = False
    return ok


if __name__ == "__main__":
    sys.exit(main())
