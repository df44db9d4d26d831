"""The standard feature set, features.yml validation and definition hashes."""

from __future__ import annotations

import re

import pytest

from longtail.core.features import load_feature_defs
from longtail.errors import ConfigError

STANDARD = [
    "events_7d", "events_28d", "events_90d", "events_prev_28d", "events_change_pct", "logins_7d", "logins_28d",
    "active_users_7d", "active_users_28d", "seats", "seat_utilisation", "feature_breadth_28d",
    "days_since_last_activity", "days_since_champion_active", "days_since_admin_active", "milestones_reached",
    "days_to_first_value", "tickets_open", "tickets_opened_30d", "tickets_high_priority_open",
    "median_resolution_hours_90d", "nps_latest", "nps_change", "csat_latest", "days_to_renewal", "tenure_days",
    "mrr", "arr", "is_customer",
]


def test_standard_set_has_every_required_name() -> None:
    defs = load_feature_defs(None)
    assert set(STANDARD) <= set(defs.names)
    for fam in ("core", "sticky", "integration", "admin", "reports", "invites"):
        assert f"{fam}_events_28d" in defs.names
        assert f"{fam}_events_7d" not in defs.names  # opt-in with family_windows (each window costs time)
    more = load_feature_defs("family_windows: [90, 7, 28]\n")
    assert [n for n in more.names if n.startswith("core_")] == ["core_events_7d", "core_events_28d",
                                                                 "core_events_90d"]
    assert len(defs.names) == len(set(defs.names))
    for f in defs.features:
        assert re.fullmatch(r"[0-9a-f]{64}", f.hash)
        assert f.description and f.unit and f.kind
    assert defs.custom == ()


def test_is_customer_is_a_standard_flag_with_its_own_hash() -> None:
    defs = load_feature_defs("attributes: [goal]\n")
    flag = defs.get("is_customer")
    assert (flag.unit, flag.kind, flag.standard) == ("flag", "customer", True)
    assert defs.names.index("is_customer") < defs.names.index("attr_goal"), "standard features come first"
    assert flag.hash == load_feature_defs(None).get("is_customer").hash
    assert flag.hash not in {f.hash for f in defs.features if f.name != "is_customer"}


def test_empty_file_is_the_standard_set() -> None:
    assert load_feature_defs("").hash == load_feature_defs(None).hash == load_feature_defs("# nothing\n").hash


def test_hashes_follow_the_definition_not_the_wording() -> None:
    base = load_feature_defs(None)
    moved = load_feature_defs("event_families:\n  core: [project_created]\n")
    assert moved.get("core_events_28d").hash != base.get("core_events_28d").hash
    assert moved.get("events_28d").hash == base.get("events_28d").hash
    assert "sticky_events_28d" not in moved.names  # given families replace the default ones
    assert moved.hash != base.hash
    system = load_feature_defs("system_events: [license_usage]\n")
    assert system.get("events_28d").hash != base.get("events_28d").hash
    # Order of an event list does not matter.
    a = load_feature_defs("milestone_events: [b, a]\n")
    b = load_feature_defs("milestone_events: [a, b]\n")
    assert a.get("milestones_reached").hash == b.get("milestones_reached").hash


def test_custom_features_and_attributes_are_appended() -> None:
    defs = load_feature_defs(
        "attributes: [nps_goal]\n"
        "features:\n"
        "  - {name: exports_90d, description: Exports, unit: events, kind: event_count, events: [data_exported],"
        " window_days: 90}\n"
    )
    assert defs.names[-2:] == ("exports_90d", "attr_nps_goal")
    assert defs.get("exports_90d").params["window_days"] == 90
    assert not defs.get("attr_nps_goal").standard


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("colour: red\n", "motion/features.yml: colour: Extra inputs are not permitted"),
        ("features:\n  - {name: x, description: d, kind: event_count, window: 3}\n",
         "motion/features.yml: features.0.window: Extra inputs are not permitted"),
        ("features:\n  - {name: Bad-Name, description: d, kind: event_count}\n", "features.0.name"),
        ("features:\n  - {name: x, description: d, kind: median}\n", "features.0.kind"),
        ("features:\n  - {name: events_7d, description: d, kind: event_count}\n", "already a feature name"),
        ("features:\n  - {name: x, description: d, kind: event_count, family: nope}\n", "unknown family 'nope'"),
        ("features:\n  - {name: x, description: d, kind: event_count, family: core, events: [a]}\n",
         "either events or family"),
        ("features:\n  - {name: x, description: d, kind: event_count, window_days: 0}\n", "features.0.window_days"),
        ("event_families:\n  Bad Name: [a]\n", "event_families"),
        ("attributes: [goal, goal]\n", "listed twice"),
        ("- a\n- b\n", "expected a mapping"),
        ("a: [\n", "invalid YAML"),
        ("version: 2\n", "version"),
        ("family_windows: [14]\n", "family_windows.0"),
    ],
)
def test_invalid_files_name_the_field(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_feature_defs(text)
    assert message in str(info.value)
    assert str(info.value).startswith("motion/features.yml")


def test_error_names_the_given_source() -> None:
    with pytest.raises(ConfigError, match=r"^/ws/motion/features.yml: colour"):
        load_feature_defs("colour: 1\n", source="/ws/motion/features.yml")
