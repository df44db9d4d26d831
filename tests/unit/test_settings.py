"""Workspace settings: defaults, environment overrides, validation, no secrets written."""

from __future__ import annotations

from pathlib import Path

import pytest

from longtail.errors import ConfigError, UsageError
from longtail.settings import init_workspace, open_workspace


def test_defaults_are_embedded(tmp_path: Path) -> None:
    ws = init_workspace(tmp_path / "w")
    assert ws.database_url == f"sqlite:///{(tmp_path / 'w/.longtail/state.db').resolve()}"
    assert ws.warehouse_url == f"duckdb:///{(tmp_path / 'w/.longtail/warehouse.duckdb').resolve()}"
    assert ws.settings.timezone == "UTC"
    assert ".longtail/" in (tmp_path / "w/.gitignore").read_text()


def test_environment_overrides_the_file_and_secrets_stay_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    init_workspace(tmp_path / "w")
    secret = "postgresql+psycopg://app:s3cret@db.internal/longtail"
    monkeypatch.setenv("LONGTAIL_DATABASE_URL", secret)
    monkeypatch.setenv("LONGTAIL_TIMEZONE", "Asia/Tokyo")
    ws = open_workspace(tmp_path / "w")
    assert ws.database_url == secret and ws.settings.timezone == "Asia/Tokyo"
    assert "s3cret" not in (tmp_path / "w/longtail.toml").read_text()


@pytest.mark.parametrize(
    ("extra", "message"),
    [('timezone = "Mars/Base"\n', "time zone"), ("this is = = not toml\n", "invalid TOML"),
     ('unknown_setting = 1\n', "unknown_setting")],
)
def test_bad_config_is_a_clear_error(tmp_path: Path, extra: str, message: str) -> None:
    init_workspace(tmp_path / "w")
    config = tmp_path / "w/longtail.toml"
    text = config.read_text().replace('timezone = "UTC"\n', "")
    config.write_text(text + extra)
    with pytest.raises(ConfigError, match=message):
        open_workspace(tmp_path / "w")


def test_missing_workspace_and_double_init(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="not a longtail workspace"):
        open_workspace(tmp_path)
    init_workspace(tmp_path / "w")
    with pytest.raises(UsageError, match="already"):
        init_workspace(tmp_path / "w")
