"""Labels from what happened after each observation date: churn, expansion and inactivity (no I/O).

An observation is (account_id, as_of). Its label window is (as_of + lead, window_end]: what happens in the
first `lead` days after the observation cannot be acted on, so it is not what we predict. An observation whose
window ends after `data_end` is excluded (its outcome is not known yet), never counted as a negative.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

import pyarrow as pa

from longtail.core.motion.backtest import outcomes_from_subscriptions

Target = Literal["churn", "expansion"]
LabelKind = Literal["subscription", "inactivity"]

MONTHLY_GAP_DAYS = 45
"""A next renewal this close means a monthly plan: the window is then `MONTHLY_HORIZON_DAYS` instead."""
MONTHLY_HORIZON_DAYS = 90
MAX_RENEWAL_HORIZON_DAYS = 400
"""Renewal windows longer than this (multi-year terms) are cut: predicting two years out is not actionable."""


@dataclass(frozen=True)
class LabelSpec:
    """What a label means: target, kind, horizon (None = up to the next renewal), lead and thresholds."""

    target: Target = "churn"
    label: LabelKind = "subscription"
    horizon_days: int | None = None
    lead_days: int = 0
    expansion_threshold: float = 0.10
    reactivation_days: int = 30
    """A lapse followed by a new subscription within this many days is not a churn (a late renewal)."""
    qualifying_events: tuple[str, ...] = ()
    """Inactivity label: the events that count as activity (empty = every event)."""

    def __post_init__(self) -> None:
        if self.target not in ("churn", "expansion"):
            raise ValueError(f"target must be churn or expansion, not {self.target!r}")
        if self.label not in ("subscription", "inactivity"):
            raise ValueError(f"label must be subscription or inactivity, not {self.label!r}")
        if self.label == "inactivity" and self.target != "churn":
            raise ValueError("the inactivity label defines churn only (expansion needs subscriptions)")
        if self.horizon_days is not None and self.horizon_days < 1:
            raise ValueError(f"horizon must be at least 1 day, not {self.horizon_days}")
        if self.lead_days < 0:
            raise ValueError(f"lead must be 0 days or more, not {self.lead_days}")

    @property
    def fixed_horizon(self) -> int:
        """The horizon when it does not follow renewals (90 days by default)."""
        return self.horizon_days if self.horizon_days is not None else MONTHLY_HORIZON_DAYS

    @property
    def output_column(self) -> str:
        return "churn_risk" if self.target == "churn" else "expansion_propensity"


@dataclass(frozen=True)
class Labelled:
    """Labels for observations: kept rows only, with their window end (for purging time splits)."""

    account_id: list[str]
    as_of: list[date]
    label: list[int]
    window_end: list[date]

    def table(self) -> pa.Table:
        return pa.table({"account_id": pa.array(self.account_id, pa.string()),
                         "as_of": pa.array(self.as_of, pa.date32()),
                         "label": pa.array(self.label, pa.int8()),
                         "window_end": pa.array(self.window_end, pa.date32())})


class _Builder:
    def __init__(self) -> None:
        self.rows: tuple[list[str], list[date], list[int], list[date]] = ([], [], [], [])

    def add(self, account: str, day: date, label: int, end: date) -> None:
        for column, value in zip(self.rows, (account, day, label, end), strict=True):
            column.append(value)  # type: ignore[attr-defined]

    def done(self) -> Labelled:
        return Labelled(*self.rows)


@dataclass(frozen=True)
class _Term:
    start: date
    end: date | None
    mrr: float


def _terms(subs: pa.Table) -> dict[str, list[_Term]]:
    by_account: dict[str, list[_Term]] = defaultdict(list)
    cols = subs.select(["account_id", "start_date", "end_date", "mrr"]).to_pydict()
    for acc, start, end, mrr in zip(cols["account_id"], cols["start_date"], cols["end_date"], cols["mrr"],
                                    strict=True):
        by_account[acc].append(_Term(start, end, float(mrr or 0.0)))
    return by_account


def _active(terms: Sequence[_Term], day: date) -> bool:
    return any(t.start <= day and (t.end is None or t.end > day) for t in terms)


def _mrr(terms: Sequence[_Term], day: date) -> float:
    return sum(t.mrr for t in terms if t.start <= day and (t.end is None or t.end > day))


def _window_end(spec: LabelSpec, day: date, renewals: Sequence[date]) -> date:
    """The last day of the label window: fixed horizon, or the next renewal (90 days for monthly plans)."""
    start = day + timedelta(days=spec.lead_days)
    if spec.horizon_days is not None:
        return start + timedelta(days=spec.horizon_days)
    i = bisect.bisect_right(renewals, start)
    if i == len(renewals) or (renewals[i] - day).days <= MONTHLY_GAP_DAYS:
        return start + timedelta(days=MONTHLY_HORIZON_DAYS)
    return min(renewals[i], start + timedelta(days=MAX_RENEWAL_HORIZON_DAYS))


def subscription_labels(subs: pa.Table, observations: Iterable[tuple[str, date]], spec: LabelSpec,
                        data_end: date) -> Labelled:
    """Churn or expansion labels for observations of accounts active on their as_of date.

    Churn: a lapse (not followed by re-activation within `reactivation_days`) whose first inactive day is in the
    window. Expansion: MRR on some day of the window is at least (1 + threshold) x MRR on the as_of date.
    Observations of inactive accounts (or with no MRR, for expansion), or with a churn already inside the
    lead time, are dropped.
    """
    outcomes = outcomes_from_subscriptions(subs, data_end)
    churn_days: dict[str, list[date]] = defaultdict(list)
    churns = outcomes.churns(spec.reactivation_days).to_pydict()
    for acc, day in zip(churns["account_id"], churns["churn_day"], strict=True):
        churn_days[acc].append(day)
    renewals: dict[str, list[date]] = defaultdict(list)
    ren = outcomes.renewals.to_pydict()
    for acc, day in zip(ren["account_id"], ren["renewal_day"], strict=True):
        renewals[acc].append(day)
    terms = _terms(subs)
    out = _Builder()
    for acc, day in observations:
        mine = terms.get(acc, [])
        if not _active(mine, day):
            continue
        end = _window_end(spec, day, renewals.get(acc, []))
        if end > data_end:
            continue
        start = day + timedelta(days=spec.lead_days)
        lapses = [c for c in churn_days.get(acc, []) if day < c <= end]
        if any(c <= start for c in lapses):
            continue  # already gone before the window opens: nothing left to predict
        if spec.target == "churn":
            out.add(acc, day, int(bool(lapses)), end)
            continue
        base = _mrr(mine, day)
        if base <= 0:
            continue
        changes = [start + timedelta(days=1)] + [t.start for t in mine if start < t.start <= end]
        best = max(_mrr(mine, d) for d in changes)
        out.add(acc, day, int(best >= base * (1.0 + spec.expansion_threshold)), end)
    return out.done()


def inactivity_labels(event_days: Mapping[str, Sequence[date]], observations: Iterable[tuple[str, date]],
                      spec: LabelSpec, data_end: date) -> Labelled:
    """Disengagement: 1 when the account has no qualifying event in the window.

    `event_days` holds each account's sorted distinct days with a qualifying event. Only accounts with such an
    event in the `fixed_horizon` days up to as_of are observed: an account already silent has nothing to lose.
    """
    horizon = spec.fixed_horizon
    out = _Builder()
    for acc, day in observations:
        days = event_days.get(acc, [])
        since = bisect.bisect_left(days, day - timedelta(days=horizon - 1))
        if since >= len(days) or days[since] > day:
            continue
        start = day + timedelta(days=spec.lead_days)
        end = start + timedelta(days=horizon)
        if end > data_end:
            continue
        nxt = bisect.bisect_right(days, start)
        out.add(acc, day, int(nxt >= len(days) or days[nxt] > end), end)
    return out.done()
