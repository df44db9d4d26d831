"""The journey report: per journey, who entered, how far they got, what was sent and opened, how they left,
and whether the journey moved its goal (treated against held-out accounts, longtail.core.journeys.lift).

Read from the operational store only (enrollments, their tick log, outbox, engagement events), as of an instant:
enrollments that entered after `as_of` are left out, and so are exits and engagement recorded after it. The
ticks an enrollment ran after `as_of` are undone from its log (longtail.core.journeys.history.rewind): the steps
it ran, the visits it counted and the step it stood at are those as of `as_of`.

Or for a `Window` of entry [start, end): only enrollments that entered in it, observed as of the window's end
(exits, sends and engagement from `end` on are left out), and only the outbox rows and engagement of those
enrollments' own messages. The messages are picked by enrollment (each journey message's key is derived from
its enrollment, step and visit), not by send time: a window enrollment's email sent on the window's last day
counts, an older enrollment's email sent inside the window does not.

Definitions:

- **entered**: enrollments (one per contact and entry); **accounts**: distinct accounts among them.
- **reached** a step: for a step that runs (message, CTA, webhook, branch, ...) the enrollments that ran it at
  least once by `as_of`; for a `wait`/`wait_until`, those standing at it at `as_of` or that ran a step further
  down the list by then.
- **sent / opened / clicked** (message, webhook and Slack steps, treated enrollments only): the step's last
  message per enrollment as of `as_of` whose outbox row is `sent`; that has an `opened` (email) or `viewed`
  (in-app) event; that has a `clicked` event.
- **goal**: an account converted when one of its enrollments exited with "goal reached" by `as_of`. The unit
  is the account because the holdout is drawn per account. Exits are only checked while an enrollment is
  active, in both groups alike, so the comparison stays fair even though a goal reached after the journey
  ended is not seen.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, select

from longtail.core.journeys.engine import Enrollment, step_message_key
from longtail.core.journeys.history import rewind
from longtail.core.journeys.lift import MIN_GROUP, Lift, lift
from longtail.core.journeys.model import Journey
from longtail.store import tables
from longtail.store.enrollments import EnrollmentStore
from longtail.store.outbox import SENT

log = logging.getLogger(__name__)

GOAL_REASON = "exited: goal reached"
WAIT_TYPES = ("wait", "wait_until")
SENDING_TYPES = ("email", "in_app", "webhook", "slack")
OPEN_KINDS = frozenset({"opened", "viewed"})
CHUNK = 1_000
RATE_KINDS = ("delivered", "opened", "viewed", "clicked", "unsubscribed", "bounced")
"""The engagement kinds `channel_rates` reports as a share of the channel's sent messages."""


