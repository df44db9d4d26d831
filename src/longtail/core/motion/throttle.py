"""Cooldowns and caps: a trigger that would fire again too soon, or too often, is suppressed with a reason.

`history` holds the days a trigger fired (and was not suppressed) per account, before `as_of`; fires on
`as_of` itself are ignored so that running the same day twice decides the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from longtail.core.motion.definitions import Cap


@dataclass(frozen=True)
class Verdict:
    account_id: str
    allowed: bool
    reason: str


def throttle(accounts: Iterable[str], history: Mapping[str, Sequence[date]], as_of: date, *,
             cooldown_days: int, cap: Cap | None) -> list[Verdict]:
    """One verdict per candidate account, in the order given."""
    verdicts: list[Verdict] = []
    for account in accounts:
        earlier = sorted(d for d in history.get(account, ()) if d < as_of)
        verdicts.append(_verdict(account, earlier, as_of, cooldown_days, cap))
    return verdicts


def _verdict(account: str, earlier: list[date], as_of: date, cooldown_days: int, cap: Cap | None) -> Verdict:
    if earlier and cooldown_days and (as_of - earlier[-1]).days < cooldown_days:
        until = earlier[-1] + timedelta(days=cooldown_days)
        return Verdict(account, False, f"cooldown: fired on {earlier[-1].isoformat()}, quiet until {until.isoformat()}")
    if cap is not None:
        since = as_of - timedelta(days=cap.per_days - 1)
        recent = [d for d in earlier if d >= since]
        if len(recent) >= cap.fires:
            return Verdict(account, False, f"cap: already fired {len(recent)} time(s) in the {cap.per_days} days "
                           f"since {since.isoformat()} (cap {cap.fires})")
    return Verdict(account, True, "allowed")
