"""Journeys inside the daily cycle: enroll contacts, advance enrollments, apply the contact policy, and turn
the messages into outbox rows (rendered emails, in-app messages, webhooks, Slack posts) and CTA requests.

The tick of day D happens at 09:00 in the workspace time zone (`tick_instant`): a journey's waits are
measured from there, and the contact policy holds a message for quiet hours in the contact's own zone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import ValidationError

from longtail.analytics.connect import ensure_snapshots
from longtail.channels.render import EmailTemplate, load_workspace_templates, render_email
from longtail.core.journeys.engine import (
    CallWebhook,
    Enrollment,
    Facts,
    PostSlack,
    RequestCta,
    SendMessage,
    Tick,
    advance,
    enroll,
    may_enter,
)
from longtail.core.journeys.load import JourneySet, load_journeys
from longtail.core.journeys.policy import (
    PRIORITY_OF,
    Candidate,
    ContactPolicy,
    ContactPolicyConfig,
    History,
    Sent,
    Verdict,
    arbitrate,
)
from longtail.core.motion.ctas import CtaRequest
from longtail.core.motion.load import Motion
from longtail.core.yamlsource import describe, read_yaml
from longtail.errors import ConfigError
from longtail.settings import Workspace, signing_secret
from longtail.store.enrollments import EnrollmentStore
from longtail.store.outbox import HELD, PENDING, OutboxMessage, OutboxStore, PressureReader

JOURNEYS_DIR = "motion/journeys"
POLICY_FILE = "motion/contact_policy.yml"
TICK_TIME = time(9, 0)


def tick_instant(day: date, tz: str) -> datetime:
    return datetime.combine(day, TICK_TIME, tzinfo=ZoneInfo(tz)).astimezone(UTC)


@dataclass(frozen=True)
class JourneyContext:
    journeys: JourneySet
    templates: Mapping[str, EmailTemplate]
    policy: ContactPolicy
    contacts: Mapping[str, Mapping[str, Any]]
    by_account: Mapping[str, Sequence[str]]
    secret: str
    base_url: str
    salt: str


def _read(path: Any) -> str:
    try:
        return str(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read ({exc})") from exc


def contact_policy(ws: Workspace) -> ContactPolicy:
    """motion/contact_policy.yml, or no caps and no quiet hours (suppression always applies)."""
    path = ws.root / POLICY_FILE
    if not path.is_file():
        return ContactPolicyConfig().to_policy(ws.settings.timezone)
    data, lines = read_yaml(_read(path), POLICY_FILE)
    if not isinstance(data, dict) or set(data) - {"version", "contact_policy"}:
        raise ConfigError(f"{POLICY_FILE}:1: expected `contact_policy:` (and optionally `version: 1`)")
    try:
        config = ContactPolicyConfig.model_validate(data.get("contact_policy") or {})
    except ValidationError as exc:
        # The model validates the section, so its error paths start below `contact_policy:`.
        section = {k[1:]: v for k, v in lines.items() if k[:1] == ("contact_policy",)}
        raise ConfigError(describe(exc, POLICY_FILE, section)) from exc
    return config.to_policy(ws.settings.timezone)


def workspace_journeys(ws: Workspace, motion: Motion, feature_names: Sequence[str]
                       ) -> tuple[JourneySet, dict[str, EmailTemplate]] | None:
    """The workspace's journey definitions, checked, and its email templates; None when it defines no journey.
    (The journeys page needs only these; a run also needs the contacts, see `journey_context`.)"""
    folder = ws.root / JOURNEYS_DIR
    files = sorted([*folder.glob("*.yml"), *folder.glob("*.yaml")]) if folder.is_dir() else []
    if not files:
        return None
    templates = load_workspace_templates(ws.root)
    columns = motion.condition_columns(feature_names)
    journeys = load_journeys([(str(p.relative_to(ws.root)), _read(p)) for p in files], columns,
                             templates=templates, segments=[*motion.segment_ids(), *motion.tier_names()],
                             triggers=list(motion.triggers))
    return journeys, templates


def journey_context(ws: Workspace, motion: Motion, feature_names: Sequence[str]) -> JourneyContext | None:
    """Everything journeys need, or None when the workspace defines no journey."""
    found = workspace_journeys(ws, motion, feature_names)
    if found is None:
        return None
    journeys, templates = found
    ensure_snapshots(ws)
    rows = pq.read_table(ws.tables_dir / "contacts.parquet").to_pylist()
    contacts = {r["contact_id"]: r for r in rows}
    by_account: dict[str, list[str]] = {}
    for r in rows:
        by_account.setdefault(r["account_id"], []).append(r["contact_id"])
    return JourneyContext(journeys, templates, contact_policy(ws), contacts, by_account, signing_secret(ws),
                          ws.settings.public_url, ws.settings.holdout_salt)


@dataclass
class JourneyPlan:
    enrolled: list[Enrollment] = field(default_factory=list)
    ticks: list[Tick] = field(default_factory=list)
    verdicts: list[Verdict] = field(default_factory=list)
    messages: list[OutboxMessage] = field(default_factory=list)
    suppressed: dict[str, str] = field(default_factory=dict)
    ctas: list[CtaRequest] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        actions: dict[str, int] = {}
        for v in self.verdicts:
            actions[v.action] = actions.get(v.action, 0) + 1
        return {"journey_entries": len(self.enrolled), "journey_ticks": sum(bool(t.trail) for t in self.ticks),
                "messages": len(self.messages), **{f"messages_{k}": n for k, n in sorted(actions.items())},
                "journey_ctas": len(self.ctas)}


@dataclass(frozen=True)
class Entries:
    """Who should enter which journey today: (journey id, account id, why)."""

    wanted: Sequence[tuple[str, str, str]]


def entries(jc: JourneyContext, steps: Sequence[Mapping[str, Any]], fires: Sequence[Any],
            entered: Mapping[str, Sequence[str]]) -> Entries:
    wanted: list[tuple[str, str, str]] = []
    for step in steps:
        journey = jc.journeys.get(str(step.get("journey", ""))) if step.get("type") == "journey" else None
        if journey is not None and journey.entry.playbook:
            wanted.append((journey.id, step["account_id"], f"playbook {step['playbook']}"))
    for journey in jc.journeys.journeys.values():
        if journey.entry.trigger is not None:
            wanted += [(journey.id, f.account_id, f"trigger {f.trigger_id}") for f in fires
                       if f.allowed and f.trigger_id == journey.entry.trigger]
        if journey.entry.segment_entered is not None:
            wanted += [(journey.id, a, f"entered segment {journey.entry.segment_entered}")
                       for a in entered.get(journey.entry.segment_entered, [])]
    return Entries(sorted(set(wanted)))


def plan_journeys(jc: JourneyContext, engine: Any, day: date, today: pa.Table, *, want: Entries,
                  tz: str) -> JourneyPlan:
    """Decide the day's journey work from the stored state; nothing is written."""
    now = tick_instant(day, tz)
    store = EnrollmentStore(engine)
    plan = JourneyPlan()
    rows = {r["account_id"]: r for r in today.to_pylist()}
    active = store.active()
    for journey_id in sorted({j for j, _, _ in want.wanted}):
        journey = jc.journeys.journeys[journey_id]
        accounts = sorted({a for j, a, _ in want.wanted if j == journey_id and a in rows})
        contact_ids = [c for a in accounts for c in jc.by_account.get(a, [])
                       if not journey.roles or jc.contacts[c].get("role") in journey.roles]
        history = store.of_contacts(journey_id, contact_ids)
        for contact_id in contact_ids:
            ok, _why = may_enter(journey, history.get(contact_id, []), now)
            if ok:
                plan.enrolled.append(enroll(journey, jc.contacts[contact_id]["account_id"], contact_id, now,
                                            jc.salt))
    reader = PressureReader(engine)
    unsubscribed, bounced = reader.suppressions()
    running = [e for e in [*active, *plan.enrolled] if e.journey_id in jc.journeys.journeys]
    engagement = reader.engagement([k for e in running for k in e.sent.values()])
    effects: list[tuple[Enrollment, Any]] = []
    for e in running:
        facts = Facts(now, rows.get(e.account_id), engagement, unsubscribed=bool(unsubscribed.get(e.contact_id)))
        tick = advance(e, jc.journeys.journeys[e.journey_id], facts, jc.journeys.conditions[e.journey_id], jc.salt)
        plan.ticks.append(tick)
        effects += [(tick.enrollment, eff) for eff in tick.effects]
    _messages(plan, jc, reader, effects, rows=rows, now=now, suppressions=(unsubscribed, bounced))
    plan.ctas = [_cta(eff, jc, day) for _, eff in effects if isinstance(eff, RequestCta)]
    return plan


