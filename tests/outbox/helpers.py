"""Test helpers: messages to enqueue, a recording aiosmtpd server, a scripted fake channel."""

from __future__ import annotations

import email
import socket
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from longtail.store.outbox import OutboxMessage, OutboxRow, message_key

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def msg(i: int, *, due: datetime = T0, to: str | None = None, contact: str | None = None,
        status: str = "pending") -> OutboxMessage:
    """Email number `i` of a journey step, due at `due`."""
    return OutboxMessage(
        key=message_key("journey", f"enr{i}", "step1", f"c{i}", due.isoformat()),
        channel="email",
        payload={"to": to or f"user{i}@example.com", "subject": f"Hello {i}", "text": f"Hi {i}",
                 "html": f"<p>Hi {i}</p>",
                 "headers": {"List-Unsubscribe": f"<https://example.com/u/{i}>"}},
        due_at=due,
        contact_id=contact or f"c{i}",
        account_id=f"a{i % 7}",
        program="onboarding",
        status=status,
    )


class Clock:
    """A settable clock: the code under test reads time only through it."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


class FakeChannel:
    """A channel whose outcome per call is scripted by `script(row)`: None sends, an exception is raised."""

    def __init__(self, script: Callable[[OutboxRow], Exception | None] | None = None) -> None:
        self.script = script
        self.sent: list[OutboxRow] = []
        self.calls = 0
        self.closed = 0

    def send(self, row: OutboxRow) -> None:
        self.calls += 1
        outcome = self.script(row) if self.script else None
        if outcome is not None:
            raise outcome
        self.sent.append(row)

    def close(self) -> None:
        self.closed += 1


def free_port() -> int:
    """A port free right now on 127.0.0.1 (aiosmtpd 1.4.6 cannot bind port 0 itself)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class RecordingHandler:
    """Accepts mail and appends each Message-ID to a log file (flushed, so it survives anything but the test).

    Recipients starting with 'bounce' get 550, 'full' get 452, 'reject' are accepted but the DATA gets 554.
    """

    def __init__(self, log: Path) -> None:
        self.log = log
        self.lock = threading.Lock()
        self.messages: list[email.message.Message] = []

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          rcpt_options: list[str]) -> str:
        if address.startswith("bounce"):
            return "550 5.1.1 no such user"
        if address.startswith("full"):
            return "452 4.2.2 mailbox full"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        parsed = email.message_from_bytes(content)
        if any(r.startswith("reject") for r in envelope.rcpt_tos):
            return "554 5.7.1 message refused"
        with self.lock:
            self.messages.append(parsed)
            with self.log.open("a", encoding="utf-8") as fh:
                fh.write(f"{parsed['Message-ID']}\n")
                fh.flush()
        return "250 OK"


class SmtpServer:
    """A real aiosmtpd SMTP server on a free 127.0.0.1 port, recording what it accepts."""

    def __init__(self, log: Path) -> None:
        self.log = log
        log.touch()
        self.handler = RecordingHandler(log)
        self.port = free_port()
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)

    def start(self) -> None:
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()

    def received_ids(self) -> list[str]:
        """Message-IDs in the order received (one line per accepted message)."""
        return [line for line in self.log.read_text(encoding="utf-8").splitlines() if line]
