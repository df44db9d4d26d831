"""Shared simulated worlds: one mid-sized world written once per test session."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from longtail.sim import SimConfig, Summary, generate

# Mid-sized world for the calibration tests: big enough that tier rates have
# a standard error of about 1.5 points, small enough to build in a few seconds.
MID = SimConfig(accounts=4000, days=365, start=dt.date(2025, 1, 1), seed=2024)


@pytest.fixture(scope="session")
def mid_world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Summary, Path]:
    out = tmp_path_factory.mktemp("mid") / "world"
    return generate(MID, out, "parquet"), out
