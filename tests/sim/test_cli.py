"""The `sim` command: files, summary, and one clear line on bad input."""

from __future__ import annotations

from pathlib import Path

import typer
from typer.testing import CliRunner

from longtail.cli.sim import sim

app = typer.Typer()
app.command("sim")(sim)
app.command("noop")(lambda: None)  # a second command so that "sim" is addressed by name


def test_writes_files_and_prints_summary(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["sim", "--accounts", "60", "--days", "20", "--out", str(tmp_path / "w"),
                                      "--format", "parquet", "--seed", "3"])
    assert result.exit_code == 0, result.output
    assert "NRR" in result.output and "events" in result.output
    assert {p.name for p in (tmp_path / "w").glob("*.parquet")} == {
        f"{k}.parquet" for k in ("accounts", "subscriptions", "contacts", "events", "tickets", "surveys", "team")}
    assert (tmp_path / "w" / "truth" / "churns.parquet").exists()


def test_bad_input_exits_2(tmp_path: Path) -> None:
    runner = CliRunner()
    for args in (["--accounts", "-5"], ["--start", "2025-02-30"], ["--days", "0"], ["--format", "xlsx"]):
        result = runner.invoke(app, ["sim", "--out", str(tmp_path / "x"), *args])
        assert result.exit_code == 2, (args, result.output)
    assert not (tmp_path / "x").exists()
