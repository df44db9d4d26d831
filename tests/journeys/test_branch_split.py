"""`branch` on a condition (with its unknown policy) or on engagement; `split` stable per account."""

from __future__ import annotations

from collections import Counter

import pytest

from longtail.core.journeys.engine import advance, bucket, enroll
from tests.journeys.helpers import SALT, T0, days, facts, journey_yaml, load_one, messages, start, tick


def branch_on(when: str, unknown: str = "false") -> str:
    return journey_yaml(f"""\
      - {{id: check, type: branch, when: "{when}", unknown: "{unknown}", "yes": big}}
      - {{id: small, type: email, template: small}}
      - {{id: stop, type: exit}}
      - {{id: big, type: email, template: big}}
""")


def path(text: str, row: dict[str, object]) -> list[str]:
    journey, conds = load_one(text)
    return [m.step_id for m in messages(tick(start(journey, holdout=False), journey, conds, facts(T0, row)).effects)]


def test_branch_yes_jumps_and_no_defaults_to_the_next_step() -> None:
    assert path(branch_on("seats >= 20"), {"seats": 25}) == ["big"]
    assert path(branch_on("seats >= 20"), {"seats": 5}) == ["small"]


@pytest.mark.parametrize(("unknown", "expected"), [("false", ["small"]), ("true", ["big"])])
def test_branch_unknown_policy_decides_a_null_value(unknown: str, expected: list[str]) -> None:
    assert path(branch_on("nps_latest >= 30", unknown), {"nps_latest": None}) == expected


def test_branch_with_only_no_goes_to_the_next_step_on_yes() -> None:
    text = journey_yaml("""\
      - {id: check, type: branch, when: "seats >= 20", "no": other}
      - {id: big, type: email, template: big}
      - {id: stop, type: exit}
      - {id: other, type: email, template: other}
""")
    assert path(text, {"seats": 25}) == ["big"]
    assert path(text, {"seats": 1}) == ["other"]


def test_branch_accepts_unquoted_yes_and_no_keys() -> None:
    """YAML 1.1 reads a bare `yes:` / `no:` key as a boolean; the natural spelling must still load."""
    text = journey_yaml("""\
      - {id: check, type: branch, when: "seats >= 20", yes: big, no: small}
      - {id: small, type: email, template: small}
      - {id: stop, type: exit}
      - {id: big, type: email, template: big}
""")
    assert path(text, {"seats": 25}) == ["big"]
    assert path(text, {"seats": 5}) == ["small"]


ENGAGED_BRANCH = journey_yaml("""\
      - {id: invite, type: email, template: invite}
      - {id: pause, type: wait, days: 2}
      - {id: check, type: branch, engaged: clicked, step: invite, "yes": thanks, "no": remind}
      - {id: thanks, type: email, template: thanks}
      - {id: stop, type: exit}
      - {id: remind, type: email, template: remind}
""")


@pytest.mark.parametrize(("seen", "expected"), [({"clicked"}, "thanks"), ({"opened"}, "remind"), (set(), "remind")])
def test_branch_on_engagement_with_an_earlier_message(seen: set[str], expected: str) -> None:
    journey, conds = load_one(ENGAGED_BRANCH)
    t = tick(start(journey, holdout=False), journey, conds, facts(T0))
    (invite,) = messages(t.effects)
    later = tick(t.enrollment, journey, conds, facts(days(2), engagement={invite.key: frozenset(seen)}))
    assert [m.step_id for m in messages(later.effects)] == [expected]


SPLIT = journey_yaml("""\
      - id: ab
        type: split
        variants:
          - {name: a, percent: 20, goto: mail_a}
          - {name: b, percent: 30, goto: mail_b}
          - {name: c, percent: 50, goto: mail_c}
      - {id: mail_a, type: email, template: a}
      - {id: stop_a, type: exit}
      - {id: mail_b, type: email, template: b}
      - {id: stop_b, type: exit}
      - {id: mail_c, type: email, template: c}
""")


def test_split_variant_is_stable_and_the_same_for_every_contact_of_an_account() -> None:
    journey, conds = load_one(SPLIT)
    for account in ("a1", "a2", "a3", "a4", "a5"):
        chosen = set()
        for contact in ("c1", "c2", "c3"):
            for now in (T0, days(10)):
                t = advance(enroll(journey, account, contact, now, SALT), journey, facts(now), conds, SALT)
                (mail,) = messages(t.effects)
                assert mail.step_id == f"mail_{t.enrollment.variant}"
                chosen.add(t.enrollment.variant)
        assert len(chosen) == 1, account


def test_split_follows_the_declared_percents_over_ten_thousand_accounts() -> None:
    journey, conds = load_one(SPLIT)
    counts: Counter[str | None] = Counter()
    for i in range(10_000):
        e = enroll(journey, f"acct_{i}", "c1", T0, SALT)
        counts[advance(e, journey, facts(T0), conds, SALT).enrollment.variant] += 1
    # 4 standard deviations of a binomial(10_000, p) is at most 200: a fair hash stays well inside.
    assert set(counts) == {"a", "b", "c"}
    assert abs(counts["a"] - 2_000) < 200
    assert abs(counts["b"] - 3_000) < 200
    assert abs(counts["c"] - 5_000) < 200


def test_split_depends_on_the_salt() -> None:
    points = [bucket(SALT, "split", "j", "ab", f"acct_{i}") for i in range(50)]
    others = [bucket("other-salt", "split", "j", "ab", f"acct_{i}") for i in range(50)]
    assert points != others
    assert all(0 <= p < 100 for p in points + others)


def test_split_percents_that_add_up_to_100_in_floating_point_load() -> None:
    journey, _ = load_one(journey_yaml("""\
      - id: ab
        type: split
        variants:
          - {name: a, percent: 33.3, goto: x}
          - {name: b, percent: 33.3, goto: x}
          - {name: c, percent: 33.4, goto: x}
      - {id: x, type: exit}
"""))
    assert len(journey.steps) == 2
