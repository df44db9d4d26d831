"""Benchmark: cockpit latency with a large store, p50/p95 of the worklist, the account page and the health API.

    .venv/bin/python benchmarks/bench_web.py                       # 100,000 accounts, ~10M events
    .venv/bin/python benchmarks/bench_web.py --quick               # 10,000 accounts, ~1M events
    .venv/bin/python benchmarks/bench_web.py --tmp /tmp/lt-bench   # keep the workspace and reuse it next time

A synthetic workspace is written straight into the stores (generating 100k accounts with `longtail sim` and
loading them would take most of an hour): accounts, subscriptions, two contacts each, a team of CSMs, tiers,
segment membership, open CTAs, weekly stored health days and product events landed and compacted through
`Warehouse` (so the event parts have the production layout). uvicorn serves `create_app(ws)` in a child process
on 127.0.0.1; this process is the load generator (httpx, a logged-in CSM session, several concurrent clients).
The floor is the same load against `/healthz` in the same run. Prints, per page,
`account page p95 N ms (ratio R of floor F ms)`; the issue's aim (p95 <= 150 ms) is printed, never asserted.
Exits 1 only when a page answers anything but 200 (a fast error page must not look green).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

AS_OF = date(2026, 6, 30)
NOW = datetime(2026, 6, 30, 15, 0, tzinfo=UTC)
EMAIL = "bench.csm@vendor.test"
PASSWORD = "bench password, not a secret"
CSMS = 20
GENERATOR_VERSION = 1  # part of the cache folder's name: bump when the generated workspace changes
AIM_MS = 150.0
EVENT_NAMES = [f"feature_{i:02d}" for i in range(30)]


@dataclass(frozen=True)
class Size:
    accounts: int
    events: int

    @property
    def cache_name(self) -> str:
        return f"web-ws-a{self.accounts}-e{self.events}-v{GENERATOR_VERSION}"


def account_id(i: int) -> str:
    return f"acc_{i:07d}"


# ---------------------------------------------------------------------------------------------- workspace


def build_workspace(root: Path, size: Size) -> None:
    """Write the synthetic workspace under `root` (which must not exist yet)."""
    from longtail.settings import init_workspace
    from longtail.store.db import make_engine, migrate

    ws = init_workspace(root)
    engine = make_engine(ws.database_url)
    migrate(engine)
    rng = random.Random(7)
    ids = [account_id(i) for i in range(size.accounts)]
    began = time.perf_counter()
    _entities(engine, ids, rng)
    _motion(engine, ids, rng)
    _users(engine)
    engine.dispose()
    print(f"  entities, tiers, CTAs, users: {time.perf_counter() - began:.1f} s", flush=True)
    began = time.perf_counter()
    _health(ws, ids)
    print(f"  health days: {time.perf_counter() - began:.1f} s", flush=True)
    began = time.perf_counter()
    _events(ws, size)
    print(f"  events: {time.perf_counter() - began:.1f} s", flush=True)


def _entities(engine: Any, ids: list[str], rng: random.Random) -> None:
    from longtail.store.entities import EntityStore

    store = EntityStore(engine)
    store.upsert("accounts", [{"account_id": a, "name": f"Company {a[4:]}", "industry": rng.choice(
        ["software", "retail", "health", "finance"]), "country": rng.choice(["US", "DE", "FR", "GB"]),
        "attributes": {"csm_id": f"m_csm{rng.randrange(CSMS)}"} if rng.random() < 0.05 else None}
        for a in ids], key=["account_id"])
    store.upsert("subscriptions", [{"subscription_id": f"s_{a}", "start_date": date(2025, 1, 1) + timedelta(
        days=rng.randrange(365)), "account_id": a, "plan": "pro", "end_date": date(2026, 7, 1) + timedelta(
        days=rng.randrange(365)), "mrr": Decimal(rng.randrange(20, 2000)), "arr": Decimal(0), "currency": "USD"}
        for a in ids], key=["subscription_id", "start_date"])
    store.upsert("contacts", [{"contact_id": f"c_{a}_{k}", "account_id": a, "email": f"p{k}@{a}.test",
                               "name": f"Person {k} of {a}", "role": "champion" if k == 0 else "user"}
                              for a in ids for k in range(2)], key=["contact_id"])
    team = [{"member_id": f"m_csm{i}", "name": f"CSM {i}", "email": f"csm{i}@vendor.test", "role": "csm",
             "capacity": 5000, "skills": [], "tiers": ["pooled"]} for i in range(CSMS)]
    store.upsert("team", team, key=["member_id"])


def _motion(engine: Any, ids: list[str], rng: random.Random) -> None:
    from longtail.core.motion.ctas import CreateCta, CtaRequest
    from longtail.store.motion import MotionStore

    motion = MotionStore(engine, lambda: NOW)
    tiers = {a: ("pooled" if rng.random() < 0.8 else "mid", "arr") for a in ids}
    motion.apply_tiers(tiers, AS_OF - timedelta(days=60))
    motion.apply_membership("seg_at_risk", {a for a in ids if rng.random() < 0.1}, set(), AS_OF - timedelta(days=30),
                            "h")
    motion.apply_membership("seg_growing", {a for a in ids if rng.random() < 0.2}, set(), AS_OF - timedelta(days=30),
                            "h")
    # About 3% of accounts with an open CTA, like a daily motion run leaves them; the bench CSM owns a share.
    chosen = rng.sample(ids, max(len(ids) * 3 // 100, 10))
    effects, owners = [], {}
    for n, a in enumerate(chosen):
        request = CtaRequest(account_id=a, cta_type=rng.choice(["risk", "renewal", "onboarding"]),  # type: ignore[arg-type]
                             reason="usage drop", playbook_id="pb_bench", definition_hash="h",
                             priority=rng.choice(["urgent", "high", "medium", "low"]),  # type: ignore[arg-type]
                             due=AS_OF + timedelta(days=rng.randrange(-5, 20)), title=f"Call {a} about usage",
                             script="Ask what blocks them.", inputs={"events_28d": rng.randrange(100)},
                             checklist=("Call", "Send summary"))
        cta_id = f"cta_{n:06d}"
        effects.append(CreateCta(cta_id, request, "open", "bench"))
        owners[cta_id] = (f"m_csm{n % CSMS}", "bench")
    motion.apply_effects(effects, AS_OF - timedelta(days=2), owners=owners)


TIERS_YAML = """\
# The tiers the generated tier history uses, declared as a real workspace declares them (its run wrote them).
tiers:
  metric: arr
  bands:
    - {tier: pooled}
    - {tier: mid, min: 25000}
