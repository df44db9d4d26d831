"""Closed loop: the simulator's replies reach the journey engine (a `branch` on `replied`) and the features.

One small world runs through `run_closed_loop` with the motion in `reply_motion/` (see its README): the admin and
champion of every customer get one renewal email on the first loop day, and two days later the journey branches
on whether they replied. The test raises the renewal reply probability so both paths are well populated.
"""

from __future__ import annotations

import datetime as dt
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select

from longtail.analytics.features import features_as_of
from longtail.core.journeys.engine import Enrollment
from longtail.runner.closed_loop import run_closed_loop
from longtail.runner.daily import open_store
from longtail.settings import Workspace, init_workspace, open_workspace
from longtail.sim import SimConfig
from longtail.sim.config import EffectsConfig
from longtail.store import tables
from longtail.store.enrollments import EnrollmentStore

FIXTURE = Path(__file__).parent / "reply_motion"
JOURNEY = "renewal_check"
ROLES = ("admin", "champion", "exec_sponsor", "billing", "power_user", "user")
REPLY = {"onboarding": 0.0, "adoption": 0.0, "renewal": 0.5, "rescue": 0.0, "newsletter": 0.0}
EFFECTS = EffectsConfig(open_base=dict.fromkeys(ROLES, 0.9), reply_given_open=REPLY)
ACCOUNTS, WARMUP, LOOP = 60, 10, 4
CONFIG = SimConfig(accounts=ACCOUNTS, days=WARMUP + LOOP, start=dt.date(2025, 1, 1), seed=3, truth_every=7,
                   effects=EFFECTS)
STEPS = ("ask", "pause", "did_reply", "replied_path", "silent_path")
"""The journey's steps in order (reply_motion/motion/journeys/renewal_check.yml)."""
LAST_DAY = CONFIG.start + dt.timedelta(days=WARMUP + LOOP - 1)


@dataclass(frozen=True)
class Loop:
    ws: Workspace
    enrollments: list[Enrollment]
    engagement: list[dict[str, Any]]


@pytest.fixture(scope="module")
def loop(tmp_path_factory: pytest.TempPathFactory) -> Loop:
    root = tmp_path_factory.mktemp("reply_loop") / "ws"
    ws = init_workspace(root)
    shutil.copytree(FIXTURE / "motion", ws.root / "motion", dirs_exist_ok=True)
    ws = open_workspace(root, email_channel="sim")
    run_closed_loop(ws, CONFIG, warmup_days=WARMUP, loop_days=LOOP, csm_capacity=0)
    engine = open_store(ws).engine
    with engine.connect() as conn:
        engagement = [dict(r) for r in conn.execute(select(tables.engagement_events)).mappings()]
    return Loop(ws, EnrollmentStore(engine).all(JOURNEY), engagement)


def _kinds(loop: Loop) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for e in loop.engagement:
        out.setdefault(str(e["message_key"]), set()).add(str(e["kind"]))
    return out


def test_replies_come_back_and_only_to_opened_emails(loop: Loop) -> None:
    kinds = _kinds(loop)
    replied = [k for k, v in kinds.items() if "replied" in v]
    assert len(replied) >= 10
    assert all({"delivered", "opened"} <= kinds[k] for k in replied)


def test_the_branch_on_replied_sends_repliers_down_the_yes_path(loop: Loop) -> None:
    kinds = _kinds(loop)
    spec = yaml.safe_load((FIXTURE / "motion" / "journeys" / f"{JOURNEY}.yml").read_text(encoding="utf-8"))
    assert tuple(step["id"] for step in spec["journeys"][0]["steps"]) == STEPS
    branched = [e for e in loop.enrollments if e.visits.get("did_reply")]
    assert len(branched) >= 40
    # Both paths wait longer than the loop, so an enrollment's step says where the branch sent it.
    yes = [e for e in branched if STEPS[e.step] == "replied_path"]
    no = [e for e in branched if STEPS[e.step] == "silent_path"]
    assert len(yes) >= 10 and len(no) >= 10 and len(yes) + len(no) == len(branched)
    # Exactly the contacts whose email was replied to took the yes path.
    for e in branched:
        assert ("replied" in kinds.get(e.sent["ask"], set())) == (STEPS[e.step] == "replied_path"), e.contact_id


def test_replies_become_features(loop: Loop) -> None:
    table = features_as_of(loop.ws, LAST_DAY, scores=False).to_pylist()
    per_account: dict[str, dict[str, int]] = {}
    for e in loop.engagement:
        if e["channel"] == "email" and e["account_id"]:
            counts = per_account.setdefault(str(e["account_id"]), {})
            counts[str(e["kind"])] = counts.get(str(e["kind"]), 0) + 1
    rows = {r["account_id"]: r for r in table}
    assert sum(r["emails_replied_28d"] for r in table) >= 10
    for account, counts in per_account.items():
        row = rows[account]
        for kind in ("delivered", "opened", "replied", "clicked", "bounced", "unsubscribed"):
            assert row[f"emails_{kind}_28d"] == counts.get(kind, 0), (account, kind)
        if counts.get("opened") or counts.get("replied"):
            assert row["days_since_email_engagement"] is not None and row["days_since_email_engagement"] <= LOOP
