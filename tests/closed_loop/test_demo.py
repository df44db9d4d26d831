"""`longtail demo`: a small closed loop end to end, the demo login it prints, and the plain-words summary."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from typer.testing import CliRunner

from longtail.cli.demo import DEMO_EMAIL, story
from longtail.cli.main import app
from longtail.runner.closed_loop import LoopDay, LoopSummary, WorldOutcome
from longtail.settings import open_workspace
from longtail.sim import SimConfig
from longtail.store.db import make_engine
from longtail.store.users import UserStore, verify_password


def test_the_demo_runs_prints_a_login_that_works_and_says_what_happened(tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    result = CliRunner().invoke(app, ["demo", "--dir", str(folder), "--accounts", "40", "--days", "3",
                                      "--no-serve", "--port", "8123"])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())  # rich wraps long lines
    login = re.search(r"Open http://127\.0\.0\.1:8123 and log in as (\S+) / (\S+)", text)
    assert login is not None, text
    assert login.group(1) == DEMO_EMAIL
    assert "churned with the motion, against" in text and "ARR ends at" in text
    ws = open_workspace(folder)
    user = UserStore(make_engine(ws.database_url)).user_by_email(DEMO_EMAIL)
    assert user is not None and user.role == "lead"
    assert verify_password(user.password_hash, login.group(2))
    assert not verify_password(user.password_hash, login.group(2) + "x")


def summary(churned: tuple[str, ...], arr_end: float) -> LoopSummary:
    s = LoopSummary(SimConfig(accounts=10, days=20, start=dt.date(2025, 1, 1), seed=1), 10, 2,
                    churned_in_loop=len(churned), arr_end=arr_end, churned_accounts=churned)
    s.days = [LoopDay(dt.date(2025, 1, 11), messages_sent=5, opened=3, clicked=1, replied=1, ctas_created=4,
                      ctas_worked=2,
                      rescues=1),
              LoopDay(dt.date(2025, 1, 12), messages_sent=2, ctas_created=1)]
    return s


def test_the_summary_counts_saves_and_losses_against_the_world_left_alone() -> None:
    text = story(summary(("a", "b"), 900.0), WorldOutcome(3, 1000.0, ("a", "c", "d")))
    assert "In 2 days the motion sent 7 messages, of which 3 were opened, 1 clicked and 1 answered" in text
    assert "raised 5 calls to action and the simulated CSMs worked 2 of them (1 rescue call reached" in text
    assert "2 accounts churned with the motion, against 3 accounts in the same world left alone" in text
    assert "2 accounts saved, 1 account lost that would have stayed" in text
    assert "ARR ends at $900 with the motion and $1,000 without it (-$100)" in text


def test_a_loop_that_lost_nobody_does_not_mention_losses() -> None:
    text = story(summary((), 1200.0), WorldOutcome(1, 1000.0, ("a",)))
    assert "1 account saved." in text and "lost" not in text
    assert "(+$200)" in text