"""


def _motion_files(root: Path) -> None:
    """The workspace's motion: written on every run, so a workspace cached before it existed gets it too."""
    path = root / "motion" / "tiers.yml"
    if not path.is_file() or path.read_text(encoding="utf-8") != TIERS_YAML:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(TIERS_YAML, encoding="utf-8")


def _users(engine: Any) -> None:
    from longtail.store.users import UserStore, hash_password

    UserStore(engine, lambda: NOW).add_user(EMAIL, "csm", name="Bench CSM", member_id="m_csm0",
                                            password_hash=hash_password(PASSWORD))


def _health(ws: Any, ids: list[str]) -> None:
    """13 weekly stored days (the account page's history) written as health_store writes them."""
    from longtail.analytics import health_store

    rng = np.random.default_rng(3)
    n = len(ids)
    components = json.dumps([{"metric": "events_28d", "label": "Events, 28 days", "value": 12.0, "carried": False,
                              "score": 40.0, "weight": 0.5, "contribution": 20.0}])
    for week in range(13):
        day = AS_OF - timedelta(days=7 * week)
        scores = np.round(rng.uniform(0, 100, n), 1)
        bands = np.where(scores < 40, "red", np.where(scores < 70, "yellow", "green"))
        table = pa.table({
            "account_id": ids, "as_of": [day] * n, "score": scores, "band": bands, "raw_band": bands,
            "pending_band": pa.nulls(n, pa.string()), "pending_since": pa.nulls(n, pa.date32()),
            "scorecard": ["default"] * n, "scorecard_hash": ["h"] * n, "components": [components] * n,
            "reasons": [json.dumps(["Events over 28 days are low"])] * n, "path_to_green": ["[]"] * n,
            "green_reachable": [True] * n, "change_7d": pa.nulls(n, pa.float64()),
            "change_30d": pa.nulls(n, pa.float64()),
        }, schema=health_store.SCHEMA)
        target = health_store.day_file(ws, day)
        target.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, target, row_group_size=health_store.ROW_GROUP_ROWS)


