"""An enrollment as it stood at an earlier instant, rebuilt from the trails of its ticks (table `enrollment_log`).

An enrollment row holds only its current state; the log keeps, per tick that changed it, the instant and the
engine's sentences (`Tick.trail`). Those sentences are enough to undo the ticks after an instant:

- every run of a non-wait step adds one visit (`_Runner.visit`) and exactly one sentence that names it: "<id>:
  email <key>", "<id>: in_app <key>", "<id>: CTA ...", "<id>: webhook ...", "<id>: slack", "<id>: branch -> ...",
  "<id>: split -> variant ...", and for an exit step "exited: exit step <id>". A wait step adds no visit (its
  sentences, "waiting until", "waited until it happened" and "timed out", are not counted);
- a tick that leaves an enrollment active always ends at a wait it has just reached, with the sentence "<id>:
  waiting until <instant>" (a tick that stays inside a wait it was already in changes nothing and is not
  logged). So the step an enrollment stood at after a tick is named by the last sentence of that tick;
- an enrollment with a tick after the instant was active at the instant (an ended enrollment is never ticked
  again), at the step its last tick at or before the instant left it, or at the first step when it had none.

The sentences matched here are those `longtail.core.journeys.engine` writes; tests/journeys_report replays the
engine tick by tick to keep the two in step.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from longtail.core.journeys.engine import Enrollment, step_message_key
from longtail.core.journeys.model import Journey

WAIT_TYPES = ("wait", "wait_until")
MESSAGE_TYPES = ("email", "in_app")
HELD = " (held out: not sent)"
"""What the engine appends to the sentence of a step a held-out enrollment does not send."""
_PREFIX = {"email": "{id}: email ", "in_app": "{id}: in_app ", "cta": "{id}: CTA ", "webhook": "{id}: webhook ",
           "branch": "{id}: branch -> ", "split": "{id}: split -> variant "}
"""The start of the one sentence each run of a step of this type writes (slack and exit are matched whole)."""


@dataclass(frozen=True)
class LoggedTick:
    """One row of `enrollment_log`: a tick that changed the enrollment, at `at`, and what it did."""

    at: datetime
    trail: tuple[str, ...]


def _visited(journey: Journey, line: str) -> str | None:
    """The id of the non-wait step whose run wrote `line`, or None for any other sentence."""
    head = line.split(": ", 1)[0]
    if line.startswith("exited: exit step "):
        step_id = line.removeprefix("exited: exit step ")
        return step_id if any(s.id == step_id and s.type == "exit" for s in journey.steps) else None
    step = next((s for s in journey.steps if s.id == head), None)
    if step is None or step.type in WAIT_TYPES or step.type == "exit":
        return None
    if step.type == "slack":
        return step.id if line in (f"{step.id}: slack", f"{step.id}: slack{HELD}") else None
    return step.id if line.startswith(_PREFIX[step.type].format(id=step.id)) else None


def visits_of(journey: Journey, trail: Sequence[str]) -> Counter[str]:
    """Step id -> how many visits the tick that wrote `trail` added (as `Enrollment.visits` counts them)."""
    return Counter(step_id for line in trail if (step_id := _visited(journey, line)) is not None)


def waiting_at(journey: Journey, trail: Sequence[str]) -> tuple[int, datetime] | None:
    """The index of the wait step a tick left the enrollment at, and the instant it waits until: read from the
    tick's last sentence. None when the tick did not end waiting at a step of this version of the journey."""
    if not trail:
        return None
    for i, step in enumerate(journey.steps):
        prefix = f"{step.id}: waiting until "
        if step.type in WAIT_TYPES and trail[-1].startswith(prefix):
            try:
                return i, datetime.fromisoformat(trail[-1].removeprefix(prefix))
            except ValueError:
                return None  # not an instant the engine wrote: the position is unknown, as documented above
    return None


def rewind(e: Enrollment, journey: Journey, log: Sequence[LoggedTick], instant: datetime) -> Enrollment:
    """`e` (its current state) as it stood at `instant`, given the enrollment's logged ticks `log` (any order).

    Ticks after `instant` are undone: their visits are taken off `visits`, `sent` names again the last message
    each message step produced by then, the enrollment is active (an ended enrollment is not ticked again), at
    the wait its last earlier tick left it at (the first step when it had none), with that tick's `updated_at`
    and `wait_until`, and the variant of the last split it ran by then. Without ticks after `instant`, `e` is
    returned as it is. When the position cannot be read from the log (the journey was edited since, and the wait
    it stood at is no longer a step of it), `step` is `len(journey.steps)`: at no step of this definition.
    """
    ordered = sorted(log, key=lambda t: t.at)
    later = [t for t in ordered if t.at > instant]
    if not later:
        return e
    earlier = [t for t in ordered if t.at <= instant]
    undone = Counter[str]()
    for t in later:
        undone.update(visits_of(journey, t.trail))
    visits = {s: n - undone[s] for s, n in e.visits.items() if n - undone[s] > 0}
    sent = {s: k for s, k in e.sent.items() if undone[s] == 0}
    message_steps = {s.id for s in journey.steps if s.type in MESSAGE_TYPES}
    sent.update({s: step_message_key(e.enrollment_id, s, visits[s]) for s in undone if s in message_steps
                 and s in visits})
    step, until = 0, None
    if earlier:
        position = waiting_at(journey, earlier[-1].trail)
        step, until = position if position is not None else (len(journey.steps), None)
    variant = e.variant
    if any(_split_variant(journey, line) is not None for t in later for line in t.trail):
        chosen = [v for t in earlier for line in t.trail if (v := _split_variant(journey, line)) is not None]
        variant = chosen[-1] if chosen else None
    return replace(e, step=step, status="active", wait_until=until, exit_reason=None,
                   updated_at=earlier[-1].at if earlier else e.entered_at, visits=visits, sent=sent,
                   variant=variant)


def _split_variant(journey: Journey, line: str) -> str | None:
    """The variant a split step's sentence names, or None for any other sentence."""
    step_id = _visited(journey, line)
    if step_id is None or not any(s.id == step_id and s.type == "split" for s in journey.steps):
        return None
    return line.removeprefix(f"{step_id}: split -> variant ")
