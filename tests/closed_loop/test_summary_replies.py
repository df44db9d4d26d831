"""The closed loop's summary counts the simulated replies, day by day, as the stored engagement events do.

The motion is the one of tests/engagement_features/reply_motion (one renewal email to the admin and champion of
every customer on the first loop day), with the renewal reply probability raised so replies are many.
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select

from longtail.core.revenue import arr_by_account
from longtail.runner.closed_loop import LoopSummary, run_closed_loop
from longtail.runner.daily import open_store
from longtail.settings import init_workspace, open_workspace
from longtail.sim import SimConfig
from longtail.sim.config import EffectsConfig
from longtail.store import tables
from longtail.store.entities import EntityStore

MOTION = Path(__file__).parents[1] / "engagement_features" / "reply_motion" / "motion"
ROLES = ("admin", "champion", "exec_sponsor", "billing", "power_user", "user")
REPLY = {"onboarding": 0.0, "adoption": 0.0, "renewal": 0.5, "rescue": 0.0, "newsletter": 0.0}
WARMUP, LOOP = 10, 4
CONFIG = SimConfig(accounts=40, days=WARMUP + LOOP, start=dt.date(2025, 1, 1), seed=5, truth_every=7,
                   effects=EffectsConfig(open_base=dict.fromkeys(ROLES, 0.9), reply_given_open=REPLY))


@pytest.fixture(scope="module")
def looped(tmp_path_factory: pytest.TempPathFactory) -> tuple[LoopSummary, Counter[dt.date], float]:
    root = tmp_path_factory.mktemp("summary_replies") / "ws"
    init_workspace(root)
    shutil.copytree(MOTION, root / "motion", dirs_exist_ok=True)
    ws = open_workspace(root, email_channel="sim")
    summary = run_closed_loop(ws, CONFIG, warmup_days=WARMUP, loop_days=LOOP, csm_capacity=0)
    ev = tables.engagement_events
    with open_store(ws).engine.connect() as conn:
        stamps = conn.execute(select(ev.c.at).where(ev.c.kind == "replied", ev.c.channel == "email")).scalars()
        per_day = Counter(at.date() for at in stamps)  # responses are stamped at noon UTC of their day
    loaded_arr = sum(arr_by_account(EntityStore(open_store(ws).engine).rows("subscriptions"),
                                    summary.days[-1].day).values())
    return summary, per_day, loaded_arr


def test_the_summary_counts_the_stored_replies(looped: tuple[LoopSummary, Counter[dt.date], float]) -> None:
    summary, per_day, _ = looped
    stored = sum(per_day.values())
    assert stored >= 5  # the world did reply, so the comparison below is not 0 == 0
    assert summary.totals()["replied"] == stored
    assert {d.day: d.replied for d in summary.days if d.replied} == dict(per_day)


def test_replies_are_a_part_of_the_opened(looped: tuple[LoopSummary, Counter[dt.date], float]) -> None:
    summary, _, _ = looped
    for day in summary.days:
        assert day.replied <= day.opened <= day.delivered


def test_the_loops_arr_is_the_arr_of_the_loaded_subscriptions(
        looped: tuple[LoopSummary, Counter[dt.date], float]) -> None:
    """The demo prints the world's live ARR; `longtail status` the ARR of the loaded subscription rows. They are
    the same number (a monthly billing day once wrote an overlapping second term, so status counted it twice)."""
    summary, _, loaded_arr = looped
    assert summary.arr_end > 0
    assert loaded_arr == pytest.approx(summary.arr_end, abs=0.01 * len(summary.days) + 0.01)
