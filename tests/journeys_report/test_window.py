"""`longtail report journeys --from D1 --to D2`: only the enrollments that entered in [D1, D2), observed as of D2.

Every expected number below is counted by hand from the population the test writes (see the comments).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import typer
from sqlalchemy import Engine
from typer.testing import CliRunner

from longtail.cli.report import report_app
from longtail.core.journeys.engine import Enrollment, step_message_key
from longtail.core.journeys.lift import newcombe
from longtail.runner.journey_report import GOAL_REASON, Window, channel_rates, journey_report
from longtail.settings import Workspace, open_workspace
from longtail.store.db import make_engine, migrate
from longtail.store.enrollments import EnrollmentStore
from longtail.store.outbox import OutboxMessage, OutboxStore
from tests.journeys.helpers import load_one, start
from tests.journeys_report.test_report import JOURNEY
from tests.motion_run.test_run import source  # noqa: F401  (the module-scoped simulated workspace)

app = typer.Typer()
app.add_typer(report_app, name="report")
runner = CliRunner()

W_START = datetime(2026, 1, 10, tzinfo=UTC)
W_END = datetime(2026, 1, 17, tzinfo=UTC)
WINDOW = Window(W_START, W_END)


def _day(n: int, hour: int = 12) -> datetime:
    """January `n`, 2026 at `hour` UTC."""
    return datetime(2026, 1, n, hour, tzinfo=UTC)


def _enr(name: str, entered: datetime, *, holdout: bool = False, goal_at: datetime | None = None,
         journey_text: str = JOURNEY) -> Enrollment:
    """An enrollment that ran the first step once; with `goal_at`, it exited with "goal reached" then."""
    journey, _ = load_one(journey_text)
    first = journey.steps[0].id
    e = start(journey, account_id=f"acc_{name}", contact_id=f"con_{name}", holdout=holdout, now=entered)
    e = replace(e, visits={first: 1}, sent={first: step_message_key(e.enrollment_id, first, 1)}, step=1)
    if goal_at is None:
        return e
    return replace(e, status="exited", exit_reason=GOAL_REASON, updated_at=goal_at)


def _population() -> list[Enrollment]:
    """10 before the window (all reach the goal), 45 inside, 6 from its end on.

    Inside: 25 treated accounts, the first entering exactly at the window's start; 10 reach the goal inside the
    window and 5 more only after its end (they count as still active). 20 held-out accounts: 4 reach the goal
    inside, 3 after. Nobody outside the window may count: the 10 before all converted and would raise the
    treated rate.
    """
    out = [_enr(f"old{i}", _day(6), goal_at=_day(8)) for i in range(10)]
    for i in range(25):
        entered = W_START if i == 0 else _day(11)
        goal_at = _day(14) if i < 10 else _day(20) if i < 15 else None
        out.append(_enr(f"t{i}", entered, goal_at=goal_at))
    for i in range(20):
        goal_at = _day(15) if i < 4 else _day(18) if i < 7 else None
        out.append(_enr(f"h{i}", _day(12), holdout=True, goal_at=goal_at))
    out.append(_enr("edge", W_END, goal_at=_day(17, 13)))  # entered at the excluded end: left out
    out.extend(_enr(f"late{i}", _day(20)) for i in range(5))
    return out


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'state.db'}")
    migrate(engine)
    yield engine
    engine.dispose()


def _send(outbox: OutboxStore, e: Enrollment, *, created: datetime, sent: datetime,
          events: tuple[tuple[str, datetime], ...] = ()) -> None:
    key = e.sent["hello"]
    outbox.enqueue([OutboxMessage(key, "email", {"to": "x@example.com"}, created, contact_id=e.contact_id,
                                  account_id=e.account_id, program="nudge")], now=created)
    outbox.mark_sent(key, sent)
    for kind, at in events:
        outbox.record_event(f"{key}:{kind}", kind=kind, channel="email", at=at, message_key=key)


def test_window_counts_only_its_enrollments_as_of_its_end(engine: Engine) -> None:
    journey, _ = load_one(JOURNEY)
    population = _population()
    EnrollmentStore(engine).save(population, [], _day(5))
    by_name = {e.account_id.removeprefix("acc_"): e for e in population}
    outbox = OutboxStore(engine)
    # t1: sent, delivered and opened inside the window; its click comes after the end and is not counted.
    _send(outbox, by_name["t1"], created=_day(11), sent=_day(11, 13),
          events=(("delivered", _day(11, 14)), ("opened", _day(12)), ("clicked", _day(18))))
    # t2: delivered, then unsubscribed, inside the window.
    _send(outbox, by_name["t2"], created=_day(11), sent=_day(11, 13),
          events=(("delivered", _day(11, 14)), ("unsubscribed", _day(13))))
    # t3: created inside but only sent after the end: still pending as of the end.
    _send(outbox, by_name["t3"], created=_day(11), sent=_day(19))
    # old0 entered before the window; its email, sent and opened inside the window, belongs to another cohort.
    _send(outbox, by_name["old0"], created=_day(11), sent=_day(11, 13), events=(("opened", _day(12)),))

    (stats,) = journey_report(engine, {"nudge": journey}, WINDOW)
    # Inside: 25 treated + 20 held out; "edge" (entered at the end) and the 10 before and 5 after are not.
    assert (stats.entered, stats.accounts, stats.treated_enrollments, stats.holdout_enrollments) == (45, 45, 25, 20)
    # Goal exits by the end: 10 treated + 4 held out; the 5 + 3 that exit after the end are still active.
    assert stats.exit_reasons == {GOAL_REASON: 14}
    assert stats.status == {"active": 31, "exited": 14}
    hello = {s.step_id: s for s in stats.funnel}["hello"]
    assert (hello.reached, hello.sent, hello.opened, hello.clicked) == (45, 2, 1, 0)  # t1, t2 sent; t1 opened
    # Each sent row counted once (the store records a `sent` event with the status; it must not count twice).
    assert stats.channels == {"email": {"delivered": 2, "opened": 1, "pending": 1, "sent": 2, "unsubscribed": 1}}
    assert channel_rates(stats.channels) == {"email": {"delivered": 1.0, "opened": 0.5, "unsubscribed": 0.5}}
    # Lift from the window's accounts only: 10/25 treated against 4/20 held out = 0.40 - 0.20 = +0.20.
    assert stats.lift is not None and stats.lift.difference is not None
    assert (stats.lift.treated, stats.lift.treated_converted, stats.lift.holdout, stats.lift.holdout_converted) == \
        (25, 10, 20, 4)
    assert stats.lift.difference == newcombe(10, 25, 4, 20)
    assert stats.lift.difference.estimate == pytest.approx(0.2)

    # The same instant cumulatively also counts the 10 earlier accounts (20/35 converted) and old0's email.
    (cumulative,) = journey_report(engine, {"nudge": journey}, WINDOW.as_of)
    assert cumulative.entered == 55
    assert cumulative.lift is not None and (cumulative.lift.treated, cumulative.lift.treated_converted) == (35, 20)
    assert cumulative.channels["email"]["sent"] == 3
    # A later window holds "edge" (entered at W_END, its goal at 13:00 that day) and the five late entries.
    (later,) = journey_report(engine, {"nudge": journey}, Window(W_END, _day(25)))
    assert (later.entered, later.exit_reasons) == (6, {GOAL_REASON: 1})


def test_a_window_needs_aware_ordered_instants(engine: Engine) -> None:
    with pytest.raises(ValueError, match="after its start"):
        Window(W_END, W_START)
    with pytest.raises(ValueError, match="after its start"):
        Window(W_START, W_START)
    with pytest.raises(ValueError, match="aware"):
        Window(W_START.replace(tzinfo=None), W_END)
    assert WINDOW.as_of == W_END - timedelta(microseconds=1)
    assert WINDOW.holds(W_START) and not WINDOW.holds(W_END)


@pytest.mark.parametrize(("args", "message"), [
    (["--from", "2026-01-05"], "--from and --to go together"),
    (["--to", "2026-01-12"], "--from and --to go together"),
    (["--from", "2026-01-12", "--to", "2026-01-12"], "must be after --from"),
    (["--from", "2026-01-12", "--to", "2026-01-05"], "must be after --from"),
    (["--from", "2026-01-05", "--to", "2026-01-12", "--as-of", "2026-01-20"], "cannot be combined"),
    (["--from", "2026-13-01", "--to", "2026-01-12"], "--from must be a date as YYYY-MM-DD"),
    (["--from", "2026-01-05", "--to", "next tuesday"], "--to must be a date as YYYY-MM-DD"),
    (["--from", "'; DROP TABLE enrollments;--", "--to", "2026-01-12"], "--from must be a date"),
    (["--from", "2" * 100_000, "--to", "2026-01-12"], "not a 100,000-character string"),
])
def test_cli_rejects_bad_windows_before_opening_the_workspace(tmp_path: Path, args: list[str], message: str) -> None:
    # tmp_path is not a workspace: had the options been accepted, the error would name the workspace instead.
    result = runner.invoke(app, ["report", "journeys", *args, "--format", "json", "-w", str(tmp_path)])
    assert result.exit_code == 2, result.output
    assert message in result.output, result.output
    assert "workspace" not in result.output and len(result.output) < 500, result.output[:500]


NY_JOURNEY = """
version: 1
journeys:
  - id: we_noticed
    holdout_pct: 10
    goal: "logins_7d >= 5"
    steps:
      - {id: nudge, type: email, template: welcome}