def _priority(name: str) -> int:
    return {str(k): v for k, v in PRIORITY_OF.items()}.get(name, 50)


def _cta(eff: RequestCta, jc: JourneyContext, day: date) -> CtaRequest:
    return CtaRequest(account_id=eff.account_id, cta_type=eff.cta_type, reason=eff.reason,  # type: ignore[arg-type]
                      playbook_id=f"journey:{eff.journey_id}", definition_hash=jc.journeys.hashes[eff.journey_id],
                      priority=eff.priority, due=day + timedelta(days=eff.due_in_days),  # type: ignore[arg-type]
                      title=eff.title, inputs={"journey": eff.journey_id, "step": eff.step_id,
                                               "enrollment": eff.enrollment_id})


def _messages(plan: JourneyPlan, jc: JourneyContext, reader: PressureReader, effects: list[tuple[Enrollment, Any]],
              *, rows: Mapping[str, Mapping[str, Any]], now: datetime,
              suppressions: tuple[dict[str, set[str]], set[str]]) -> None:
    sends = [eff for _, eff in effects if isinstance(eff, SendMessage)]
    candidates = []
    for m in sends:
        contact = jc.contacts.get(m.contact_id, {})
        candidates.append(Candidate(key=m.key, contact_id=m.contact_id, account_id=m.account_id, channel=m.channel,
                                    priority=_priority(m.priority), due=m.due, program=m.journey_id,
                                    contact_tz=contact.get("timezone") or None, role=contact.get("role"),
                                    email=contact.get("email")))
    unsubscribed, bounced = suppressions
    recent = reader.recent(now - timedelta(days=8))
    history = History(sent=[Sent(r["contact_id"], r["account_id"], r["channel"], r["at"]) for r in recent
                            if r["contact_id"] and r["account_id"]],
                      unsubscribed={c: set(ch) for c, ch in unsubscribed.items()}, hard_bounced=frozenset(bounced))
    plan.verdicts = arbitrate(candidates, history, jc.policy, now)
    by_key = {m.key: m for m in sends}
    for verdict in plan.verdicts:
        m = by_key[verdict.key]
        if verdict.action in ("skip", "suppress"):
            plan.suppressed[m.key] = verdict.reason
        due = verdict.until if verdict.action in ("hold", "defer") and verdict.until else now
        payload = _payload(m, jc, rows.get(m.account_id, {}))
        status = HELD if verdict.action in ("skip", "suppress") else PENDING
        plan.messages.append(OutboxMessage(m.key, m.channel, {**payload, "policy": verdict.reason}, due,
                                           contact_id=m.contact_id, account_id=m.account_id, program=m.journey_id,
                                           status=status))
    for _, eff in effects:
        if isinstance(eff, CallWebhook):
            plan.messages.append(OutboxMessage(eff.key, "webhook", {"url": eff.url, "event": eff.event,
                                                                    "body": dict(eff.payload)}, now,
                                               account_id=str(eff.payload.get("account_id")),
                                               program=str(eff.payload.get("journey"))))
        elif isinstance(eff, PostSlack):
            plan.messages.append(OutboxMessage(eff.key, "slack", {"text": eff.text, "url_env": eff.url_env}, now,
                                               account_id=eff.account_id, program=eff.journey_id))


