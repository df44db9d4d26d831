"""What a recipient's mail client does with an email: follow a tracked link, load the open pixel, unsubscribe.

The links are signed when the email is rendered (`render.py`, tokens in `tokens.py`); this module verifies a
token, finds its message in the outbox and records the engagement twice, as the in-app channel does: a warehouse
event (`longtail.email.<kind>`, which the engagement features count) and an engagement event on the message
(which journey branches and the journeys report read). The warehouse event is landed first: landing again is
harmless (compaction de-duplicates on event_id), while recording first and crashing before landing would lose
the feature event for good. Each kind is recorded at most once per message.

An unsubscribe also suppresses the contact on the token's channel, so no later message of any journey goes out.
A hard bounce is landed the same way by the dispatcher (`email_event`, kind `bounced`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from longtail.channels import Landing
from longtail.channels.tokens import Unsubscribe, verify_click, verify_open, verify_unsubscribe
from longtail.store.outbox import OutboxRow, OutboxStore

EVENT_PREFIX = "longtail.email."


def email_event(row: OutboxRow, kind: str, at: datetime) -> dict[str, Any] | None:
    """The warehouse event `longtail.email.<kind>` of message `row`, or None when the row names no account.

    Its event_id is `<message key>:<kind>`, so landing it again (a re-claimed message, a second click) adds no
    event once the warehouse compacts, and the engagement features count it once per message.
    """
    if not row.account_id:
        return None
    return {"event_id": f"{row.key}:{kind}", "account_id": row.account_id, "contact_id": row.contact_id,
            "event": EVENT_PREFIX + kind, "ts": at, "value": None,
            "properties": json.dumps({"message": row.key, "journey": row.program}, sort_keys=True)}


class UnknownMessage(LookupError):
    """A validly signed token whose message is not in this workspace's outbox."""


class UnsafeLink(ValueError):
    """A signed link whose target is not an http(s) URL (never redirected to)."""


@dataclass(frozen=True)
class EmailTracking:
    store: OutboxStore
    secret: str
    landing: Landing | None = None

    def click(self, token: str, now: datetime) -> str:
        """Record the click of a tracked link and return where it leads (InvalidToken, UnknownMessage, UnsafeLink)."""
        key, url = verify_click(token, self.secret)
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise UnsafeLink(f"the link does not lead to a web page ({parts.scheme or 'no'} scheme)")
        self._record(self._row(key), "clicked", now, {"url": url})
        return url

    def open(self, token: str, now: datetime) -> None:
        """Record that the email's open pixel was loaded (InvalidToken, UnknownMessage)."""
        self._record(self._row(verify_open(token, self.secret)), "opened", now, None)

    def check_unsubscribe(self, token: str) -> Unsubscribe:
        """Who the token would unsubscribe, without doing it (for the confirmation page)."""
        found = verify_unsubscribe(token, self.secret)
        self._row(found.message_key)
        return found

    def unsubscribe(self, token: str, now: datetime) -> Unsubscribe:
        """Suppress the token's contact on its channel and record the unsubscribe on the message."""
        found = verify_unsubscribe(token, self.secret)
        row = self._row(found.message_key)
        self._record(row, "unsubscribed", now, {"channel": found.channel})
        self.store.suppress(reason=f"unsubscribed from message {found.message_key}", at=now,
                            contact_id=found.contact_id, channel=found.channel)
        return found

    def _row(self, key: str) -> OutboxRow:
        row = self.store.get(key)
        if row is None:
            raise UnknownMessage("this link belongs to no message of this workspace")
        return row

    def _record(self, row: OutboxRow, kind: str, now: datetime, detail: Mapping[str, Any] | None) -> bool:
        event = email_event(row, kind, now)
        if self.landing is not None and event is not None:
            self.landing([event])
        return self.store.record_event(f"{row.key}:{kind}", kind=kind, channel=row.channel, at=now, message_key=row.key,
                                       contact_id=row.contact_id, account_id=row.account_id, detail=detail)
