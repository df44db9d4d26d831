"""A small simulated workspace run in closed loop once per test session (150 accounts, 20 loop days)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import pytest

from longtail.runner.closed_loop import LoopSummary, WorldOutcome, counterfactual, run_closed_loop
from longtail.settings import Workspace, copy_example, init_workspace, open_workspace
from longtail.sim import SimConfig

ACCOUNTS, WARMUP, LOOP, CAPACITY = 150, 60, 20, 3
CONFIG = SimConfig(accounts=ACCOUNTS, days=WARMUP + LOOP, start=dt.date(2025, 1, 1), seed=11, truth_every=7)


def sim_workspace(root: Path) -> Workspace:
    """A workspace with the example motion whose email goes to the simulator."""
    ws = init_workspace(root)
    copy_example(ws)
    return open_workspace(root, email_channel="sim")


@dataclass(frozen=True)
class Looped:
    ws: Workspace
    summary: LoopSummary
    alone: WorldOutcome


@pytest.fixture(scope="session")
def looped(tmp_path_factory: pytest.TempPathFactory) -> Looped:
    ws = sim_workspace(tmp_path_factory.mktemp("closed_loop") / "ws")
    summary = run_closed_loop(ws, CONFIG, warmup_days=WARMUP, loop_days=LOOP, csm_capacity=CAPACITY)
    return Looped(ws, summary, counterfactual(CONFIG, warmup_days=WARMUP, loop_days=LOOP))
