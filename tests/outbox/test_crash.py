"""Dispatchers SIGKILLed at random moments against a real SMTP server: nothing lost, at most one copy per kill.

A dispatcher subprocess is started, killed once the server has taken a few more messages (plus a random
delay, so kills land anywhere in claim / send / commit), and started again; after the last kill the leases
expire and a final dispatcher drains the outbox. Every message must have arrived, and the copies beyond the
first must number no more than the kills (each copy carrying the original's Message-ID).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine

from longtail.store.outbox import OutboxStore, message_id_for
from tests.outbox.helpers import T0, SmtpServer, msg

MESSAGES = 3_000
KILLS = 20
LEASE_SECONDS = 2.0
BATCH = 25
REPO = Path(__file__).resolve().parents[2]


def _start(url: str, server: SmtpServer, worker: str) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "longtail.dispatch", "--database-url", url, "--channel", "smtp",
           "--smtp-port", str(server.port), "--worker", worker, "--batch", str(BATCH),
           "--lease-seconds", str(LEASE_SECONDS), "--max-attempts", "1000"]
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)


def _wait_for_progress(server: SmtpServer, proc: subprocess.Popen[bytes], more_than: int, timeout: float) -> bool:
    """Wait until the server holds more than `more_than` messages; False if the dispatcher ended first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(server.received_ids()) > more_than:
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.02)
    raise AssertionError("the dispatcher made no progress")


def _crash_and_drain(store: OutboxStore, url: str, server: SmtpServer) -> None:
    store.enqueue([msg(i) for i in range(MESSAGES)], now=T0)
    rng = random.Random(6)
    kills = 0
    for attempt in range(KILLS):
        proc = _start(url, server, f"w{attempt}")
        before = len(server.received_ids())
        # Let it get going (imports take most of a second), then kill somewhere in the middle of its work.
        if not _wait_for_progress(server, proc, before + rng.randint(0, 40), timeout=30):
            break  # it drained everything before we got to kill it
        time.sleep(rng.uniform(0, 0.05))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait()
    assert kills >= KILLS // 2, f"only {kills} dispatchers were killed mid-work; the test proves little"
    time.sleep(LEASE_SECONDS + 0.2)  # the killed dispatchers' leases expire
    final = _start(url, server, "final")
    _, err = final.communicate(timeout=60)
    assert final.returncode == 0, err.decode()

    received = server.received_ids()
    print(f"kills={kills} received={len(received)} copies={len(received) - len(set(received))}")
    expected = {message_id_for(msg(i).key) for i in range(MESSAGES)}
    assert set(received) == expected, "a message was lost (or an unknown one sent)"
    assert len(received) - len(set(received)) <= kills
    assert store.counts()["sent"] == MESSAGES


@pytest.mark.slow
def test_sigkilled_sqlite_dispatchers_lose_nothing(tmp_path: Path, smtp_server: SmtpServer) -> None:
    from longtail.store.db import make_engine, migrate

    url = f"sqlite:///{tmp_path / 'outbox.db'}"
    engine = make_engine(url)
    migrate(engine)
    _crash_and_drain(OutboxStore(engine), url, smtp_server)


@pytest.mark.slow
@pytest.mark.postgres
def test_sigkilled_postgres_dispatchers_lose_nothing(pg_engine: Engine, postgres_url: str,
                                                    smtp_server: SmtpServer) -> None:
    _crash_and_drain(OutboxStore(pg_engine), postgres_url, smtp_server)
