"""Builders shared by the contact-policy tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from longtail.core.journeys.policy import Candidate, Cap, Channel, ContactPolicy, QuietHours, Sent

NOW = datetime(2025, 3, 4, 16, 0, tzinfo=UTC)  # a Tuesday


def cand(key: str, *, contact: str = "c1", account: str = "a1", channel: Channel = "email", priority: int = 50,
         due: datetime = NOW, **kw: Any) -> Candidate:
    """A candidate with sensible defaults (an email address, program j1)."""
    kw.setdefault("email", f"{contact}@example.test")
    kw.setdefault("program", "j1")
    return Candidate(key=key, contact_id=contact, account_id=account, channel=channel, priority=priority, due=due,
                     **kw)


def sent(contact: str = "c1", account: str = "a1", channel: Channel = "email", *, ago: timedelta,
         now: datetime = NOW) -> Sent:
    return Sent(contact, account, channel, now - ago)


def policy(per_day: int | None = None, per_7_days: int | None = None, *, acct_day: int | None = None,
           acct_7d: int | None = None, quiet: QuietHours | None = None, **kw: Any) -> ContactPolicy:
    """Email caps for contacts (and optionally accounts); nothing else unless given."""
    contact = {"email": Cap(per_day, per_7_days)} if per_day or per_7_days else {}
    account = {"email": Cap(acct_day, acct_7d)} if acct_day or acct_7d else {}
    return ContactPolicy(contact_caps=contact, account_caps=account, quiet_hours=quiet, **kw)


def by_key(verdicts: list[Any]) -> dict[str, Any]:
    return {v.key: v for v in verdicts}
