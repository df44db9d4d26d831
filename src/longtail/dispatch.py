"""The dispatcher: claim due outbox rows, hand each to its channel, record the outcome.

Every outcome is committed on its own, right after the channel answered, so a crash can duplicate at most
the one message in flight (same Message-ID) and never loses one: its row stays `sending` until the lease
expires and another dispatcher claims it. The clock is read only through `now_fn`.

    python -m longtail.dispatch --database-url URL --channel smtp --smtp-host H --smtp-port P ...

runs one dispatcher without a workspace (used by the crash tests and benchmarks; `longtail dispatch` is
the command for people).

Routing: each outbox row names its channel. `dispatch_routed` drains the push channels it is given (email,
webhook, slack) one after the other, each through its own Channel. `in_app` rows are never pushed: they
wait in the outbox until the product fetches them (longtail.channels.inapp), which is when they count as
delivered.

Hard bounces: the row is failed, the address suppressed, a `bounced` engagement event recorded, and a
`longtail.email.bounced` warehouse event landed (through `landing`, or the channel's `bounce_landing`), so the
engagement feature emails_bounced_28d counts SMTP bounces like those the simulator reports. The event is landed
before the row is marked: a dispatcher that dies in between leaves the row to be re-claimed, bounced and landed
again with the same event_id, which the warehouse keeps once. A transient failure lands nothing.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from longtail.channels import Channel, ChannelDown, HardBounce, Landing, LandsBounces, PermanentError, TransientError
from longtail.channels.tracking import email_event
from longtail.store.outbox import OutboxRow, OutboxStore

log = logging.getLogger(__name__)

BACKOFF_BASE = timedelta(minutes=1)
BACKOFF_CAP = timedelta(hours=6)
DEFAULT_LEASE_SECONDS = 300.0
PUSH_CHANNELS: tuple[str, ...] = ("email", "webhook", "slack")
"""Channels a dispatcher sends; `in_app` is pulled by the product instead."""
PULL_CHANNELS: tuple[str, ...] = ("in_app",)


@dataclass
class DispatchCounts:
    """What one `dispatch` call did."""

    claimed: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0
    bounced: int = 0
    suppressed: int = 0
    released: int = 0
    stopped: str | None = None


def backoff(attempts: int, base: timedelta = BACKOFF_BASE, cap: timedelta = BACKOFF_CAP) -> timedelta:
    """Wait before retry number `attempts` (1 after the first failure): base * 2^(attempts-1), at most `cap`."""
    if attempts < 1:
        raise ValueError("attempts starts at 1")
    # Cap the exponent first: 2**attempts overflows timedelta long before it matters.
    wait: timedelta = base * 2 ** min(attempts - 1, 30)
    return min(cap, wait)


def _bounce_landing(channel: Channel, landing: Landing | None) -> Landing | None:
    """Where hard bounces land: the `landing` given, else the channel's own, else nowhere."""
    if landing is not None:
        return landing
    return channel.bounce_landing if isinstance(channel, LandsBounces) else None


def _deliver(store: OutboxStore, channel: Channel, row: OutboxRow, *, now_fn: Callable[[], datetime],
             max_attempts: int, counts: DispatchCounts, landing: Landing | None = None) -> None:
    """Send one row and commit its outcome; ChannelDown propagates after the row is scheduled for retry."""
    if row.attempts > max_attempts:
        store.mark_failed(row.key, f"gave up after {max_attempts} attempts: {row.last_error or 'no error recorded'}",
                          None, at=now_fn())
        counts.failed += 1
        return
    try:
        channel.send(row)
    except HardBounce as exc:
        at = now_fn()
        event = email_event(row, "bounced", at) if row.channel == "email" else None
        if landing is not None and event is not None:
            landing([event])  # first: see the module docstring
        store.mark_failed(row.key, str(exc), None, at=at, hard_bounce=True)
        counts.bounced += 1
    except PermanentError as exc:
        store.mark_failed(row.key, str(exc), None, at=now_fn())
        counts.failed += 1
    except TransientError as exc:
        now = now_fn()
        if row.attempts >= max_attempts:
            store.mark_failed(row.key, f"gave up after {row.attempts} attempts: {exc}", None, at=now)
            counts.failed += 1
        else:
            store.mark_failed(row.key, str(exc), now + backoff(row.attempts), at=now)
            counts.retried += 1
        if isinstance(exc, ChannelDown):
            raise
    else:
        store.mark_sent(row.key, now_fn())
        counts.sent += 1


