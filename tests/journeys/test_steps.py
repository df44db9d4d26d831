"""Each non-waiting step kind produces its effect, and the journey ends completed or exited."""

from __future__ import annotations

from longtail.core.journeys.engine import CallWebhook, RequestCta, SendMessage, enroll
from tests.journeys.helpers import SALT, T0, facts, journey_yaml, load_one, messages, start, tick

ALL_KINDS = journey_yaml("""\
      - {id: hello, type: email, template: welcome}
      - {id: tip, type: in_app, title: A tip, body: Try reports, cta_label: Open, cta_url: "https://x.test/r"}
      - {id: call, type: cta, cta_type: onboarding, reason: new account, title: Call them, priority: high,
         due_in_days: 5}
      - {id: hook, type: webhook, url: "https://hooks.test/j", event: journey.step}
""", header="    priority: high\n")


def test_email_in_app_cta_and_webhook_effects_in_order_then_completed() -> None:
    journey, conds = load_one(ALL_KINDS)
    e = start(journey, holdout=False)
    t = tick(e, journey, conds, facts(T0))
    email, in_app, cta, hook = t.effects
    assert isinstance(email, SendMessage)
    assert (email.channel, email.template, email.step_id, email.due, email.priority) == (
        "email", "welcome", "hello", T0, "high")
    assert (email.account_id, email.contact_id, email.enrollment_id, email.journey_id) == ("a1", "c1",
                                                                                          e.enrollment_id, "j")
    assert isinstance(in_app, SendMessage)
    assert (in_app.channel, in_app.title, in_app.body, in_app.cta_label, in_app.cta_url, in_app.template) == (
        "in_app", "A tip", "Try reports", "Open", "https://x.test/r", None)
    assert isinstance(cta, RequestCta)
    assert (cta.cta_type, cta.reason, cta.title, cta.priority, cta.due_in_days, cta.account_id, cta.step_id) == (
        "onboarding", "new account", "Call them", "high", 5, "a1", "call")
    assert isinstance(hook, CallWebhook)
    assert (hook.url, hook.event) == ("https://hooks.test/j", "journey.step")
    assert dict(hook.payload) == {"journey": "j", "step": "hook", "account_id": "a1", "contact_id": "c1",
                                  "enrollment_id": e.enrollment_id}
    assert t.enrollment.status == "completed"
    assert t.enrollment.exit_reason is not None and "completed" in t.enrollment.exit_reason
    assert t.enrollment.sent == {"hello": email.key, "tip": in_app.key}
    assert len({email.key, in_app.key, hook.key}) == 3
    assert len(t.trail) == 5


def test_finished_enrollment_does_not_move_again() -> None:
    journey, conds = load_one(ALL_KINDS)
    done = tick(start(journey, holdout=False), journey, conds, facts(T0)).enrollment
    again = tick(done, journey, conds, facts(T0.replace(year=2027)))
    assert again.enrollment == done
    assert again.effects == () and again.trail == ()


def test_exit_step_stops_the_journey_before_later_steps() -> None:
    journey, conds = load_one(journey_yaml("""\
      - {id: first, type: email, template: welcome}
      - {id: stop, type: exit}
      - {id: never, type: email, template: later}
"""))
    t = tick(start(journey, holdout=False), journey, conds, facts(T0))
    assert [m.step_id for m in messages(t.effects)] == ["first"]
    assert t.enrollment.status == "exited"
    assert t.enrollment.exit_reason == "exited: exit step stop"
    assert "never" not in t.enrollment.sent


def test_message_keys_depend_on_enrollment_and_step() -> None:
    journey, conds = load_one(ALL_KINDS)
    a = tick(start(journey, contact_id="c1", holdout=False), journey, conds, facts(T0))
    b = tick(start(journey, contact_id="c2", holdout=False), journey, conds, facts(T0))
    keys_a = {m.key for m in messages(a.effects)}
    keys_b = {m.key for m in messages(b.effects)}
    assert len(keys_a) == 2 and len(keys_b) == 2
    assert not keys_a & keys_b


def test_enrollment_is_stable_for_the_same_contact_and_time() -> None:
    journey, _ = load_one(ALL_KINDS)
    first = enroll(journey, "a1", "c1", T0, SALT)
    assert first == enroll(journey, "a1", "c1", T0, SALT)
    assert (first.step, first.status, first.wait_until, first.updated_at) == (0, "active", None, T0)
    assert first.enrollment_id != enroll(journey, "a1", "c1", T0.replace(day=6), SALT).enrollment_id
