"""Closed loop: the journey report's holdout lift recovers the simulator's true effect (issue 6).

Two workspaces run the same seeded world (`CONFIG`) through `run_closed_loop`:

* **A** (`holdout_motion/motion`): one journey, `onboarding_push`, entering on its own trigger (no playbook),
  enrolls the admin and champion of every customer not yet activated on the first loop day, holds out 50% of the
  accounts, sends the others one onboarding email through the `sim` channel and then waits longer than the loop,
  so every enrollment stays active and its goal (`activations >= 1`: the simulator recorded `account_activated`)
  is checked on every loop day.
* **B**: the same motion, but the journey has no email step and no holdout (`holdout_motion/counterfactual`). It
  sends nothing, so with common random numbers B's world is the exact counterfactual of A's; and since it enrolls
  the same contacts and checks the same goal with the same engine, an account's outcome in B is measured exactly
  as the report measures it in A. (An empty motion would leave nothing that judges the goal in B; re-evaluating
  the condition by hand on B's features could drift from what the engine does.)

**Truth**: among the accounts treated in A, the share converted in A minus the share of the same accounts
converted in B, where converted means what the report counts: an enrollment of the account exited "goal reached"
(exits are checked while the enrollment is active, which here is the whole loop). It is the effect on the
treated, with no sampling error of its own: both terms are the same accounts.

**Estimate**: the report's lift, treated rate minus holdout rate in A, with Newcombe's 95% interval.
The held-out accounts are untouched in A, so their outcomes equal B's (asserted); hence
`estimate - truth = rate_B(treated) - rate_B(holdout)`: the difference between two random halves of one
untreated population, whose standard error is known. That is the tolerance of the point estimate.

To make the effect measurable with a few hundred accounts, the test raises the email's effect through
`EffectsConfig`: opens and clicks are far likelier than by default and onboarding help multiplies milestone
hazards by `BOOST` for `BOOST_DAYS` days (defaults 2.5 and 30).
"""

from __future__ import annotations

import datetime as dt
import math
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from longtail.core.journeys.engine import Enrollment
from longtail.core.journeys.lift import Lift
from longtail.runner.closed_loop import LoopSummary, run_closed_loop
from longtail.runner.daily import context, open_store
from longtail.runner.journey_report import GOAL_REASON, journey_report
from longtail.settings import Workspace, init_workspace, open_workspace
from longtail.sim import SimConfig
from longtail.sim.config import EffectsConfig
from longtail.store import tables
from longtail.store.enrollments import EnrollmentStore

pytestmark = pytest.mark.slow

FIXTURE = Path(__file__).parent / "holdout_motion"
JOURNEY = "onboarding_push"
ACCOUNTS, WARMUP, LOOP = 400, 14, 16
BOOST, BOOST_DAYS = 10.0, 60
ROLES = ("admin", "champion", "exec_sponsor", "billing", "power_user", "user")
EFFECTS = EffectsConfig(open_base=dict.fromkeys(ROLES, 0.9), click_given_open=0.9, onboarding_boost=BOOST,
                        onboarding_boost_days=BOOST_DAYS)
CONFIG = SimConfig(accounts=ACCOUNTS, days=WARMUP + LOOP, start=dt.date(2025, 1, 1), seed=5, truth_every=7,
                   effects=EFFECTS)
LAST_DAY = CONFIG.start + dt.timedelta(days=WARMUP + LOOP - 1)
AS_OF = dt.datetime.combine(LAST_DAY + dt.timedelta(days=1), dt.time(0), tzinfo=dt.UTC) - dt.timedelta(microseconds=1)
MIN_TRUE_EFFECT = 0.15
"""The true effect must be at least this large, so a treatment that did nothing would fail the test."""


@dataclass(frozen=True)
class Run:
    ws: Workspace
    summary: LoopSummary
    enrollments: tuple[Enrollment, ...]

    def converted(self) -> set[str]:
        """Accounts with an enrollment that exited "goal reached": what the report counts as converted."""
        return {e.account_id for e in self.enrollments if e.exit_reason == GOAL_REASON}


@dataclass(frozen=True)
class Pair:
    a: Run
    b: Run
    treated: frozenset[str]
    holdout: frozenset[str]
    lift: Lift


def _workspace(root: Path, counterfactual: bool) -> Workspace:
    ws = init_workspace(root)
    shutil.copytree(FIXTURE / "motion", ws.root / "motion", dirs_exist_ok=True)
    if counterfactual:
        # B's journey replaces A's: same id, entry, goal and exits; no email and no holdout.
        journeys = ws.root / "motion" / "journeys"
        shutil.copyfile(FIXTURE / "counterfactual" / f"{JOURNEY}.yml", journeys / "onboarding.yml")
    return open_workspace(root, email_channel="sim", holdout_salt="holdout-truth")


