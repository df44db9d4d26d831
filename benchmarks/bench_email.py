"""Benchmark: email delivery through the outbox and the dispatcher to a local SMTP server.

    .venv/bin/python benchmarks/bench_email.py             # 100k messages
    .venv/bin/python benchmarks/bench_email.py --quick     # 10k messages
    .venv/bin/python benchmarks/bench_email.py --messages 50000 --batch 200

An aiosmtpd server runs in a child process on a free 127.0.0.1 port and logs every accepted message
(sender and Message-ID). The parent enqueues N messages into a fresh file-backed SQLite outbox, then
measures, in the same run against the same server:

    longtail   `dispatch()`: claim in batches, build each MIME message from its payload (to, subject, text,
               html, headers, as the journeys enqueue it), send it over one kept-open SMTP connection, commit
               its outcome (one commit per message: the delivery guarantee). All of it is timed; enqueueing is
               timed apart. `cpu` is the dispatcher's own CPU time (the server runs in another process).
    floor      raw `smtplib` sending the same pre-built messages over one connection (no database at all;
               building the messages is not timed)

`ratio` = longtail messages/s / floor messages/s. Wall-clock figures are never asserted; the only failure
(exit status 1) is a run where the server did not receive every message exactly once, or the outbox does
not show them all sent.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import smtplib
import socket
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

DEFAULT_MESSAGES = 100_000
QUICK_MESSAGES = 10_000
NOW = datetime(2026, 1, 1, tzinfo=UTC)
LONGTAIL_FROM = "longtail@bench.example"
FLOOR_FROM = "floor@bench.example"


# ---------------------------------------------------------------- the SMTP server (child process)


class _LogHandler:
    def __init__(self, log: Path) -> None:
        self.fh = log.open("a", encoding="utf-8", buffering=1)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message_id = ""
        for line in (envelope.original_content or b"").split(b"\r\n"):
            if line.lower().startswith(b"message-id:"):
                message_id = line.split(b":", 1)[1].strip().decode()
                break
            if not line:
                break
        self.fh.write(f"{envelope.mail_from} {message_id}\n")
        return "250 OK"


def _serve(port: int, log: Path, ready: Any) -> None:
    from aiosmtpd.controller import Controller

    controller = Controller(_LogHandler(log), hostname="127.0.0.1", port=port)
    controller.start()
    ready.set()
    try:
        asyncio.run(asyncio.sleep(10**9))
    finally:
        controller.stop()


def _free_port() -> int:
    # aiosmtpd 1.4.6 cannot bind port 0 itself.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


# ---------------------------------------------------------------- measurements


def _messages(n: int) -> list[Any]:
    from longtail.store.outbox import OutboxMessage, message_key

    return [
        OutboxMessage(
            key=message_key("bench", f"enr{i}", "step1", f"c{i}", NOW.date().isoformat()),
            channel="email",
            payload={"to": f"user{i}@example.com", "subject": f"Your week in review #{i}",
                     "text": f"Hello {i},\n\nHere is what changed this week.\n",
                     "html": f"<p>Hello {i},</p><p>Here is what changed this week.</p>",
                     "headers": {"List-Unsubscribe": f"<https://example.com/u/{i}>"}},
            due_at=NOW, contact_id=f"c{i}", account_id=f"a{i % 1000}", program="bench",
        )
        for i in range(n)
    ]


def measure_longtail(db: Path, port: int, messages: list[Any], batch: int) -> dict[str, float]:
    from longtail.channels.smtp import SmtpChannel
    from longtail.dispatch import dispatch
    from longtail.store.db import make_engine, migrate
    from longtail.store.outbox import OutboxStore

    engine = make_engine(f"sqlite:///{db}")
    migrate(engine)
    store = OutboxStore(engine)
    began = time.perf_counter()
    inserted, _ = store.enqueue(messages, now=NOW)
    enqueue_s = time.perf_counter() - began
    clock = NOW + timedelta(minutes=1)
    channel = SmtpChannel("127.0.0.1", port, None, None, False, LONGTAIL_FROM)
    began, cpu = time.perf_counter(), time.process_time()
    counts = dispatch(store, channel, "bench", lambda: clock, batch=batch)
    dispatch_s, cpu_s = time.perf_counter() - began, time.process_time() - cpu
    return {"inserted": inserted, "enqueue_s": enqueue_s, "seconds": dispatch_s, "cpu_s": cpu_s, "sent": counts.sent,
            "outbox_sent": store.counts()["sent"]}


def measure_floor(port: int, messages: list[Any]) -> dict[str, float]:
    from longtail.channels.smtp import email_bytes
    from longtail.store.outbox import OutboxRow, message_id_for

    prepared = []
    for m in messages:
        row = OutboxRow(key=m.key, channel=m.channel, payload=m.payload, due_at=m.due_at, attempts=1,
                        message_id=message_id_for(m.key))
        prepared.append((str(m.payload["to"]), email_bytes(row, FLOOR_FROM)))
    smtp = smtplib.SMTP("127.0.0.1", port)
    began = time.perf_counter()
    for to, data in prepared:
        smtp.sendmail(FLOOR_FROM, [to], data)
    seconds = time.perf_counter() - began
    smtp.quit()
    return {"seconds": seconds, "sent": len(prepared)}


def _received(log: Path) -> dict[str, Counter[str]]:
    by_sender: dict[str, Counter[str]] = {LONGTAIL_FROM: Counter(), FLOOR_FROM: Counter()}
    for line in log.read_text(encoding="utf-8").splitlines():
        sender, _, message_id = line.partition(" ")
        by_sender.setdefault(sender, Counter())[message_id] += 1
    return by_sender


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description="Benchmark outbox + dispatcher email delivery against raw smtplib.")
    ap.add_argument("--messages", type=int, default=DEFAULT_MESSAGES)
    ap.add_argument("--quick", action="store_true", help=f"{QUICK_MESSAGES:,} messages")
    ap.add_argument("--batch", type=int, default=100, help="dispatcher claim size")
    args = ap.parse_args(argv)
    if args.quick:
        args.messages = QUICK_MESSAGES
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    n = args.messages
    with tempfile.TemporaryDirectory(prefix="lt-bench-email-") as tmp:
        log = Path(tmp) / "received.log"
        log.touch()
        port = _free_port()
        ready = mp.Event()
        server = mp.Process(target=_serve, args=(port, log, ready), daemon=True)
        server.start()
        if not ready.wait(30):
            print("FAIL: the SMTP server did not start", flush=True)
            return 1
        try:
            print(f"bench_email: {n:,} messages to aiosmtpd on 127.0.0.1:{port}, dispatcher batch {args.batch}, "
                  f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs", flush=True)
            messages = _messages(n)
            floor = measure_floor(port, messages)
            ours = measure_longtail(Path(tmp) / "state.db", port, messages, args.batch)
        finally:
            server.terminate()
            server.join()
        received = _received(log)

    rate = ours["sent"] / ours["seconds"]
    floor_rate = floor["sent"] / floor["seconds"]
    print(f"  enqueue          {n / ours['enqueue_s']:>12,.0f} messages/s   ({ours['enqueue_s']:.1f} s)")
    print(f"  longtail         {rate:>12,.0f} messages/s   ({ours['seconds']:.1f} s: claim, build, send, commit; "
          f"cpu {ours['cpu_s']:.1f} s)")
    print(f"  floor            {floor_rate:>12,.0f} messages/s   ({floor['seconds']:.1f} s: raw smtplib, "
          "pre-built messages, one connection)")
    print(f"  ratio            {rate / floor_rate:>12.3f}")
    ok = True
    ids = received[LONGTAIL_FROM]
    if len(ids) != n or max(ids.values(), default=0) != 1 or ours["outbox_sent"] != n:
        print(f"  FAIL: expected {n:,} distinct messages each received once and all sent in the outbox; got "
              f"{len(ids):,} distinct, {sum(ids.values()):,} received, {ours['outbox_sent']:,} marked sent")
        ok = False
    if sum(received[FLOOR_FROM].values()) != n:
        print(f"  FAIL: the floor run delivered {sum(received[FLOOR_FROM].values()):,} of {n:,} messages")
        ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