def _payload(m: SendMessage, jc: JourneyContext, account: Mapping[str, Any]) -> dict[str, Any]:
    contact = dict(jc.contacts.get(m.contact_id, {}))
    if m.channel == "in_app":
        return {"title": m.title, "body": m.body, "cta_label": m.cta_label, "cta_url": m.cta_url,
                "expires_days": m.expires_days, "step": m.step_id}
    template = jc.templates[m.template or ""]
    context = {"account": {"name": account.get("name"), **dict(account)}, "contact": contact,
               "features": dict(account)}
    rendered = render_email(template, context, message_key=m.key, base_url=jc.base_url, secret=jc.secret)
    return {"to": contact.get("email"), "subject": rendered.subject, "html": rendered.html, "text": rendered.text,
            "headers": dict(rendered.headers)}


def apply_journeys(plan: JourneyPlan, engine: Any, day: date, tz: str) -> tuple[int, int]:
    """Store enrollments and ticks, enqueue the messages (idempotent), mark the suppressed ones."""
    now = tick_instant(day, tz)
    EnrollmentStore(engine).save(plan.enrolled, plan.ticks, now)
    outbox = OutboxStore(engine)
    inserted, duplicates = outbox.enqueue(plan.messages, now=now)
    for key, reason in plan.suppressed.items():
        outbox.mark_suppressed(key, reason)
    return inserted, duplicates