def _run(root: Path, counterfactual: bool) -> Run:
    ws = _workspace(root, counterfactual)
    summary = run_closed_loop(ws, CONFIG, warmup_days=WARMUP, loop_days=LOOP, csm_capacity=0)
    enrollments = tuple(EnrollmentStore(open_store(ws).engine).all(JOURNEY))
    return Run(ws, summary, enrollments)


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Pair:
    root = tmp_path_factory.mktemp("holdout_truth")
    a, b = _run(root / "a", counterfactual=False), _run(root / "b", counterfactual=True)
    treated = frozenset(e.account_id for e in a.enrollments if not e.holdout)
    holdout = frozenset(e.account_id for e in a.enrollments if e.holdout) - treated
    jc = context(a.ws).journeys
    assert jc is not None
    (stats,) = journey_report(open_store(a.ws).engine, {JOURNEY: jc.journeys.journeys[JOURNEY]}, AS_OF)
    assert stats.lift is not None
    return Pair(a, b, treated, holdout, stats.lift)


def _outbox(ws: Workspace) -> list[dict[str, Any]]:
    with open_store(ws).engine.connect() as conn:
        return [dict(r) for r in conn.execute(select(tables.outbox)).mappings()]


def _entries(enrollments: Sequence[Enrollment]) -> set[tuple[str, str, dt.datetime]]:
    return {(e.account_id, e.contact_id, e.entered_at) for e in enrollments}


def test_both_worlds_enroll_the_same_contacts_and_only_a_sends(pair: Pair) -> None:
    a, b = pair.a, pair.b
    assert len(pair.treated) >= 100 and len(pair.holdout) >= 100
    assert not pair.treated & pair.holdout  # the holdout is drawn per account
    # Most enter on the first loop day, before any message reached the world; later ones are accounts that sign up
    # during the loop, or a replacement champion. Entry does not depend on the treatment: the same in both worlds.
    assert _entries(a.enrollments) == _entries(b.enrollments)
    first = sum(e.entered_at.date() == LAST_DAY - dt.timedelta(days=LOOP - 1) for e in a.enrollments)
    assert first >= 0.9 * len(a.enrollments)
    assert a.summary.totals()["interventions"] > 0
    assert b.summary.totals()["interventions"] == 0 and _outbox(b.ws) == []


def test_held_out_accounts_get_no_journey_message(pair: Pair) -> None:
    rows = [r for r in _outbox(pair.a.ws) if r["program"] == JOURNEY]
    sent_to = {r["account_id"] for r in rows if r["status"] == "sent"}
    assert {r["account_id"] for r in rows} <= pair.treated
    # Every treated enrollment got its email (no caps, no quiet hours in this motion).
    assert len([r for r in rows if r["status"] == "sent"]) == sum(not e.holdout for e in pair.a.enrollments)
    assert sent_to == pair.treated


def test_held_out_accounts_end_exactly_as_in_the_counterfactual(pair: Pair) -> None:
    # Common random numbers: nothing reached the held-out accounts, so each one converts in A exactly when it
    # does in B. A leak of treatment into the holdout would show here.
    assert pair.holdout & pair.a.converted() == pair.holdout & pair.b.converted()
    assert pair.treated & pair.a.converted() != pair.treated & pair.b.converted()


def test_report_lift_recovers_the_true_effect(pair: Pair) -> None:
    lift, treated, holdout = pair.lift, pair.treated, pair.holdout
    conv_a, conv_b = pair.a.converted(), pair.b.converted()
    # The report counts what this test counts.
    assert (lift.treated, lift.treated_converted) == (len(treated), len(treated & conv_a))
    assert (lift.holdout, lift.holdout_converted) == (len(holdout), len(holdout & conv_a))
    assert lift.difference is not None
    diff = lift.difference

    truth = (len(treated & conv_a) - len(treated & conv_b)) / len(treated)
    assert truth >= MIN_TRUE_EFFECT
    # The 95% interval covers the truth and excludes zero.
    assert diff.low <= truth <= diff.high
    assert diff.low > 0
    # estimate - truth = rate_B(treated) - rate_B(holdout): two random halves of one untreated population.
    untreated = len((treated | holdout) & conv_b) / len(treated | holdout)
    se = math.sqrt(untreated * (1 - untreated) * (1 / len(treated) + 1 / len(holdout)))
    assert abs(diff.estimate - truth) <= 2 * se