def _events(ws: Any, size: Size) -> None:
    """Long-tailed product events over 180 days, landed in 1M-row files and compacted once."""
    from longtail.warehouse.events import Warehouse

    warehouse = Warehouse(ws.warehouse_url, ws.state_dir)
    rng = np.random.default_rng(11)
    weights = rng.pareto(1.5, size.accounts) + 0.05  # a few very busy accounts, many quiet ones
    weights /= weights.sum()
    start = np.datetime64(datetime.combine(AS_OF - timedelta(days=180), datetime.min.time()), "us")
    chunk = 1_000_000
    for first in range(0, size.events, chunk):
        n = min(chunk, size.events - first)
        accounts = rng.choice(size.accounts, n, p=weights)
        ts = start + rng.integers(0, 181 * 86_400_000_000, n).astype("timedelta64[us]")
        table = pa.table({
            "event_id": pa.array([f"ev{first + i}" for i in range(n)]),
            "account_id": pa.array(np.char.add("acc_", np.char.zfill(accounts.astype(str), 7))),
            "contact_id": pa.array(np.char.add(np.char.add("c_acc_", np.char.zfill(accounts.astype(str), 7)), "_0")),
            "event": pa.array(np.array(EVENT_NAMES)[rng.zipf(1.6, n) % len(EVENT_NAMES)]),
            "ts": pa.array(ts).cast(pa.timestamp("us", "UTC")),
            "value": pa.nulls(n, pa.float64()),
            "properties": pa.nulls(n, pa.string()),
        })
        landing = warehouse.open_landing()
        landing.write(table)
        landing.close()
    warehouse.compact()


@contextmanager
def workspace(size: Size, cache: Path | None) -> Iterator[Path]:
    """The workspace root: reused from `cache` when a complete one is there, else built (and kept there)."""
    if cache is None:
        with tempfile.TemporaryDirectory(prefix="lt-bench-web-") as tmp:
            root = Path(tmp) / "ws"
            print(f"building a workspace: {size.accounts:,} accounts, {size.events:,} events", flush=True)
            build_workspace(root, size)
            _motion_files(root)
            yield root
        return
    root = cache / size.cache_name
    if not (root / ".bench-complete").is_file():
        shutil.rmtree(root, ignore_errors=True)  # a half-built one from an interrupted run
        print(f"building {root}: {size.accounts:,} accounts, {size.events:,} events", flush=True)
        build_workspace(root, size)
        (root / ".bench-complete").write_text("ok\n")
    else:
        print(f"reusing {root}", flush=True)
    _motion_files(root)
    yield root


# ---------------------------------------------------------------------------------------------- server


def serve(root: Path, port: int, workers: int = 1) -> None:
    """Child process: what `longtail serve [--workers N]` runs, with the clock pinned to the generated data's day."""
    import uvicorn

    if workers > 1:
        # as `longtail serve --workers`: each worker process builds its app from the environment
        os.environ["LONGTAIL_WORKSPACE"] = str(root)
        uvicorn.run("bench_web:bench_app", factory=True, workers=workers, app_dir=str(Path(__file__).parent),
                    host="127.0.0.1", port=port, log_level="warning", access_log=False)
        return
    uvicorn.run(bench_app(root), host="127.0.0.1", port=port, log_level="warning", access_log=False)


def bench_app(root: Path | None = None) -> Any:
    """`create_app` for the bench workspace (LONGTAIL_WORKSPACE when not given) with the pinned clock."""
    from longtail.settings import open_workspace
    from longtail.web import create_app

    return create_app(open_workspace(root), clock=lambda: NOW, secure_cookies=False)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time so far of a process and its live descendants (the server's worker processes)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    children = [int(c) for task in Path(f"/proc/{pid}/task").iterdir()
                for c in (task / "children").read_text().split()]
    return own + sum(cpu_seconds(c) for c in children)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(base: str, server: subprocess.Popen[bytes]) -> None:
    for _ in range(600):
        if server.poll() is not None:
            raise RuntimeError(f"the server exited with {server.returncode}")
        try:
            if httpx.get(f"{base}/healthz").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError("the server did not answer /healthz within 60 s")


def log_in(base: str) -> httpx.Cookies:
    """A CSM session, through the login form like a browser (double-submit CSRF token included)."""
    with httpx.Client(base_url=base, follow_redirects=False) as client:
        form = client.get("/login")
        match = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
        if match is None:
            raise RuntimeError("no csrf_token on the login form")
        done = client.post("/login", data={"email": EMAIL, "password": PASSWORD, "csrf_token": match.group(1)})
        if done.status_code != 303:
            raise RuntimeError(f"login answered {done.status_code}")
        return client.cookies


# ---------------------------------------------------------------------------------------------- load


