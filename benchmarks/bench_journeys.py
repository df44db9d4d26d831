"""Benchmark: one daily journey tick over 1M active enrollments, against a set-based SQLite floor and the analytic
floor of issue 4.

    .venv/bin/python benchmarks/bench_journeys.py --floor-data /tmp/lt-feat-1m   # 1,000,000 active enrollments
    .venv/bin/python benchmarks/bench_journeys.py             # the same, floor data generated in a temporary folder
    .venv/bin/python benchmarks/bench_journeys.py --quick     # 50,000; floor on 20k accounts, 1M events
    .venv/bin/python benchmarks/bench_journeys.py --enrollments 200000 --profile

Builds (untimed) a workspace on SQLite in a temporary folder with two journeys of the usual shape and N active
enrollments spread over their wait steps, as a daily run leaves them:

    nurture  (normal priority, 10% holdout, goal `health_score >= 80`)
             intro email -> wait 3 d -> branch on `opened` intro -> yes: tips / no: reminder email -> wait 4 d
             -> tips email -> wait 7 d -> exit
    renewal  (high priority, no goal)
             heads-up email -> wait_until `clicked` heads-up (timeout 10 d, then follow-up) / clicked: exit
             -> follow-up email -> wait 14 d -> exit

0.8 N contacts (a fifth of them in both journeys, 4 per account; some billing contacts the policy opts out, some
in New York's quiet hours at the 09:00 UTC tick), the day's account rows (health, 0.5% of accounts churned), 1%
unsubscribed contacts, hard-bounced addresses, and the history a run would have written: one `sent` outbox row and
`sent` engagement event per message already sent, plus opens and clicks. Waits end at a tick uniformly over their
length, so about 19% of the enrollments act today; bulk inserts go through sqlite3 `executemany`.

    ours   one tick as `run_day` does it for journeys: `plan_journeys` (load the active enrollments, suppressions,
           engagement of their messages, `advance` each one, the contact policy over the messages, render every
           email) then `apply_journeys` (store the ticks and their log, enqueue the outbox rows). Nothing is sent.
    floor  ONE SQLite query over the same tables (enrollments LEFT JOIN suppressions, the day's accounts and the
           engagement events): which active enrollments act today and where they end up (exit and its reason, or
           the next wait step), grouped; no Python per row, no rendering, no contact policy, nothing written.
    analytic floor  issue 4's "one DuckDB pass over the events computing per-account counts over 28 and 90 days",
           run as bench_features.py's own `floor` child (analytic_floor.py) on its data: 1M accounts and 100M
           events for the full run, 20k accounts and 1M events with --quick, N accounts and 100 N events with
           --enrollments N. --floor-data DIR reuses (or fills) a bench_features data folder; otherwise it is
           generated in a temporary folder (about 12 minutes at 100M events) and deleted.

Issue 6 asks to "report seconds as a ratio to the analytic floor": `ratio to the analytic floor` = ours / analytic
floor is that figure; `ratio to the hand-written floor` = ours / floor is the stricter one. Both in wall seconds
and CPU seconds (all threads; the machine is shared, CPU time is the steadier figure). Wall-clock figures are
never asserted; the script exits 1 (FAIL line) only when a result is wrong: the tick's outcomes (journey, status,
step, exit reason) differ from the hand-written floor's, the messages planned differ from its count of due
non-holdout email steps, or the database after apply does not hold exactly the planned outbox rows, enrollment
updates and log rows.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import io
import json
import pstats
import resource
import shutil
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from analytic_floor import add_floor_arguments, describe, floor_from_args

DEFAULT_ENROLLMENTS = 1_000_000
QUICK_ENROLLMENTS = 50_000
DAY = date(2026, 3, 4)  # a Wednesday: no weekend quiet hours
TZ = "UTC"
CONTACTS_PER_ACCOUNT = 4
STAMP = "%Y-%m-%d %H:%M:%S.%f"  # how SQLAlchemy stores a DateTime on SQLite (naive UTC)

JOURNEYS_YML = """\
version: 1
journeys:
  - id: nurture
    priority: normal
    holdout_pct: 10
    goal: "health_score >= 80"
    steps:
      - {id: intro, type: email, template: welcome}
      - {id: wait_intro, type: wait, days: 3}
      - {id: opened_intro, type: branch, engaged: opened, step: intro, yes: tips, no: reminder}
      - {id: reminder, type: email, template: webinar_invite}
      - {id: wait_reminder, type: wait, days: 4}
      - {id: tips, type: email, template: we_noticed}
      - {id: wait_tips, type: wait, days: 7}
      - {id: done, type: exit}
  - id: renewal
    priority: high
    steps:
      - {id: heads_up, type: email, template: renewal_value_summary}
      - {id: wait_click, type: wait_until, engaged: clicked, step: heads_up, timeout_days: 10, on_timeout: follow_up}
      - {id: engaged, type: exit}
      - {id: follow_up, type: email, template: we_noticed}
      - {id: wait_follow, type: wait, days: 14}
      - {id: done, type: exit}
