"""The email channel a workspace's settings name (smtp, or file: .eml previews in .longtail/outbox/)."""

from __future__ import annotations

from longtail.channels import Channel
from longtail.channels.files import FileChannel
from longtail.channels.smtp import SmtpChannel
from longtail.errors import ConfigError
from longtail.settings import Workspace

OUTBOX_DIR = "outbox"


def email_channel(ws: Workspace) -> Channel:
    s = ws.settings
    if s.email_channel == "smtp":
        return SmtpChannel(s.smtp_host, s.smtp_port, s.smtp_user, s.smtp_password, s.smtp_starttls, s.email_from)
    if s.email_channel == "file":
        return FileChannel(ws.state_dir / OUTBOX_DIR, s.email_from)
    raise ConfigError(f"email_channel = {s.email_channel!r} is not available in this version; use smtp or file")