"""


@pytest.fixture
def ny_ws(source: Path, tmp_path: Path) -> Workspace:  # noqa: F811
    """The simulated workspace in New York time, with four enrollments in the example journey `we_noticed`."""
    shutil.copytree(source / "ws", tmp_path / "ws")
    config = tmp_path / "ws" / "longtail.toml"
    text = config.read_text(encoding="utf-8")
    assert 'timezone = "UTC"' in text
    config.write_text(text.replace('timezone = "UTC"', 'timezone = "America/New_York"'), encoding="utf-8")
    ws = open_workspace(tmp_path / "ws")
    engine = make_engine(ws.database_url)
    migrate(engine)
    # New York is UTC-5 in January, so the window [2026-01-05, 2026-01-12) is [05:00Z on the 5th, 05:00Z on the 12th).
    EnrollmentStore(engine).save([
        _enr("before", datetime(2026, 1, 5, 4, tzinfo=UTC), journey_text=NY_JOURNEY),  # 4 Jan, 23:00 in New York
        _enr("first", datetime(2026, 1, 5, 6, tzinfo=UTC), journey_text=NY_JOURNEY,  # 5 Jan, 01:00
             goal_at=datetime(2026, 1, 12, 4, 30, tzinfo=UTC)),  # 11 Jan, 23:30: inside, counts
        _enr("last", datetime(2026, 1, 12, 3, tzinfo=UTC), journey_text=NY_JOURNEY,  # 11 Jan, 22:00
             goal_at=datetime(2026, 1, 12, 5, 30, tzinfo=UTC)),  # 12 Jan, 00:30: after the end, not counted
        _enr("after", datetime(2026, 1, 12, 6, tzinfo=UTC), journey_text=NY_JOURNEY),  # 12 Jan, 01:00
    ], [], datetime(2026, 1, 5, tzinfo=UTC))
    engine.dispose()
    return ws


def test_cli_window_json_and_text_in_the_workspace_time_zone(ny_ws: Workspace) -> None:
    args = ["report", "journeys", "--from", "2026-01-05", "--to", "2026-01-12", "-w", str(ny_ws.root)]
    result = runner.invoke(app, [*args, "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert {k: data[k] for k in ("from", "to", "to_excluded", "timezone", "start", "end", "as_of")} == {
        "from": "2026-01-05", "to": "2026-01-12", "to_excluded": True, "timezone": "America/New_York",
        "start": "2026-01-05T05:00:00+00:00", "end": "2026-01-12T05:00:00+00:00",
        "as_of": "2026-01-12T04:59:59.999999+00:00"}
    journeys = {j["journey_id"]: j for j in data["journeys"]}
    noticed = journeys["we_noticed"]
    # "first" and "last" entered inside; only "first" reached the goal before the end.
    assert (noticed["entered"], noticed["exit_reasons"]) == (2, {GOAL_REASON: 1})
    assert noticed["status"] == {"active": 1, "exited": 1}
    assert noticed["rates"] == {}  # no outbox rows for these enrollments
    assert noticed["lift"]["verdict"].startswith("not enough data")
    assert all(j["entered"] == 0 and "rates" in j for jid, j in journeys.items() if jid != "we_noticed")

    # The cumulative report of the same workspace has no window fields, and counts "before" and "last"'s exit.
    cumulative = runner.invoke(app, ["report", "journeys", "--as-of", "2026-01-12", "--format", "json",
                                     "-w", str(ny_ws.root)])
    assert cumulative.exit_code == 0, cumulative.output
    whole = json.loads(cumulative.stdout)
    assert set(whole) == {"as_of", "journeys"}
    assert {j["journey_id"]: j for j in whole["journeys"]}["we_noticed"]["entered"] == 4  # all entered by 12 Jan

    text = runner.invoke(app, args)
    assert text.exit_code == 0, text.output
    assert "entered from 2026-01-05 up to 2026-01-12 (excluded), America/New_York" in text.output, text.output
    assert "we_noticed: 2 entered" in text.output, text.output


def test_cli_dates_out_of_range_are_usage_errors(ny_ws: Workspace) -> None:
    for args in (["--as-of", "9999-12-31"], ["--from", "9999-12-30", "--to", "9999-12-31"]):
        result = runner.invoke(app, ["report", "journeys", *args, "-w", str(ny_ws.root)])
        if args[0] == "--as-of":
            assert result.exit_code == 2 and "out of range" in result.output, result.output
        else:  # the last days of the calendar are a valid, empty window in New York
            assert result.exit_code == 0, result.output
