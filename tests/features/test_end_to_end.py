"""A small simulated world: sim -> load-dir -> features_as_of, and the `features` command."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import typer
from typer.testing import CliRunner

from longtail.analytics.features import feature_history, features_as_of
from longtail.cli.features import features
from longtail.cli.main import app as main_app
from longtail.core.features import load_feature_defs
from longtail.settings import Workspace, open_workspace

AS_OF = date(2025, 3, 15)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    root = tmp_path_factory.mktemp("features-world")
    runner = CliRunner()
    data, ws = root / "data", root / "ws"
    for args in (
        ["sim", "--accounts", "60", "--days", "90", "--start", "2025-01-01", "--seed", "3", "--format", "parquet",
         "--out", str(data)],
        ["init", str(ws)],
        ["load-dir", str(data), "-w", str(ws)],
    ):
        result = runner.invoke(main_app, args)
        assert result.exit_code == 0, result.output
    return open_workspace(ws)


def _existing_accounts(ws: Workspace, day: date) -> int:
    created = pq.read_table(ws.tables_dir / "accounts.parquet").column("created_at").to_pylist()
    end = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    return sum(1 for c in created if c is None or c < end)


def test_features_of_a_simulated_world(world: Workspace) -> None:
    table = features_as_of(world, AS_OF, scores=False)
    assert table.num_rows == _existing_accounts(world, AS_OF) > 0
    assert table.column_names[:2] == ["account_id", "as_of"]
    assert table.column_names[2:] == list(load_feature_defs(None).names)
    assert len(set(table.column("account_id").to_pylist())) == table.num_rows
    assert pc.min(table.column("seat_utilisation")).as_py() >= 0
    assert pc.min(table.column("tenure_days")).as_py() >= 0
    assert table.column("is_customer").null_count == 0
    assert set(table.column("is_customer").to_pylist()) <= {0, 1}
    customers = table.filter(pc.equal(table.column("is_customer"), 1))
    assert customers.num_rows > 0 and pc.min(customers.column("mrr")).as_py() > 0
    assert pc.sum(table.column("events_28d")).as_py() > 0
    assert pc.sum(table.column("active_users_28d")).as_py() > 0
    assert pc.min(table.column("events_7d")).as_py() >= 0
    assert pc.all(pc.less_equal(table.column("events_7d"), table.column("events_28d"))).as_py()
    assert pc.all(pc.less_equal(table.column("active_users_7d"), table.column("active_users_28d"))).as_py()


def test_history_stacks_dates_and_replays_identically(world: Workspace) -> None:
    days = [date(2025, 2, 1), AS_OF]
    history = feature_history(world, days)
    assert sorted(set(history.column("as_of").to_pylist())) == days
    again = features_as_of(world, AS_OF, scores=False)
    assert history.filter(pc.equal(history.column("as_of"), AS_OF)).equals(again)


def test_workspace_features_yml_is_used(world: Workspace, tmp_path: Path) -> None:
    path = world.root / "motion" / "features.yml"
    path.write_text("features:\n  - {name: logins_3d, description: d, kind: event_count, events: [login],"
                    " window_days: 3}\n", encoding="utf-8")
    try:
        table = features_as_of(world, AS_OF, scores=False)
        assert table.column_names[-1] == "logins_3d"
        assert pc.all(pc.less_equal(table.column("logins_3d"), table.column("logins_7d"))).as_py()
    finally:
        path.unlink()


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command("features")(features)

    @app.command("other")
    def other() -> None:  # a second command, so `features` is a sub-command as in the real CLI
        """Placeholder."""

    return app


def test_cli_csv_json_and_text(world: Workspace) -> None:
    runner = CliRunner()
    result = runner.invoke(_app(), ["features", "--as-of", AS_OF.isoformat(), "-w", str(world.root)])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert len(rows) == _existing_accounts(world, AS_OF)
    assert rows[0]["as_of"] == AS_OF.isoformat()
    assert "seat_utilisation" in rows[0]
    result = runner.invoke(_app(), ["features", "--as-of", AS_OF.isoformat(), "-w", str(world.root),
                                    "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert len(data) == len(rows) and data[0]["as_of"] == AS_OF.isoformat()
    result = runner.invoke(_app(), ["features", "--as-of", AS_OF.isoformat(), "-w", str(world.root),
                                    "--format", "text"])
    assert result.exit_code == 0, result.output
    assert "events_28d" in result.stdout and "feature set hash" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--as-of", "2025-02-30"], "--as-of must be a date as YYYY-MM-DD"),
        (["--as-of", "2025-03-01", "--format", "xml"], "--format must be csv, json or text"),
    ],
)
def test_cli_usage_errors_exit_2_with_one_line(world: Workspace, args: list[str], message: str) -> None:
    result = CliRunner().invoke(_app(), ["features", *args, "-w", str(world.root)])
    assert result.exit_code == 2
    assert message in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_cli_bad_features_yml_exits_2(world: Workspace) -> None:
    path = world.root / "motion" / "features.yml"
    path.write_text("colour: red\n", encoding="utf-8")
    try:
        result = CliRunner().invoke(_app(), ["features", "--as-of", "2025-03-01", "-w", str(world.root)])
    finally:
        path.unlink()
    assert result.exit_code == 2
    assert "features.yml: colour" in result.output


def test_cli_not_a_workspace_exits_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(_app(), ["features", "--as-of", "2025-03-01", "-w", str(tmp_path)])
    assert result.exit_code == 2
