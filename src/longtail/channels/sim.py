"""The `sim` channel: outbox messages become interventions in the simulated world (`longtail.sim`).

Sending does not reach anyone: `send(row)` writes one JSON file per outbox key into a queue folder
(`.longtail/loop/queue/`). The closed loop (`longtail.runner.closed_loop`) hands the queued items to the
next `World.step` and turns the world's responses (delivered, opened, clicked, replied, unsubscribed) back into
engagement events. One file per key makes a re-send (a dispatcher that died after writing, before its
commit) overwrite the same item, so every message becomes at most one intervention.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from longtail.channels import PermanentError, TransientError
from longtail.channels.files import file_name
from longtail.sim import CsmTask, Email, InApp, Intervention
from longtail.store.outbox import OutboxRow

QUEUE_DIR = Path("loop") / "queue"

# Which simulated intent an outbox message carries, from words in its program (the journey id). The world
# reacts to a click by intent (see docs/simulator.md): onboarding help, adoption, or a satisfaction lift.
_INTENT_WORDS: tuple[tuple[str, str], ...] = (
    ("onboard", "onboarding"), ("welcome", "onboarding"), ("webinar", "onboarding"),
    ("renewal", "renewal"), ("rescue", "rescue"), ("risk", "rescue"), ("noticed", "rescue"), ("save", "rescue"),
    ("newsletter", "newsletter"), ("digest", "newsletter"),
)
DEFAULT_INTENT = "adoption"

# What a simulated CSM does when working a CTA of each type.
TASK_OF_CTA: Mapping[str, str] = {"risk": "rescue_call", "onboarding": "onboarding_call", "renewal": "call",
                                  "expansion": "call", "advocacy": "call", "lifecycle": "call"}


def intent_of(program: str | None) -> str:
    """The simulated intent of a message from its program (journey) id; adoption when no word matches."""
    text = (program or "").lower()
    for word, intent in _INTENT_WORDS:
        if word in text:
            return intent
    return DEFAULT_INTENT


@dataclass(frozen=True)
class QueuedItem:
    """One intervention waiting for the next simulated day, with what to report its response against."""

    key: str  # the outbox key, or `cta:<id>` for a worked CTA
    kind: str  # email, in_app or csm_task
    detail: str  # intent (messages) or task kind (CSM tasks)
    account_id: str | None
    contact_id: str | None = None
    channel: str | None = None  # the outbox channel the response is recorded on

    def intervention(self) -> Intervention:
        """The `longtail.sim` intervention this item stands for."""
        if self.kind == "csm_task":
            if not self.account_id:
                raise ValueError(f"{self.key}: a CSM task needs an account")
            return CsmTask(self.account_id, self.detail)
        if not self.contact_id:
            raise ValueError(f"{self.key}: a message needs a contact")
        return InApp(self.contact_id, self.detail) if self.kind == "in_app" else Email(self.contact_id, self.detail)

    def as_json(self) -> dict[str, Any]:
        return {"key": self.key, "kind": self.kind, "detail": self.detail, "account_id": self.account_id,
                "contact_id": self.contact_id, "channel": self.channel}

    @staticmethod
    def from_json(data: Mapping[str, Any]) -> QueuedItem:
        return QueuedItem(key=str(data["key"]), kind=str(data["kind"]), detail=str(data["detail"]),
                          account_id=data.get("account_id"), contact_id=data.get("contact_id"),
                          channel=data.get("channel"))


class SimQueue:
    """Interventions waiting for the next `World.step`, one file per key (writing a key again replaces it)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def put(self, item: QueuedItem) -> None:
        """Write the item atomically (a crash leaves either the whole file or none).

        No fsync: the simulated world lives in memory, so a crashed loop restarts from the beginning anyway.
        """
        self.directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".tmp-", suffix=".json")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(item.as_json(), fh, sort_keys=True)
            os.replace(tmp, self._path(item.key))
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def pending(self) -> list[QueuedItem]:
        """Every queued item, ordered by key (the order does not depend on when they were written)."""
        if not self.directory.is_dir():
            return []
        items = [QueuedItem.from_json(json.loads(p.read_text(encoding="utf-8")))
                 for p in sorted(self.directory.glob("*.json"))]
        return sorted(items, key=lambda i: i.key)

    def remove(self, items: list[QueuedItem]) -> None:
        """Drop items the world has taken."""
        for item in items:
            self._path(item.key).unlink(missing_ok=True)

    def _path(self, key: str) -> Path:
        """`<key>.json`, made safe as a file name the way the file channel does it."""
        return self.directory / (file_name(key).removesuffix(".eml") + ".json")


class SimChannel:
    """Deliver outbox rows (email or in-app) into the simulated world's next day."""

    def __init__(self, queue: SimQueue) -> None:
        self.queue = queue

    def send(self, row: OutboxRow) -> None:
        """Queue the row as an Email or InApp intervention for its contact."""
        if row.channel not in ("email", "in_app"):
            raise PermanentError(f"the sim channel delivers email and in-app messages, not {row.channel!r}")
        if not row.contact_id:
            raise PermanentError(f"{row.key}: the simulated world needs a contact id to deliver to")
        item = QueuedItem(key=row.key, kind=row.channel, detail=intent_of(row.program), account_id=row.account_id,
                          contact_id=row.contact_id, channel=row.channel)
        try:
            self.queue.put(item)
        except OSError as exc:
            raise TransientError(f"cannot queue {row.key} for the simulator: {exc}") from exc

    def close(self) -> None:
        """Nothing is kept open."""


def sim_queue(state_dir: Path) -> SimQueue:
    """The queue of a workspace whose state folder is `state_dir`."""
    return SimQueue(state_dir / QUEUE_DIR)
