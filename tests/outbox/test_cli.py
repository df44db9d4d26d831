"""`longtail dispatch` and `longtail outbox` on a workspace, with the file channel and settings from the env."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from longtail.channels.files import FileChannel
from longtail.channels.sim import SimChannel
from longtail.channels.smtp import SmtpChannel
from longtail.cli.outbox import dispatch_command, email_channel, outbox_command
from longtail.errors import ConfigError
from longtail.settings import Workspace, open_workspace
from longtail.store.db import make_engine, migrate
from longtail.store.outbox import OutboxStore
from tests.outbox.helpers import T0, msg

# The lead mounts these on the main app; a small app of their own keeps this test independent of it.
app = typer.Typer()
app.command("dispatch")(dispatch_command)
app.command("outbox")(outbox_command)
runner = CliRunner()


def _enqueue(ws: Workspace, n: int) -> None:
    engine = make_engine(ws.database_url)
    migrate(engine)
    OutboxStore(engine).enqueue([msg(i) for i in range(n)], now=T0)


def test_dispatch_writes_eml_files_and_outbox_counts(workspace: Workspace) -> None:
    _enqueue(workspace, 3)
    before = runner.invoke(app, ["outbox", "--format", "json", "-w", str(workspace.root)])
    assert before.exit_code == 0, before.output
    assert json.loads(before.stdout)["pending"] == 3
    sent = runner.invoke(app, ["dispatch", "--until-empty", "--channel", "email", "-w", str(workspace.root)])
    assert sent.exit_code == 0, sent.output
    assert len(list((workspace.state_dir / "outbox").glob("*.eml"))) == 3
    after = runner.invoke(app, ["outbox", "--channel", "email", "-w", str(workspace.root)])
    assert after.exit_code == 0 and "sent" in after.stdout
    counts = json.loads(runner.invoke(app, ["outbox", "--format", "json", "-w", str(workspace.root)]).stdout)
    assert counts["sent"] == 3 and counts["pending"] == 0


def test_unknown_channel_is_a_usage_error(workspace: Workspace) -> None:
    result = runner.invoke(app, ["outbox", "--channel", "pigeon", "-w", str(workspace.root)])
    assert result.exit_code != 0 and "--channel" in result.output


def test_settings_pick_the_channel(workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    assert isinstance(email_channel(workspace), FileChannel)  # the default: nothing leaves the machine
    monkeypatch.setenv("LONGTAIL_EMAIL_CHANNEL", "smtp")
    monkeypatch.setenv("LONGTAIL_SMTP_HOST", "mail.example.com")
    monkeypatch.setenv("LONGTAIL_SMTP_PORT", "2525")
    monkeypatch.setenv("LONGTAIL_SMTP_PASSWORD", "s3cret")
    monkeypatch.setenv("LONGTAIL_SMTP_STARTTLS", "false")
    ws = open_workspace(workspace.root)
    channel = email_channel(ws)
    assert isinstance(channel, SmtpChannel)
    assert (channel.host, channel.port, channel.password, channel.starttls) == ("mail.example.com", 2525, "s3cret",
                                                                             False)
    assert "s3cret" not in (Path(workspace.root) / "longtail.toml").read_text(encoding="utf-8")
    monkeypatch.setenv("LONGTAIL_EMAIL_CHANNEL", "sim")
    assert isinstance(email_channel(open_workspace(workspace.root)), SimChannel)  # the closed loop's queue
    monkeypatch.setenv("LONGTAIL_EMAIL_CHANNEL", "pigeon")
    with pytest.raises(ConfigError, match="email_channel: Input should be 'smtp', 'file' or 'sim'"):
        open_workspace(workspace.root)
