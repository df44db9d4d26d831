"""For any sequence of daily request batches (with clears, snoozes and closes), one active CTA per key."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st

from longtail.core.motion.ctas import Cta, CtaRequest, cancel, hold_if_flooding, plan_ctas, snooze
from tests.motion_ctas.helpers import D0, active, apply, req

requests = st.builds(
    req,
    account=st.sampled_from(["a1", "a2", "a3"]),
    reason=st.sampled_from(["usage dropped", "renewal soon"]),
    priority=st.sampled_from(["low", "medium", "high", "urgent"]),
    auto_close=st.booleans(),
)
days = st.lists(
    st.tuples(
        st.lists(requests, max_size=6),
        st.lists(st.tuples(st.sampled_from(["a1", "a2", "a3"]), st.sampled_from(["usage dropped", "renewal soon"])),
                 max_size=3),
        st.sampled_from(["none", "snooze", "cancel"]),
        st.one_of(st.none(), st.integers(0, 3)),
    ),
    min_size=1,
    max_size=8,
)


@given(days)
def test_at_most_one_active_cta_per_key_and_replans_are_empty(schedule: list[tuple[list[CtaRequest], list[tuple[
        str, str]], str, int | None]]) -> None:
    state: dict[str, Cta] = {}
    for offset, (batch, cleared_pairs, human, limit) in enumerate(schedule):
        day = D0 + timedelta(days=offset)
        cleared = {(a, "risk", r) for a, r in cleared_pairs}
        effects, _ = hold_if_flooding(plan_ctas(batch, active(state), day, cleared=cleared), limit)
        state = apply(state, effects, day)
        keys = Counter(c.key for c in active(state))
        assert all(n == 1 for n in keys.values()), keys
        assert plan_ctas(batch, active(state), day, cleared=cleared) == ()
        # a human touches the first workable CTA: the invariant must survive their moves too
        workable = sorted((c for c in active(state) if c.status in ("open", "in_progress")), key=lambda c: c.cta_id)
        if workable and human == "snooze":
            state[workable[0].cta_id] = snooze(workable[0], day + timedelta(days=2), "later", day)
        elif workable and human == "cancel":
            state[workable[0].cta_id] = cancel(workable[0], day, "not needed")


@given(st.lists(st.sampled_from(["low", "medium", "high", "urgent"]), min_size=1, max_size=6))
def test_priority_never_falls(sequence: list[str]) -> None:
    state: dict[str, Cta] = {}
    rank = {"low": 0, "medium": 1, "high": 2, "urgent": 3}
    for offset, priority in enumerate(sequence):
        day = D0 + timedelta(days=offset)
        state = apply(state, plan_ctas([req(priority=priority)], active(state), day), day)  # type: ignore[arg-type]
        (only,) = state.values()
        assert only.priority == max(sequence[: offset + 1], key=rank.__getitem__)