# The positional parameters are the documented call shape: dispatch(store, channel, worker, now_fn).
def dispatch(  # noqa: PLR0917
    store: OutboxStore, channel: Channel, worker_id: str, now_fn: Callable[[], datetime],
    batch: int = 100, until_empty: bool = True, max_attempts: int = 5, *,
    lease_seconds: float = DEFAULT_LEASE_SECONDS, channel_name: str | None = "email", landing: Landing | None = None,
) -> DispatchCounts:
    """Deliver due rows of `channel_name` (every channel when None) in batches; one batch unless `until_empty`.

    Stops when a claim finds nothing due, or when the channel is down (the rest of the batch is released).
    A row claimed more than `max_attempts` times, or failing transiently on its last attempt, is failed.
    Hard bounces of email rows land through `landing`, or the channel's `bounce_landing` when not given.
    """
    counts = DispatchCounts()
    bounces = _bounce_landing(channel, landing)
    try:
        while True:
            rows = store.claim(worker_id, now_fn(), batch, lease_seconds, channel=channel_name)
            if not rows:
                break
            counts.claimed += len(rows)
            blocked = store.suppressed(rows)
            for i, row in enumerate(rows):
                if row.key in blocked:
                    store.mark_suppressed(row.key, blocked[row.key])
                    counts.suppressed += 1
                    continue
                try:
                    _deliver(store, channel, row, now_fn=now_fn, max_attempts=max_attempts, counts=counts,
                             landing=bounces)
                except ChannelDown as exc:
                    rest = [r.key for r in rows[i + 1 :]]
                    store.release(rest)
                    counts.released += len(rest)
                    counts.stopped = str(exc)
                    log.warning("channel down, stopping: %s", exc)
                    return counts
            if not until_empty:
                break
    finally:
        channel.close()
    return counts


def dispatch_routed(store: OutboxStore, channels: Mapping[str, Channel], worker_id: str,
                    now_fn: Callable[[], datetime], *, batch: int = 100, until_empty: bool = True,
                    max_attempts: int = 5, lease_seconds: float = DEFAULT_LEASE_SECONDS,
                    landing: Landing | None = None) -> dict[str, DispatchCounts]:
    """Drain each push channel in `channels` (name -> Channel) through `dispatch`; counts per channel name.

    A pull channel is refused: dispatching in-app rows would mark them sent before the product ever showed them.
    """
    pulled = sorted(set(channels) & set(PULL_CHANNELS))
    if pulled:
        raise ValueError(f"{', '.join(pulled)} messages are fetched by the product, not dispatched")
    unknown = sorted(set(channels) - set(PUSH_CHANNELS))
    if unknown:
        raise ValueError(f"unknown channel {', '.join(unknown)}; expected one of {', '.join(PUSH_CHANNELS)}")
    results: dict[str, DispatchCounts] = {}
    for name in PUSH_CHANNELS:
        if name in channels:
            results[name] = dispatch(store, channels[name], worker_id, now_fn, batch, until_empty, max_attempts,
                                     lease_seconds=lease_seconds, channel_name=name, landing=landing)
    return results


def _real_now() -> datetime:
    return datetime.now(UTC)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one dispatcher against a database URL (no workspace); prints the counts as JSON."""
    from longtail.channels.files import FileChannel
    from longtail.channels.smtp import SmtpChannel
    from longtail.store.db import make_engine, migrate

    ap = argparse.ArgumentParser(prog="python -m longtail.dispatch", description=main.__doc__)
    ap.add_argument("--database-url", required=True)
    ap.add_argument("--channel", choices=("smtp", "file"), default="smtp")
    ap.add_argument("--smtp-host", default="127.0.0.1")
    ap.add_argument("--smtp-port", type=int, default=25)
    ap.add_argument("--smtp-starttls", action="store_true")
    ap.add_argument("--from", dest="from_addr", default="longtail@localhost")
    ap.add_argument("--dir", type=Path, help="folder of the file channel")
    ap.add_argument("--worker", default="worker")
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--lease-seconds", type=float, default=DEFAULT_LEASE_SECONDS)
    ap.add_argument("--max-attempts", type=int, default=5)
    args = ap.parse_args(argv)
    engine = make_engine(args.database_url)
    migrate(engine)
    channel: Channel
    if args.channel == "smtp":
        channel = SmtpChannel(args.smtp_host, args.smtp_port, None, None, args.smtp_starttls, args.from_addr)
    else:
        if args.dir is None:
            ap.error("--dir is required with --channel file")
        channel = FileChannel(args.dir, args.from_addr)
    counts = dispatch(OutboxStore(engine), channel, args.worker, _real_now, batch=args.batch,
                      max_attempts=args.max_attempts, lease_seconds=args.lease_seconds)
    print(json.dumps(asdict(counts)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
