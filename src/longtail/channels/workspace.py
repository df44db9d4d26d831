"""The email channel a workspace's settings name (smtp; file: .eml previews in .longtail/outbox/; sim: the
simulated world of the closed loop)."""

from __future__ import annotations

from longtail.channels import Channel
from longtail.channels.files import FileChannel
from longtail.channels.inapp import warehouse_landing
from longtail.channels.sim import SimChannel, sim_queue
from longtail.channels.smtp import SmtpChannel
from longtail.channels.webhook import WebhookChannel, webhook_secret
from longtail.errors import ConfigError
from longtail.settings import Workspace, signing_secret

OUTBOX_DIR = "outbox"


def email_channel(ws: Workspace) -> Channel:
    s = ws.settings
    if s.email_channel == "smtp":
        # Hard bounces land as `longtail.email.bounced` in the warehouse, so emails_bounced_28d counts them.
        return SmtpChannel(s.smtp_host, s.smtp_port, s.smtp_user, s.smtp_password, s.smtp_starttls, s.email_from,
                           bounce_landing=warehouse_landing(ws.warehouse_url, ws.state_dir))
    if s.email_channel == "file":
        return FileChannel(ws.state_dir / OUTBOX_DIR, s.email_from)
    if s.email_channel == "sim":
        return sim_channel(ws)
    raise ConfigError(f"email_channel = {s.email_channel!r} is not available in this version; use smtp, file or sim")


def sim_channel(ws: Workspace) -> SimChannel:
    """The simulator channel: messages queue in .longtail/loop/queue/ for the closed loop's next day."""
    return SimChannel(sim_queue(ws.state_dir))


def push_channel(ws: Workspace, name: str) -> Channel:
    """The Channel that delivers outbox rows of channel `name` (email, webhook or slack) for this workspace."""
    if name == "email":
        return email_channel(ws)
    if name in ("webhook", "slack"):
        return WebhookChannel(webhook_secret(signing_secret(ws)))
    raise ConfigError(f"no push channel {name!r}: expected email, webhook or slack (in_app is fetched, not pushed)")
