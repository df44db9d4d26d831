"""Benchmark: Segment-compatible ingestion, events/s through `POST /v1/batch`.

    .venv/bin/python benchmarks/bench_ingest.py            # 200 batches of 100 events, 8 clients
    .venv/bin/python benchmarks/bench_ingest.py --quick    # 40 batches

uvicorn serves the ingestion router of a fresh workspace in a child process; this process is the load
generator (httpx, several concurrent clients, loopback). The floor is the same load against `POST /v1/noop`
in the same app, which reads the body and answers 200 without parsing or storing it, measured in the same run.
Prints `ingest events/s N (ratio R of floor F)` and the server's events per CPU-second for both (steadier than
wall time on a shared machine). Exits 1 only if the stored events are not exactly the sent ones.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
from fastapi import FastAPI, HTTPException, Request, Response  # module level: FastAPI resolves hints here

KEY = "bench-key"
AUTH = "Basic " + base64.b64encode(f"{KEY}:".encode()).decode()


def serve(root: Path, port: int) -> None:
    """Child process: the ingestion router plus a no-op endpoint, behind a Basic write-key check."""
    import uvicorn

    from longtail.settings import open_workspace
    from longtail.web.ingest_api import ingest_router

    def authorize(request: Request) -> None:
        if request.headers.get("authorization") != AUTH:
            raise HTTPException(401, detail="unknown write key")

    app = FastAPI()
    app.include_router(ingest_router(open_workspace(root), authorize))

    @app.post("/v1/noop")
    async def noop(request: Request) -> Response:
        authorize(request)
        await request.body()
        return Response(b'{"success":true}', media_type="application/json")

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc): a figure contention barely affects."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bodies(batches: int, size: int) -> list[bytes]:
    out = []
    for b in range(batches):
        batch = [{"type": "track", "userId": f"u{(b * size + i) % 500}", "event": "report_viewed",
                  "messageId": str(uuid.uuid4()), "timestamp": "2026-03-01T10:00:00Z",
                  "context": {"groupId": f"acct-{(b * size + i) % 200}", "library": {"name": "bench"}},
                  "properties": {"report": "health", "n": i}} for i in range(size)]
        out.append(json.dumps({"batch": batch, "sentAt": "2026-03-01T10:00:01Z"}).encode())
    return out


async def load(url: str, payloads: list[bytes], clients: int) -> float:
    """Seconds to send every payload with `clients` concurrent connections; every answer must be 200."""
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for p in payloads:
        queue.put_nowait(p)

    async def worker(client: httpx.AsyncClient) -> None:
        while not queue.empty():
            body = queue.get_nowait()
            r = await client.post(url, content=body, headers={"Authorization": AUTH,
                                                              "Content-Type": "application/json"})
            if r.status_code != 200:
                raise RuntimeError(f"{url}: {r.status_code} {r.text[:200]}")

    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=clients)) as client:
        start = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(clients)))
        return time.perf_counter() - start


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--batches", type=int, default=200)
    ap.add_argument("--size", type=int, default=100, help="events per batch (the SDKs default to 100)")
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--serve", nargs=2, metavar=("WORKSPACE", "PORT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        serve(Path(args.serve[0]), int(args.serve[1]))
        return 0
    batches = 40 if args.quick else args.batches
    from longtail.settings import init_workspace
    from longtail.store.tracking import EventFilter, read_events
    from longtail.warehouse.events import Warehouse

    with tempfile.TemporaryDirectory(prefix="lt-bench-ingest-") as tmp:
        ws = init_workspace(Path(tmp) / "ws")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        server = subprocess.Popen([sys.executable, __file__, "--serve", str(ws.root), str(port)], env=env)
        try:
            base = f"http://127.0.0.1:{port}"
            for _ in range(200):
                try:
                    httpx.post(f"{base}/v1/noop", headers={"Authorization": AUTH}, content=b"{}")
                    break
                except httpx.TransportError:
                    time.sleep(0.1)
            warm = bodies(5, args.size)
            asyncio.run(load(f"{base}/v1/batch", warm, 2))  # warm-up: imports, first landing file
            payloads = bodies(batches, args.size)
            cpu0 = cpu_seconds(server.pid)
            floor_s = asyncio.run(load(f"{base}/v1/noop", payloads, args.clients))
            cpu1 = cpu_seconds(server.pid)
            ingest_s = asyncio.run(load(f"{base}/v1/batch", payloads, args.clients))
            cpu2 = cpu_seconds(server.pid)
        finally:
            server.terminate()
            server.wait(timeout=30)
        events = batches * args.size
        stored, _ = read_events(Warehouse(ws.warehouse_url, ws.state_dir), EventFilter(limit=1))
        floor, rate = events / floor_s, events / ingest_s
        print(f"ingest events/s {rate:,.0f} (ratio {rate / floor:.2f} of floor {floor:,.0f}); "
              f"{batches} batches x {args.size} events, {args.clients} clients; target 10,000 (not asserted)")
        print(f"server events per CPU-second: ingest {events / max(cpu2 - cpu1, 1e-9):,.0f}, "
              f"floor {events / max(cpu1 - cpu0, 1e-9):,.0f} (the machine is shared: CPU time is the steadier figure)")
        expected = events + len(warm) * args.size
        if stored != expected:
            print(f"bench_ingest: stored {stored} events, expected {expected}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
