"""The `longtail` command as a user runs it: a real subprocess, exit codes and output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import SAMPLE, write_rows

LONGTAIL = [sys.executable, "-m", "longtail"]


def run(*args: str | Path, cwd: Path | None = None,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "COLUMNS": "200", **(env or {})}
    return subprocess.run([*LONGTAIL, *map(str, args)], capture_output=True, text=True, cwd=cwd, env=full_env,
                          timeout=300, check=False)


def test_help_and_version() -> None:
    helped = run("--help")
    assert helped.returncode == 0
    for command in ("init", "load", "load-dir", "status", "contract", "sim", "metrics", "features", "score", "health"):
        assert command in helped.stdout
    version = run("--version")
    assert version.returncode == 0 and version.stdout.startswith("longtail ")


def test_init_creates_a_workspace_and_refuses_to_overwrite(tmp_path: Path) -> None:
    assert run("init", tmp_path / "ws").returncode == 0
    for name in ("longtail.toml", "motion", ".gitignore"):
        assert (tmp_path / "ws" / name).exists()
    again = run("init", tmp_path / "ws")
    assert again.returncode == 2 and "already" in again.stderr
    assert "Traceback" not in again.stderr


def test_load_exit_codes_and_json(tmp_path: Path, sample_dir: Callable[[str], Path]) -> None:
    ws = tmp_path / "ws"
    run("init", ws)
    folder = sample_dir("csv")
    ok = run("load", "accounts", folder / "accounts.csv", "--workspace", ws, "--format", "json")
    assert ok.returncode == 0, ok.stderr
    payload = json.loads(ok.stdout)
    assert set(payload) == {"kind", "read", "loaded", "updated", "unchanged", "rejected", "rejects_file"}
    assert payload["loaded"] == len(SAMPLE["accounts"]) and payload["rejects_file"] is None

    bad = write_rows(tmp_path / "subs.csv", [{"account_id": "zzz", "start_date": "2025-01-01", "mrr": "1"}])
    some = run("load", "subscriptions", bad, "--workspace", ws, "--format", "json")
    assert some.returncode == 3
    body = json.loads(some.stdout)
    assert body["rejected"] == 1 and Path(body["rejects_file"]).is_file()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("load", "widgets", "x.csv"), "unknown kind"),
        (("load", "accounts", "missing.csv"), "no such file"),
        (("load", "accounts", "binary.csv"), "binary"),
        (("load", "accounts", "wrong.csv"), "missing required column"),
        (("load", "accounts", "latin1.csv"), "not UTF-8"),
        (("load", "accounts", "empty.csv"), "empty"),
        (("load", "accounts", "data.xlsx"), "unknown file type"),
    ],
)
def test_unusable_input_exits_2_with_one_line(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    ws = tmp_path / "ws"
    run("init", ws)
    (ws / "binary.csv").write_bytes(b"\x00\x01\x02PK\x03\x04" * 100)
    (ws / "wrong.csv").write_text("id,title\n1,x\n")
    (ws / "latin1.csv").write_bytes("account_id,n\xe4me\n".encode("latin-1"))
    (ws / "empty.csv").write_bytes(b"")
    (ws / "data.xlsx").write_bytes(b"PK\x03\x04junk")
    result = run(*args, cwd=ws)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_workspace_from_environment(tmp_path: Path, sample_dir: Callable[[str], Path]) -> None:
    ws = tmp_path / "ws"
    run("init", ws)
    result = run("load", "accounts", sample_dir("csv") / "accounts.csv", env={"LONGTAIL_WORKSPACE": str(ws)})
    assert result.returncode == 0, result.stderr
    assert "loaded 3" in result.stdout


def test_not_a_workspace(tmp_path: Path) -> None:
    result = run("status", "--workspace", tmp_path)
    assert result.returncode == 2 and "not a longtail workspace" in result.stderr


def test_load_dir_and_status(tmp_path: Path, sample_dir: Callable[[str], Path]) -> None:
    ws = tmp_path / "ws"
    run("init", ws)
    loaded = run("load-dir", sample_dir("parquet"), "--workspace", ws)
    assert loaded.returncode == 0, loaded.stderr
    status = run("status", "--workspace", ws, "--format", "json")
    assert status.returncode == 0, status.stderr
    rows = dict(json.loads(status.stdout)["rows"])
    assert rows["accounts"] == "3" and rows["events"] == "3" and rows["team members"] == "2"


def test_metrics_on_a_loaded_workspace(tmp_path: Path, sample_dir: Callable[[str], Path]) -> None:
    ws = tmp_path / "ws"
    run("init", ws)
    assert run("load-dir", sample_dir("csv"), "--workspace", ws).returncode == 0
    result = run("metrics", "--from", "2025-03-01", "--to", "2026-03-01", "--workspace", ws, "--format", "json")
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    # a1 (1000 MRR, term ends 2026-01-10) churns; a2 (500 MRR, open-ended) stays
    assert (body["n_start"], body["n_churned"]) == (2, 1)
    assert body["start_mrr"] == 1500 and body["nrr"] == 500 / 1500
    bad = run("metrics", "--from", "2025-03-01", "--to", "2025-01-01", "--workspace", ws)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


def test_contract_export_is_json_schema(tmp_path: Path) -> None:
    result = run("contract", "--out", tmp_path / "schemas")
    assert result.returncode == 0
    schema = json.loads((tmp_path / "schemas" / "accounts.schema.json").read_text())
    assert schema["required"] == ["account_id"]
    assert schema["additionalProperties"] is True
    events = json.loads((tmp_path / "schemas" / "events.schema.json").read_text())
    assert set(events["required"]) == {"account_id", "event", "ts"}