"""
# Where an enrollment waits, with the wait's length in days and the steps it has run (message steps send a key).
WAITS: dict[str, list[tuple[int, float, list[str]]]] = {
    "nurture": [(1, 3, ["intro"]), (4, 4, ["intro", "opened_intro", "reminder"]),
                (6, 7, ["intro", "opened_intro", "tips"])],
    "renewal": [(1, 10, ["heads_up"]), (4, 14, ["heads_up", "follow_up"])],
}
SHARES = {"nurture": [0.25, 0.20, 0.55], "renewal": [0.6, 0.4]}
MESSAGE_STEPS = {"intro", "reminder", "tips", "heads_up", "follow_up"}
COLUMNS = {"health_score": "number", "events_28d": "number", "reports_events_28d": "number",
           "active_users_28d": "number", "events_90d": "number", "name": "string"}


def _stamp(value: datetime) -> str:
    return value.astimezone(UTC).strftime(STAMP)


# ---------------------------------------------------------------- set-up (untimed)


@dataclass
class World:
    root: Path
    ws: Any
    engine: Any
    jc: Any
    today: pa.Table
    enrollments: int
    outbox_rows: int
    events: int


def _contacts(n_contacts: int, rng: np.random.Generator) -> list[dict[str, Any]]:
    roles = rng.choice(np.array(["champion", "admin", "user", "billing"]), n_contacts, p=[0.35, 0.3, 0.32, 0.03])
    zones = rng.choice(np.array(["Europe/Berlin", "America/New_York", ""]), n_contacts, p=[0.6, 0.25, 0.15])
    return [{"contact_id": f"c{i}", "account_id": f"a{i // CONTACTS_PER_ACCOUNT}", "email": f"user{i}@example.com",
             "name": f"Person {i}", "first_name": f"Person{i}", "role": str(roles[i]), "timezone": str(zones[i])}
            for i in range(n_contacts)]


def _today(n_accounts: int, rng: np.random.Generator) -> pa.Table:
    """The day's account rows; 0.5% of accounts are absent (no longer customers)."""
    present = np.flatnonzero(rng.random(n_accounts) >= 0.005)
    m = len(present)
    return pa.table({
        "account_id": pa.array([f"a{i}" for i in present], pa.string()),
        "name": pa.array([f"Account {i}" for i in present], pa.string()),
        "health_score": np.clip(rng.normal(55, 12, m), 0, 100).round(1),
        "events_28d": rng.integers(0, 500, m), "reports_events_28d": rng.integers(0, 60, m),
        "active_users_28d": rng.integers(1, 40, m), "events_90d": rng.integers(0, 1500, m),
    })


