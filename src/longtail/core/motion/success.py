"""Playbook success: each hit is checked against the playbook's success condition `horizon_days` later.

A hit on day d is due on d + horizon; it is checked on the first evaluation on or after that day, against
the account's row of that day. An account that is no longer in the day's table (it churned) failed. The
success rate of a playbook is successes / checked hits; hits not yet due are reported as pending.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from longtail.core.expressions import Condition, decide


@dataclass(frozen=True)
class SuccessCheck:
    playbook_id: str
    account_id: str
    hit_on: date
    due: date

    @classmethod
    def of(cls, playbook_id: str, account_id: str, hit_on: date, horizon_days: int) -> SuccessCheck:
        return cls(playbook_id, account_id, hit_on, hit_on + timedelta(days=horizon_days))


@dataclass(frozen=True)
class SuccessOutcome:
    check: SuccessCheck
    checked_on: date
    success: bool
    reason: str


def split_due(pending: Iterable[SuccessCheck], day: date) -> tuple[list[SuccessCheck], list[SuccessCheck]]:
    """(due on or before `day`, still pending)."""
    due: list[SuccessCheck] = []
    later: list[SuccessCheck] = []
    for check in pending:
        (due if check.due <= day else later).append(check)
    return due, later


def check_success(due: Sequence[SuccessCheck], conditions: Mapping[str, Condition],
                  rows: Mapping[str, Mapping[str, Any]], day: date) -> list[SuccessOutcome]:
    """Decide each due check on `day` with its playbook's condition and the account's row of that day."""
    outcomes = []
    for check in due:
        row = rows.get(check.account_id)
        if row is None:
            outcomes.append(SuccessOutcome(check, day, False, "the account is no longer a customer"))
            continue
        decision = decide(conditions[check.playbook_id], row)
        outcomes.append(SuccessOutcome(check, day, decision.result, decision.reason))
    return outcomes


@dataclass(frozen=True)
class SuccessRate:
    checked: int
    succeeded: int
    pending: int

    @property
    def rate(self) -> float | None:
        return None if self.checked == 0 else self.succeeded / self.checked

    def as_dict(self) -> dict[str, Any]:
        return {"success_checked": self.checked, "success_succeeded": self.succeeded,
                "success_pending": self.pending, "success_rate": self.rate}


def success_rate(outcomes: Iterable[SuccessOutcome], pending: int) -> SuccessRate:
    results = [o.success for o in outcomes]
    return SuccessRate(len(results), sum(results), pending)
