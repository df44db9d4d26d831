"""Delivery channels: what the dispatcher hands a claimed outbox row to.

A channel's `send(row)` returns when the message was accepted and raises one of the errors below otherwise;
the dispatcher turns the error into the row's next status. `close()` ends whatever connection the channel
kept open across a batch.
"""

from __future__ import annotations

from typing import Protocol

from longtail.store.outbox import OutboxRow


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


__all__ = ["Channel", "ChannelDown", "DeliveryError", "HardBounce", "PermanentError", "TransientError"]