@dataclass(frozen=True)
class Result:
    name: str
    latencies_ms: list[float]
    errors: list[str]
    server_cpu_s: float

    def pct(self, q: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def load(base: str, cookies: httpx.Cookies, paths: list[str], clients: int) -> tuple[list[float], list[str]]:
    """Send `paths` from `clients` concurrent keep-alive clients; latency of each request in ms."""
    queue: asyncio.Queue[str] = asyncio.Queue()
    for p in paths:
        queue.put_nowait(p)
    latencies: list[float] = []
    errors: list[str] = []

    async def worker(client: httpx.AsyncClient) -> None:
        while not queue.empty():
            path = queue.get_nowait()
            began = time.perf_counter()
            response = await client.get(path)
            latencies.append((time.perf_counter() - began) * 1000)
            if response.status_code != 200:
                errors.append(f"{path}: {response.status_code}")

    async with httpx.AsyncClient(base_url=base, cookies=cookies, timeout=120) as client:
        await asyncio.gather(*(worker(client) for _ in range(clients)))
    return latencies, errors


def measure(name: str, paths: list[str], *, base: str, cookies: httpx.Cookies, clients: int, pid: int) -> Result:
    """Warm the page up, then load it; the server's CPU time is taken around the measured load only."""
    asyncio.run(load(base, cookies, paths[: max(clients, len(paths) // 10)], clients))  # warm-up
    cpu0 = cpu_seconds(pid)
    latencies, errors = asyncio.run(load(base, cookies, paths, clients))
    return Result(name, latencies, errors, cpu_seconds(pid) - cpu0)


def report(result: Result, floor: Result) -> None:
    p50, p95, f95 = result.pct(0.5), result.pct(0.95), floor.pct(0.95)
    aim = "met" if p95 <= AIM_MS else "not met"
    cpu_ms = result.server_cpu_s * 1000 / max(len(result.latencies_ms), 1)
    print(f"{result.name} p95 {p95:.0f} ms (ratio {p95 / f95:.1f} of floor {f95:.1f} ms); p50 {p50:.0f} ms; "
          f"server CPU {cpu_ms:.1f} ms/request; aim p95 <= {AIM_MS:.0f} ms {aim} on this run", flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="10,000 accounts, 1M events, fewer requests")
    ap.add_argument("--accounts", type=int, default=100_000)
    ap.add_argument("--events", type=int, default=10_000_000)
    ap.add_argument("--requests", type=int, default=200, help="requests per page")
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--workers", type=int, default=1, help="server processes, as `longtail serve --workers`")
    ap.add_argument("--tmp", type=Path, help="keep the generated workspace here and reuse it on later runs")
    ap.add_argument("--serve", nargs=3, metavar=("WORKSPACE", "PORT", "WORKERS"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        serve(Path(args.serve[0]), int(args.serve[1]), int(args.serve[2]))
        return 0
    size = Size(10_000, 1_000_000) if args.quick else Size(args.accounts, args.events)
    requests = 60 if args.quick else args.requests
    rng = random.Random(5)
    with workspace(size, args.tmp) as root:
        port = free_port()
        server = subprocess.Popen([sys.executable, __file__, "--serve", str(root), str(port), str(args.workers)],
                                  env={**os.environ, "PYTHONUNBUFFERED": "1"})
        try:
            base = f"http://127.0.0.1:{port}"
            wait_ready(base, server)
            cookies = log_in(base)
            accounts = [account_id(rng.randrange(size.accounts)) for _ in range(requests)]
            has_page = httpx.get(f"{base}/accounts/{accounts[0]}", cookies=cookies).status_code != 404
            pages = {
                "floor /healthz": ["/healthz"] * requests,
                "worklist": ["/worklist"] * requests,
                "account page": [f"/accounts/{a}" for a in accounts] if has_page else [],
                "health API": [f"/api/health/{a}" for a in accounts],
            }
            results = {name: measure(name, paths, base=base, cookies=cookies, clients=args.clients, pid=server.pid)
                       for name, paths in pages.items() if paths}
        finally:
            server.terminate()
            server.wait(timeout=30)
    floor = results.pop("floor /healthz")
    print(f"{size.accounts:,} accounts, {size.events:,} events, {requests} requests per page, {args.clients} "
          f"clients, {args.workers} server process(es); floor /healthz p50 {floor.pct(0.5):.1f} ms "
          f"p95 {floor.pct(0.95):.1f} ms; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (the machine is shared)")
    for result in results.values():
        report(result, floor)
    if not has_page:
        print("account page: GET /accounts/{id} answered 404 (route not mounted in this build); not measured")
    errors = [e for r in (floor, *results.values()) for e in r.errors]
    if errors:
        print(f"FAIL bench_web: {len(errors)} requests did not answer 200, e.g. {errors[:3]}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