def _write_workspace(root: Path) -> Any:
    from longtail.settings import init_workspace, open_workspace

    init_workspace(root, timezone=TZ)
    examples = Path(__file__).resolve().parent.parent / "src" / "longtail" / "examples"
    (root / "motion" / "journeys").mkdir(parents=True, exist_ok=True)
    (root / "motion" / "journeys" / "bench.yml").write_text(JOURNEYS_YML, encoding="utf-8")
    shutil.copytree(examples / "templates", root / "motion" / "templates", dirs_exist_ok=True)
    shutil.copy(examples / "motion" / "contact_policy.yml", root / "motion" / "contact_policy.yml")
    return open_workspace(root)


def _enrollment_rows(n: int, now: datetime, salt: str, rng: np.random.Generator
                     ) -> tuple[list[tuple[Any, ...]], list[tuple[str, str, str, str, str]]]:
    """Enrollment rows, and (key, contact, account, journey, sent at) of every message they already sent."""
    from longtail.core.journeys.engine import bucket, enrollment_id, step_message_key

    n_nurture = int(n * 0.6)
    # Contacts 0 .. 0.6n are in nurture, 0.4n .. 0.8n in renewal: a fifth of the contacts are in both journeys.
    first_renewal = int(n * 0.8) - (n - n_nurture)
    plan = [("nurture", j) for j in range(n_nurture)] + [("renewal", first_renewal + j) for j in range(n - n_nurture)]
    where = np.concatenate([rng.choice(len(SHARES[j]), count, p=SHARES[j])
                            for j, count in (("nurture", n_nurture), ("renewal", n - n_nurture))])
    ahead = rng.random(n)  # where in its wait each enrollment is
    before = rng.integers(3, 11, n)  # days between entry and the current wait for a later wait step
    stamp = lru_cache(maxsize=None)(_stamp)  # every instant is a whole number of days from the tick
    rows: list[tuple[Any, ...]] = []
    sent_messages: list[tuple[str, str, str, str, str]] = []
    held: dict[str, bool] = {}
    for i, (journey, contact) in enumerate(plan):
        step, days, ran = WAITS[journey][where[i]]
        # The wait ends at a tick 0 .. days-1 days from today, so 1/days of them are due now (the daily rate).
        until = now + timedelta(days=int(ahead[i] * days))
        reached = until - timedelta(days=days)
        entered = reached - timedelta(days=int(before[i]) if step > 1 else 0)
        contact_id = f"c{contact}"
        account_id = f"a{contact // CONTACTS_PER_ACCOUNT}"
        eid = enrollment_id(journey, contact_id, entered)
        if journey == "nurture" and account_id not in held:
            held[account_id] = bucket(salt, "holdout", journey, account_id) < 10
        holdout = journey == "nurture" and held[account_id]
        sent = {s: step_message_key(eid, s, 1) for s in ran if s in MESSAGE_STEPS}
        rows.append((eid, journey, account_id, contact_id, stamp(entered), int(holdout), step, "active",
                     stamp(until), None, stamp(reached), json.dumps({s: 1 for s in ran}), json.dumps(sent), None))
        if not holdout:
            # The first message went out at entry, a second one when the current wait began.
            sent_messages += [(key, contact_id, account_id, journey, stamp(reached if k else entered))
                              for k, key in enumerate(sent.values())]
    return rows, sent_messages


