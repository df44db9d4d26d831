"""Delivery channels: what the dispatcher hands a claimed outbox row to.

A channel's `send(row)` returns when the message was accepted and raises one of the errors below otherwise;
the dispatcher turns the error into the row's next status. `close()` ends whatever connection the channel
kept open across a batch.

A channel may also carry `bounce_landing` (see `LandsBounces`): where the dispatcher lands a hard bounce as a
`longtail.email.bounced` warehouse event. The dispatcher does the landing because it holds the clock.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from longtail.store.outbox import OutboxRow

Landing = Callable[[Sequence[Mapping[str, Any]]], None]
"""Writes warehouse event rows (`longtail.channels.inapp.warehouse_landing` writes a workspace's landing folder)."""


class DeliveryError(Exception):
    """A send that did not go through."""


class TransientError(DeliveryError):
    """Worth retrying later (4xx reply, connection trouble)."""


class ChannelDown(TransientError):
    """The channel itself is unreachable: the dispatcher stops and gives the rest of its batch back."""


class PermanentError(DeliveryError):
    """Retrying will not help (5xx reply, malformed message)."""


class HardBounce(PermanentError):
    """The recipient does not exist or refuses mail: the address gets suppressed."""


class Channel(Protocol):
    """Something that delivers outbox rows."""

    def send(self, row: OutboxRow) -> None:
        """Deliver `row`, or raise TransientError / PermanentError / HardBounce."""

    def close(self) -> None:
        """Release connections kept open across a batch."""


@runtime_checkable
class LandsBounces(Protocol):
    """A channel that knows where its hard bounces land as warehouse events (None: nowhere)."""

    bounce_landing: Landing | None


__all__ = ["Channel", "ChannelDown", "DeliveryError", "HardBounce", "Landing", "LandsBounces", "PermanentError",
           "TransientError"]
