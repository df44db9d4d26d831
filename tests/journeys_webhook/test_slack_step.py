"""The `slack` step: a PostSlack effect with the fields filled in, nothing for held-out accounts."""

from __future__ import annotations

from longtail.core.journeys.engine import CallWebhook, PostSlack, slack_text, step_message_key
from tests.journeys.helpers import T0, config_error, facts, load_one, start, tick

JOURNEY = """
version: 1
journeys:
  - id: alert
    steps:
      - {id: ping, type: slack, text: "{account_id} needs a call ({journey}/{step}) {unknown}", url_env: CS_SLACK}
      - {id: hook, type: webhook, url: "https://hooks.example.com/x", event: risk.flagged}
"""


def test_slack_step_posts_with_fields_and_webhook_follows() -> None:
    journey, conditions = load_one(JOURNEY)
    e = start(journey, account_id="acme", holdout=False)
    result = tick(e, journey, conditions, facts(T0))
    slack, hook = result.effects
    assert isinstance(slack, PostSlack) and isinstance(hook, CallWebhook)
    assert slack.text == "acme needs a call (alert/ping) {unknown}"  # unknown braces stay as written
    assert (slack.url_env, slack.journey_id, slack.account_id) == ("CS_SLACK", "alert", "acme")
    assert slack.key == step_message_key(e.enrollment_id, "ping", 1)
    assert result.enrollment.status == "completed"


def test_held_out_accounts_post_nothing() -> None:
    journey, conditions = load_one(JOURNEY)
    result = tick(start(journey, holdout=True), journey, conditions, facts(T0))
    assert result.effects == ()
    assert "ping: slack (held out: not sent)" in result.trail


def test_slack_text_fills_only_known_fields() -> None:
    assert slack_text("{a}{account_id}{step}", {"account_id": "x"}) == "{a}x"


def test_slack_url_env_must_be_an_env_name() -> None:
    bad = JOURNEY.replace("url_env: CS_SLACK", "url_env: https://hooks.slack.com/services/x")
    assert "url_env" in config_error(("j.yml", bad))