def _history_rows(sent_messages: list[tuple[str, str, str, str, str]], waiting_renewal: set[str],
                  rng: np.random.Generator) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Outbox rows (status sent) and engagement events (sent; 40% opened; 10% clicked) for the sent messages.

    A heads-up whose enrollment still waits for the click was clicked only since the last tick (3%), else a run
    would already have moved it on."""
    outbox: list[tuple[Any, ...]] = []
    events: list[tuple[Any, ...]] = []
    opened = rng.random(len(sent_messages)) < 0.4
    clicked = rng.random(len(sent_messages)) < 0.25
    late_click = rng.random(len(sent_messages)) < 0.03
    for i, (key, contact, account, journey, at) in enumerate(sent_messages):
        payload = json.dumps({"to": f"user{contact[1:]}@example.com", "subject": "sent earlier"})
        mid = "<" + hashlib.sha256(key.encode()).hexdigest()[:32] + "@longtail>"
        outbox.append((key, "email", contact, account, journey, payload, at, "sent", 1, mid, at, at))
        events.append((f"{key}:sent", key, contact, account, "email", "sent", at))
        if opened[i]:
            events.append((f"{key}:opened", key, contact, account, "email", "opened", at))
        click = late_click[i] if key in waiting_renewal else opened[i] and clicked[i]
        if click:
            events.append((f"{key}:clicked", key, contact, account, "email", "clicked", at))
    return outbox, events


def build(root: Path, n: int) -> World:
    from longtail.channels.render import load_workspace_templates
    from longtail.core.journeys.load import load_journeys
    from longtail.runner.journeys import JourneyContext, contact_policy
    from longtail.settings import signing_secret
    from longtail.store.db import make_engine, migrate

    rng = np.random.default_rng(11)
    ws = _write_workspace(root)
    engine = make_engine(ws.database_url)
    migrate(engine)
    now = _now()
    n_contacts = int(n * 0.8)
    contacts = _contacts(n_contacts, rng)
    today = _today(-(-n_contacts // CONTACTS_PER_ACCOUNT), rng)
    rows, sent_messages = _enrollment_rows(n, now, ws.settings.holdout_salt, rng)
    waiting_renewal = {json.loads(r[12])["heads_up"] for r in rows if r[1] == "renewal" and r[6] == 1}
    outbox, events = _history_rows(sent_messages, waiting_renewal, rng)
    unsubscribed = rng.choice(n_contacts, n_contacts // 100, replace=False)
    bounced = rng.choice(n_contacts, n_contacts // 300, replace=False)
    suppressions = [(f"sup_u{i}", f"c{i}", None, "all", "unsubscribed", _stamp(now - timedelta(days=2)))
                    for i in unsubscribed]
    suppressions += [(f"sup_b{i}", None, f"user{i}@example.com", "email", "hard bounce", _stamp(now))
                     for i in bounced]
    db = sqlite3.connect(str(root / ".longtail" / "state.db"))
    # Set-up only: a crash here loses a throw-away database, so skip the fsyncs.
    db.execute("PRAGMA synchronous=OFF")
    db.execute("PRAGMA cache_size=-262144")
    with db:
        db.executemany("INSERT INTO enrollments (enrollment_id, journey_id, account_id, contact_id, entered_at, "
                       "holdout, step, status, wait_until, exit_reason, updated_at, visits, sent, variant) "
                       "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
        db.executemany("INSERT INTO outbox (id, channel, contact_id, account_id, program, payload, due_at, status, "
                       "attempts, message_id, created_at, sent_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", outbox)
        db.executemany("INSERT INTO engagement_events (event_id, message_key, contact_id, account_id, channel, kind, "
                       "at) VALUES (?,?,?,?,?,?,?)", events)
        db.executemany("INSERT INTO suppressions (suppression_id, contact_id, email, channel, reason, created_at) "
                       "VALUES (?,?,?,?,?,?)", suppressions)
        # The day's account rows for the floor query (the tick gets them as an Arrow table, as `run` does).
        db.execute("CREATE TABLE bench_day (account_id TEXT PRIMARY KEY, health_score REAL)")
        db.executemany("INSERT INTO bench_day VALUES (?, ?)", zip(today.column("account_id").to_pylist(),
                                                                   today.column("health_score").to_pylist(),
                                                                   strict=True))
    db.execute("ANALYZE")
    db.close()
    by_account: dict[str, list[str]] = {}
    for c in contacts:
        by_account.setdefault(c["account_id"], []).append(c["contact_id"])
    templates = load_workspace_templates(ws.root)
    journeys = load_journeys([("motion/journeys/bench.yml", JOURNEYS_YML)], COLUMNS, templates=templates)
    # As runner.journeys.journey_context builds it (minus the feature and motion look-ups a bench does not need).
    jc = JourneyContext(journeys, templates, contact_policy(ws), {c["contact_id"]: c for c in contacts}, by_account,
                        signing_secret(ws), ws.settings.public_url, ws.settings.holdout_salt)
    return World(root, ws, engine, jc, today, len(rows), len(outbox), len(events))


def _now() -> datetime:
    from longtail.runner.journeys import tick_instant

    return tick_instant(DAY, TZ)


# ---------------------------------------------------------------- the floor


def _floor_sql(now: str) -> str:
    def engaged(key: str, kind: str) -> str:
        return (f"EXISTS (SELECT 1 FROM engagement_events g WHERE g.message_key = json_extract(e.sent, '$.{key}') "
                f"AND g.kind = '{kind}')")

    clicked = engaged("heads_up", "clicked")
    # The engine's order: exits first (unsubscribed, churned, goal), then a wait that has not ended stays put.
    return f"""
        SELECT e.journey_id, e.holdout,
          CASE
            WHEN EXISTS (SELECT 1 FROM suppressions s WHERE s.contact_id = e.contact_id) THEN 'x|unsubscribed'
            WHEN d.account_id IS NULL THEN 'x|churned'
            WHEN e.journey_id = 'nurture' AND d.health_score >= 80 THEN 'x|goal'
            WHEN e.wait_until > '{now}' AND NOT (e.journey_id = 'renewal' AND e.step = 1 AND {clicked}) THEN NULL
            WHEN e.journey_id = 'nurture' AND e.step = 1 THEN
              CASE WHEN {engaged("intro", "opened")} THEN 'm|6' ELSE 'm|4' END
            WHEN e.journey_id = 'nurture' AND e.step = 4 THEN 'm|6'
            WHEN e.journey_id = 'nurture' AND e.step = 6 THEN 'x|done'
            WHEN e.journey_id = 'renewal' AND e.step = 1 THEN CASE WHEN {clicked} THEN 'x|engaged' ELSE 'm|4' END
            WHEN e.journey_id = 'renewal' AND e.step = 4 THEN 'x|done'
          END AS outcome,
          e.step, count(*) AS n
        FROM enrollments e LEFT JOIN bench_day d ON d.account_id = e.account_id
        WHERE e.status = 'active'
        GROUP BY 1, 2, 3, 4"""


EXIT_REASONS = {"unsubscribed": "exited: the contact unsubscribed", "churned": "exited: the account is no longer "
                "a customer", "goal": "exited: goal reached", "done": "exited: exit step done",
                "engaged": "exited: exit step engaged"}
EXIT_STEPS = {("nurture", "done"): 7, ("renewal", "done"): 5, ("renewal", "engaged"): 2}


def floor(db: Path) -> dict[str, Any]:
    """One set-based query: which enrollments act today and where they end; (journey, status, step, reason) counts
    and the emails due (a non-holdout enrollment that moves on sends exactly one email on the way)."""
    con = sqlite3.connect(str(db))
    began, cpu = time.perf_counter(), time.process_time()
    groups = con.execute(_floor_sql(_stamp(_now()))).fetchall()
    seconds, cpu = time.perf_counter() - began, time.process_time() - cpu
    con.close()
    outcomes: Counter[tuple[str, str, int, str | None]] = Counter()
    emails: Counter[str] = Counter()
    for journey, holdout, outcome, step, count in groups:
        if outcome is None:
            continue
        kind, what = outcome.split("|")
        if kind == "m":
            outcomes[(journey, "active", int(what), None)] += count
            emails[journey] += 0 if holdout else count
        else:
            outcomes[(journey, "exited", EXIT_STEPS.get((journey, what), step), EXIT_REASONS[what])] += count
    return {"seconds": seconds, "cpu_s": cpu, "outcomes": outcomes, "emails": emails,
            "active": sum(g[4] for g in groups)}


# ---------------------------------------------------------------- the tick


def _hwm_reset() -> bool:
    """Reset this process's peak RSS (Linux: writing 5 to clear_refs), so the tick's own peak can be read."""
    try:
        Path("/proc/self/clear_refs").write_text("5", encoding="ascii")
    except OSError:
        return False
    return True


def _peak_mib() -> float:
    status = Path("/proc/self/status")
    if status.is_file():
        for line in status.read_text(encoding="ascii").splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def ours(world: World, profile: bool) -> dict[str, Any]:
    from longtail.runner.journeys import Entries, apply_journeys, plan_journeys

    reset = _hwm_reset()
    profiler = cProfile.Profile() if profile else None
    began, cpu = time.perf_counter(), time.process_time()
    if profiler:
        profiler.enable()
    plan = plan_journeys(world.jc, world.engine, DAY, world.today, want=Entries([]), tz=TZ)
    planned = time.perf_counter()
    inserted, duplicates = apply_journeys(plan, world.engine, DAY, TZ)
    done, cpu = time.perf_counter(), time.process_time() - cpu
    if profiler:
        profiler.disable()
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(30)
        print(out.getvalue())
    outcomes: Counter[tuple[str, str, int, str | None]] = Counter()
    for tick in plan.ticks:
        if tick.trail:
            e = tick.enrollment
            outcomes[(e.journey_id, e.status, e.step, e.exit_reason)] += 1
    return {"seconds": done - began, "cpu_s": cpu, "plan_s": planned - began, "apply_s": done - planned, "plan": plan,
            "outcomes": outcomes, "emails": Counter(m.program for m in plan.messages if m.channel == "email"),
            "inserted": inserted, "duplicates": duplicates, "peak_mib": _peak_mib(), "peak_is_tick": reset}


def stored(db: Path) -> dict[str, int]:
    con = sqlite3.connect(str(db))
    try:
        return {"active": con.execute("SELECT count(*) FROM enrollments WHERE status = 'active'").fetchone()[0],
                "outbox": con.execute("SELECT count(*) FROM outbox").fetchone()[0],
                "log": con.execute("SELECT count(*) FROM enrollment_log").fetchone()[0]}
    finally:
        con.close()


# ---------------------------------------------------------------- main


def check(world: World, before: dict[str, int], after: dict[str, int], got: dict[str, Any],
          fl: dict[str, Any]) -> list[str]:
    problems = []
    if got["outcomes"] != fl["outcomes"]:
        diff = {k: (got["outcomes"].get(k, 0), fl["outcomes"].get(k, 0))
                for k in set(got["outcomes"]) | set(fl["outcomes"]) if got["outcomes"].get(k) != fl["outcomes"].get(k)}
        problems.append(f"tick outcomes differ from the floor's, (ours, floor) by (journey, status, step, reason): "
                        f"{dict(sorted(diff.items(), key=str))}")
    if got["emails"] != fl["emails"]:
        problems.append(f"emails planned {dict(got['emails'])} but the floor finds {dict(fl['emails'])} due")
    changed = sum(got["outcomes"].values())
    exited = sum(n for (_, status, _, _), n in got["outcomes"].items() if status != "active")
    messages = len(got["plan"].messages)
    if fl["active"] != world.enrollments or before["active"] != world.enrollments:
        problems.append(f"{world.enrollments:,} enrollments written, {before['active']:,} active before the tick, "
                        f"the floor read {fl['active']:,}")
    if got["inserted"] != messages or got["duplicates"] or after["outbox"] != before["outbox"] + messages:
        problems.append(f"{messages:,} messages planned, {got['inserted']:,} inserted, {got['duplicates']:,} "
                        f"duplicates, outbox {before['outbox']:,} -> {after['outbox']:,}")
    if after["active"] != before["active"] - exited or after["log"] != before["log"] + changed:
        problems.append(f"after apply: {after['active']:,} active (expected {before['active'] - exited:,}), "
                        f"{after['log']:,} log rows (expected {before['log'] + changed:,})")
    return problems


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help=f"{QUICK_ENROLLMENTS:,} active enrollments")
    ap.add_argument("--enrollments", type=int, default=None)
    ap.add_argument("--profile", action="store_true", help="run the tick under cProfile and print the top 30 "
                    "(the profiler slows it down: the figures are then not comparable)")
    ap.add_argument("--repeat", type=int, default=2, help="measure both floors this many times; report the best")
    add_floor_arguments(ap)
    args = ap.parse_args(argv)
    n = args.enrollments if args.enrollments is not None else QUICK_ENROLLMENTS if args.quick else DEFAULT_ENROLLMENTS
    if n < 100:
        ap.error("--enrollments must be at least 100")
    # Before the set-up, so the floor's child runs while this process holds no workspace.
    analytic = floor_from_args(ap, args, args.enrollments)
    root = Path(tempfile.mkdtemp(prefix="lt-bench-journeys-"))
    try:
        began = time.perf_counter()
        world = build(root / "ws", n)
        print(f"set-up: {n:,} active enrollments, {len(world.jc.contacts):,} contacts, {world.today.num_rows:,} "
              f"accounts, {world.outbox_rows:,} outbox rows, {world.events:,} engagement events in "
              f"{time.perf_counter() - began:.1f} s", flush=True)
        db = root / "ws" / ".longtail" / "state.db"
        floors = [floor(db) for _ in range(max(args.repeat, 1))]
        before = stored(db)
        got = ours(world, args.profile)
        after = stored(db)
        world.engine.dispose()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    fl = min(floors, key=lambda r: r["seconds"])
    plan = got["plan"]
    counts = plan.counts()
    due = sum(got["outcomes"].values())
    verdicts = ", ".join(f"{k.removeprefix('messages_')} {v:,}" for k, v in counts.items()
                         if k.startswith("messages_"))
    wall_a, cpu_a = analytic.ratios(got["seconds"], got["cpu_s"])
    print(f"journey tick: {got['seconds']:.2f} s for {n:,} enrollments (ratio {wall_a:.2f} of the analytic floor "
          f"{analytic.seconds:.2f} s; {got['seconds'] / fl['seconds']:.1f} of the hand-written floor "
          f"{fl['seconds']:.2f} s)")
    print(f"  {describe(analytic)}")
    print(f"  ours   {got['seconds']:8.2f} s  {n / got['seconds']:12,.0f} enrollments/s  (plan {got['plan_s']:.2f} s, "
          f"apply {got['apply_s']:.2f} s; {got['cpu_s']:.1f} CPU-s)")
    print(f"  floor  {fl['seconds']:8.2f} s  {n / fl['seconds']:12,.0f} enrollments/s  (one SQLite query, best of "
          f"{len(floors)}; {fl['cpu_s']:.1f} CPU-s)")
    print(f"  ratio to the analytic floor     {wall_a:8.2f}x wall, {cpu_a:.2f}x cpu (issue 6's figure)")
    print(f"  ratio to the hand-written floor {got['seconds'] / fl['seconds']:8.2f}x wall, "
          f"{got['cpu_s'] / max(fl['cpu_s'], 1e-9):.2f}x cpu (stricter: no rendering, policy or writes)")
    print(f"  acted on {due:,} enrollments ({due / n:.1%}): "
          f"{sum(v for k, v in got['outcomes'].items() if k[1] != 'active'):,} exits; "
          f"{len(plan.messages):,} messages planned ({verdicts}); {got['inserted']:,} outbox rows inserted")
    print(f"  peak RSS {got['peak_mib']:,.0f} MiB" + (" during the tick" if got["peak_is_tick"] else
                                                      " (process high-water mark, set-up included)"))
    problems = check(world, before, after, got, fl)
    for problem in problems:
        print(f"FAIL: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