@dataclass(frozen=True)
class Window:
    """Enrollments that entered in [start, end) (`end` exclusive), observed as of just before `end`."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("a window's start and end must be time-zone aware")
        if self.end <= self.start:
            raise ValueError(f"a window's end ({self.end.isoformat()}) must be after its start "
                             f"({self.start.isoformat()})")

    @property
    def as_of(self) -> datetime:
        """The last instant whose outcomes count: `end` is exclusive, and stored instants have microseconds."""
        return self.end - timedelta(microseconds=1)

    def holds(self, at: datetime) -> bool:
        return self.start <= at < self.end


@dataclass(frozen=True)
class StepFunnel:
    step_id: str
    type: str
    reached: int
    sent: int | None = None
    opened: int | None = None
    clicked: int | None = None


@dataclass(frozen=True)
class JourneyStats:
    journey_id: str
    entered: int
    accounts: int
    treated_enrollments: int
    holdout_enrollments: int
    status: Mapping[str, int]
    exit_reasons: Mapping[str, int]
    funnel: Sequence[StepFunnel]
    channels: Mapping[str, Mapping[str, int]]
    """Per channel: outbox rows per status, and engagement events per kind (opened, clicked, unsubscribed...)."""
    goal: str | None
    lift: Lift | None
    notes: Sequence[str] = field(default_factory=tuple)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["funnel"] = [asdict(s) for s in self.funnel]
        if self.lift is not None:
            data["lift"] = {**asdict(self.lift), "treated_rate": self.lift.treated_rate,
                            "holdout_rate": self.lift.holdout_rate}
        return data


def _reached(journey: Journey, enrollments: Sequence[Enrollment]) -> list[int]:
    order = [s.id for s in journey.steps]
    counts = []
    for i, step in enumerate(journey.steps):
        if step.type in WAIT_TYPES:
            later = set(order[i + 1:])
            n = sum(1 for e in enrollments if e.step == i or any(e.visits.get(s, 0) > 0 for s in later))
        else:
            n = sum(1 for e in enrollments if e.visits.get(step.id, 0) > 0)
        counts.append(n)
    return counts


def journey_stats(journey: Journey, enrollments: Sequence[Enrollment], statuses: Mapping[str, str],
                  channels_of: Mapping[str, str], engagement: Mapping[str, frozenset[str]], *,
                  min_group: int = MIN_GROUP) -> JourneyStats:
    """The report of one journey from its enrollments (already cut at as_of) and its messages' outcomes.

    `statuses` and `channels_of` map outbox keys to their status and channel, `engagement` to event kinds.
    """
    treated = [e for e in enrollments if not e.holdout]
    funnel = []
    for step, reached in zip(journey.steps, _reached(journey, enrollments), strict=True):
        if step.type not in SENDING_TYPES:
            funnel.append(StepFunnel(step.id, step.type, reached))
            continue
        # The step's last visit per enrollment: the same key the engine gave its message, webhook or post.
        keys = [step_message_key(e.enrollment_id, step.id, e.visits[step.id]) for e in treated
                if e.visits.get(step.id, 0) > 0]
        sent = [k for k in keys if statuses.get(k) == SENT]
        funnel.append(StepFunnel(step.id, step.type, reached, len(sent),
                                 sum(1 for k in sent if engagement.get(k, frozenset()) & OPEN_KINDS),
                                 sum(1 for k in sent if "clicked" in engagement.get(k, frozenset()))))
    channels: dict[str, Counter[str]] = {}
    for key, channel in channels_of.items():
        bucket = channels.setdefault(channel, Counter())
        bucket[statuses.get(key, "unknown")] += 1
        # The outbox records a `sent` event along with the `sent` status (OutboxStore.mark_sent); the status
        # already counts the row, and counting the event too would report every sent message twice.
        for kind in sorted(engagement.get(key, frozenset()) - {SENT}):
            bucket[kind] += 1
    treated_accounts = {e.account_id for e in treated}
    holdout_accounts = {e.account_id for e in enrollments if e.holdout} - treated_accounts
    converted = {e.account_id for e in enrollments if e.exit_reason == GOAL_REASON}
    notes = []
    result: Lift | None = None
    if journey.goal is None:
        notes.append("the journey has no goal, so there is nothing to compare with the holdout")
    elif journey.holdout_pct == 0:
        notes.append("the journey has no holdout (holdout_pct: 0), so its effect cannot be measured")
    else:
        result = lift(len(treated_accounts), len(treated_accounts & converted), len(holdout_accounts),
                      len(holdout_accounts & converted), min_group)
    return JourneyStats(
        journey_id=journey.id, entered=len(enrollments), accounts=len({e.account_id for e in enrollments}),
        treated_enrollments=len(treated), holdout_enrollments=len(enrollments) - len(treated),
        status=dict(sorted(Counter(e.status for e in enrollments).items())),
        exit_reasons=dict(sorted(Counter(e.exit_reason or "" for e in enrollments if e.exit_reason).items())),
        funnel=tuple(funnel), channels={c: dict(sorted(v.items())) for c, v in sorted(channels.items())},
        goal=journey.goal, lift=result, notes=tuple(notes))


def channel_rates(channels: Mapping[str, Mapping[str, int]]) -> dict[str, dict[str, float | None]]:
    """Per channel, the share of its sent messages (outbox status `sent`) with each engagement kind of
    RATE_KINDS the channel recorded (delivered, opened or viewed, clicked, unsubscribed, bounced); None when
    nothing was sent. Each message counts once per kind, however many times it was opened or clicked."""
    rates: dict[str, dict[str, float | None]] = {}
    for channel, counts in channels.items():
        sent = counts.get(SENT, 0)
        rates[channel] = {kind: counts.get(kind, 0) / sent if sent else None for kind in RATE_KINDS
                          if kind in counts}
    return rates


def _as_of_view(e: Enrollment, as_of: datetime) -> Enrollment:
    """An enrollment that ended after `as_of` still counts as active at `as_of` (its exit had not happened)."""
    updated = e.updated_at or e.entered_at
    if e.status != "active" and updated > as_of:
        return Enrollment(e.enrollment_id, e.journey_id, e.account_id, e.contact_id, e.entered_at, e.holdout,
                          e.step, "active", None, None, e.updated_at, e.visits, e.sent, e.variant)
    return e


def _rewound(store: EnrollmentStore, journey: Journey, entered: Sequence[Enrollment], at: datetime
             ) -> list[Enrollment]:
    """`entered` as they stood at `at`: ticks logged after it undone, exits after it not yet happened."""
    later = store.log_after([e.enrollment_id for e in entered], at)
    out = [_as_of_view(rewind(e, journey, later[e.enrollment_id], at) if e.enrollment_id in later else e, at)
           for e in entered]
    # rewind puts an active enrollment past the last step only when the wait it stood at is gone from the journey.
    lost = sum(1 for e in out if e.enrollment_id in later and e.step >= len(journey.steps))
    if lost:
        log.warning("journey_report.position_unknown journey=%s as_of=%s enrollments=%d: the step they stood at "
                    "is not a step of the journey any more; they count at no wait step", journey.id,
                    at.isoformat(), lost)
    return out


def _message_keys(journey: Journey, enrollments: Sequence[Enrollment]) -> frozenset[str]:
    """The outbox keys every visit of a sending step of these enrollments produced (held-out ones produce none,
    which is harmless: their keys are simply not found)."""
    sending = {s.id for s in journey.steps if s.type in SENDING_TYPES}
    return frozenset(step_message_key(e.enrollment_id, step_id, visit) for e in enrollments
                     for step_id, visits in e.visits.items() if step_id in sending for visit in range(1, visits + 1))


def _outbox(engine: Engine, journey_id: str, as_of: datetime, only: frozenset[str] | None = None
            ) -> tuple[dict[str, str], dict[str, str], dict[str, frozenset[str]]]:
    """Outcomes of the journey's outbox rows created by `as_of` (restricted to the keys `only` when given)."""
    out, ev = tables.outbox, tables.engagement_events
    statuses: dict[str, str] = {}
    channels: dict[str, str] = {}
    found: dict[str, set[str]] = {}
    with engine.connect() as conn:
        for r in conn.execute(select(out.c.id, out.c.channel, out.c.status, out.c.sent_at)
                              .where(out.c.program == journey_id, out.c.created_at <= as_of)):
            if only is not None and r.id not in only:
                continue
            sent_at = r.sent_at.replace(tzinfo=UTC) if r.sent_at is not None and r.sent_at.tzinfo is None \
                else r.sent_at
            # A row sent after as_of was still waiting at as_of.
            statuses[r.id] = "pending" if r.status == SENT and sent_at is not None and sent_at > as_of else r.status
            channels[r.id] = r.channel
        keys = sorted(statuses)
        for start in range(0, len(keys), CHUNK):
            query = select(ev.c.message_key, ev.c.kind).where(ev.c.message_key.in_(keys[start:start + CHUNK]),
                                                              ev.c.at <= as_of)
            for hit in conn.execute(query):
                found.setdefault(hit.message_key, set()).add(hit.kind)
    return statuses, channels, {k: frozenset(v) for k, v in found.items()}


def journey_report(engine: Engine, journeys: Mapping[str, Journey], as_of: datetime | Window,
                   min_group: int = MIN_GROUP) -> list[JourneyStats]:
    """The report of every journey in `journeys`: cumulative as of the instant `as_of` (time-zone aware), or,
    given a `Window`, of the enrollments that entered in it, observed as of its end."""
    window = as_of if isinstance(as_of, Window) else None
    at = as_of.as_of if isinstance(as_of, Window) else as_of
    if at.tzinfo is None:
        raise ValueError("as_of must be time-zone aware")
    # Stored instants are UTC, and SQLite compares them as text without an offset: compare in UTC.
    at = at.astimezone(UTC)
    store = EnrollmentStore(engine)
    report = []
    for journey_id in sorted(journeys):
        entered = [e for e in store.all(journey_id) if (window.holds(e.entered_at) if window else e.entered_at <= at)]
        enrollments = _rewound(store, journeys[journey_id], entered, at)
        only = _message_keys(journeys[journey_id], enrollments) if window else None
        statuses, channels, engagement = _outbox(engine, journey_id, at, only)
        report.append(journey_stats(journeys[journey_id], enrollments, statuses, channels, engagement,
                                    min_group=min_group))
    return report
