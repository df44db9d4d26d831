"""The `contact_policy:` YAML section and its translation into a ContactPolicy."""

from __future__ import annotations

from datetime import time
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from longtail.core.journeys.policy import Cap, ContactPolicyConfig, QuietHours

EXAMPLE = """
contact_policy:
  caps:
    contact: {email: {per_day: 1, per_7_days: 3}, in_app: {per_day: 2, per_7_days: 6}}
    account: {email: {per_day: 5, per_7_days: 15}}
  quiet_hours: {start: "20:00", end: "08:00", weekends: true}
  on_cap: {high: defer, normal: defer, low: skip}
  opt_outs: {roles: [billing]}
"""


def section(text: str = EXAMPLE) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(text)["contact_policy"]
    return loaded


def test_the_documented_example_becomes_a_policy() -> None:
    pol = ContactPolicyConfig.model_validate(section()).to_policy("Europe/Berlin")
    assert pol.workspace_tz == "Europe/Berlin"
    assert pol.contact_caps == {"email": Cap(1, 3), "in_app": Cap(2, 6)}
    assert pol.account_caps == {"email": Cap(5, 15)}
    assert pol.quiet_hours == QuietHours(time(20), time(8), weekends=True)
    assert pol.on_cap_for(0) == "skip"
    assert pol.on_cap_for(100) == "defer"
    assert pol.opt_out_roles == frozenset({"billing"})
    assert pol.opt_out_channels == frozenset({"email"})


def test_empty_section_means_no_caps_and_defer() -> None:
    pol = ContactPolicyConfig.model_validate({}).to_policy()
    assert (pol.contact_caps, pol.account_caps, pol.quiet_hours) == ({}, {}, None)
    assert pol.on_cap_for(0) == "defer"


@pytest.mark.parametrize(("patch", "message"), [
    ({"cap": {}}, "Extra inputs are not permitted"),
    ({"caps": {"contact": {"slack": {"per_day": 1}}}}, "email"),
    ({"caps": {"contact": {"email": {"per_day": 0}}}}, "greater than or equal to 1"),
    ({"caps": {"contact": {"email": {"daily": 1}}}}, "Extra inputs are not permitted"),
    ({"quiet_hours": {"start": 1200, "end": "08:00"}}, "valid string"),
    ({"quiet_hours": {"start": "25:00", "end": "08:00"}}, "pattern"),
    ({"quiet_hours": {"start": "08:00", "end": "08:00"}}, "must differ"),
    ({"on_cap": {"low": "drop"}}, "'defer' or 'skip'"),
    ({"opt_outs": {"roles": [" "]}}, "non-empty"),
])
def test_bad_sections_are_rejected(patch: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ContactPolicyConfig.model_validate({**section(), **patch})


def test_unknown_workspace_zone_fails_when_building_the_policy() -> None:
    with pytest.raises(Exception, match="Mars/Olympus"):
        ContactPolicyConfig.model_validate(section()).to_policy("Mars/Olympus")
