"""Playbook `alert` steps, carried out: a `log` alert is a log line, any other channel is a Slack post.

A post goes through the outbox like a journey's Slack step (durable, retried, sent once): its key is derived
from (playbook, account, channel, day), so running the same day again posts nothing twice. The Slack
incoming-webhook URL is a credential, so it comes from the environment: `LONGTAIL_SLACK_WEBHOOK_URL` for the
channel `slack`, `LONGTAIL_SLACK_WEBHOOK_URL_<CHANNEL>` for any other (upper case, `-` as `_`), e.g.
`cs-pooled` -> `LONGTAIL_SLACK_WEBHOOK_URL_CS_POOLED`. A missing variable fails that post at dispatch with
the variable's name (the outbox keeps it as failed), never silently.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from longtail.store.outbox import OutboxMessage, message_key

log = logging.getLogger("longtail.alerts")

LOG_CHANNEL = "log"
SLACK_URL_ENV = "LONGTAIL_SLACK_WEBHOOK_URL"


def url_env(channel: str) -> str:
    """The environment variable holding the Slack webhook URL of an alert channel."""
    if channel == "slack":
        return SLACK_URL_ENV
    return f"{SLACK_URL_ENV}_{channel.upper().replace('-', '_')}"


def alert_text(step: Mapping[str, Any], account_name: str | None) -> str:
    """What the post says: the message, the account (name and id) and the playbook that raised it."""
    account = str(step["account_id"])
    who = f"{account_name} ({account})" if account_name and account_name != account else account
    return f"{step['message']} | account {who} | playbook {step['playbook']}"


@dataclass(frozen=True)
class AlertPlan:
    """The day's alerts: Slack posts for the outbox, and the steps that only go to the log."""

    posts: tuple[OutboxMessage, ...]
    logged: tuple[Mapping[str, Any], ...]


def plan_alerts(steps: Sequence[Mapping[str, Any]], names: Mapping[str, str], at: datetime) -> AlertPlan:
    """Turn the day's planned `alert` steps into outbox posts (due at `at`) and log-only alerts."""
    posts: list[OutboxMessage] = []
    logged: list[Mapping[str, Any]] = []
    for step in steps:
        if step.get("type") != "alert":
            continue
        channel = str(step["channel"])
        if channel == LOG_CHANNEL:
            logged.append(step)
            continue
        account = str(step["account_id"])
        key = message_key("alert", step["playbook"], account, channel, step["day"])
        payload = {"text": alert_text(step, names.get(account)), "url_env": url_env(channel), "channel": channel}
        posts.append(OutboxMessage(key, "slack", payload, at, account_id=account,
                                   program=f"playbook:{step['playbook']}"))
    return AlertPlan(tuple(posts), tuple(logged))


def log_alerts(logged: Sequence[Mapping[str, Any]], names: Mapping[str, str]) -> None:
    """Write each log-channel alert as one WARNING line (alerts are meant to be seen)."""
    for step in logged:
        log.warning("alert: %s", alert_text(step, names.get(str(step["account_id"]))))


__all__ = ["LOG_CHANNEL", "SLACK_URL_ENV", "AlertPlan", "alert_text", "log_alerts", "plan_alerts", "url_env"]
