"""Operational tables (SQLAlchemy Core). Migrations in `migrations/` must match this metadata."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

ID = 255


def _hash() -> Column[str]:
    return Column("row_hash", String(64), nullable=False)


accounts = Table(
    "accounts",
    metadata,
    Column("account_id", String(ID), primary_key=True),
    Column("name", Text),
    Column("created_at", DateTime(timezone=True)),
    Column("industry", Text),
    Column("country", Text),
    Column("employees", BigInteger),
    Column("parent_account_id", String(ID)),
    Column("attributes", JSON),
    _hash(),
)

subscriptions = Table(
    "subscriptions",
    metadata,
    Column("subscription_id", String(ID), primary_key=True),
    Column("start_date", Date, primary_key=True),
    Column("account_id", String(ID), nullable=False, index=True),
    Column("plan", Text),
    Column("end_date", Date),
    Column("mrr", Numeric(18, 4), nullable=False),
    Column("arr", Numeric(18, 4), nullable=False),
    Column("quantity", BigInteger),
    Column("currency", String(3), nullable=False),
    Column("attributes", JSON),
    _hash(),
)

contacts = Table(
    "contacts",
    metadata,
    Column("contact_id", String(ID), primary_key=True),
    Column("account_id", String(ID), nullable=False, index=True),
    Column("email", Text),
    Column("name", Text),
    Column("role", Text),
    Column("title", Text),
    Column("timezone", String(64)),
    Column("created_at", DateTime(timezone=True)),
    Column("attributes", JSON),
    _hash(),
)

tickets = Table(
    "tickets",
    metadata,
    Column("ticket_id", String(ID), primary_key=True),
    Column("account_id", String(ID), nullable=False, index=True),
    Column("opened_at", DateTime(timezone=True), nullable=False),
    Column("closed_at", DateTime(timezone=True)),
    Column("priority", Text),
    Column("status", Text),
    Column("csat", Float),
    Column("attributes", JSON),
    _hash(),
)

survey_responses = Table(
    "survey_responses",
    metadata,
    Column("response_id", String(ID), primary_key=True),
    Column("account_id", String(ID), nullable=False, index=True),
    Column("contact_id", String(ID)),
    Column("ts", DateTime(timezone=True), nullable=False),
    Column("kind", String(32)),
    Column("score", Float),
    Column("comment", Text),
    Column("attributes", JSON),
    _hash(),
)

team_members = Table(
    "team_members",
    metadata,
    Column("member_id", String(ID), primary_key=True),
    Column("name", Text),
    Column("email", Text),
    Column("role", String(32)),
    Column("capacity", Integer),
    Column("skills", JSON),
    Column("tiers", JSON),
    Column("attributes", JSON),
    _hash(),
)

custom_attributes = Table(
    "custom_attributes",
    metadata,
    Column("kind", String(32), primary_key=True),
    Column("name", String(ID), primary_key=True),
    Column("type", String(16), nullable=False),
)

load_runs = Table(
    "load_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(32), nullable=False),
    Column("sources", Text, nullable=False),
    Column("read", BigInteger, nullable=False),
    Column("loaded", BigInteger, nullable=False),
    Column("updated", BigInteger, nullable=False),
    Column("unchanged", BigInteger, nullable=False),
    Column("rejected", BigInteger, nullable=False),
    Column("rejects_file", Text),
    Column("finished_at", DateTime(timezone=True), nullable=False),
)

ENTITY_TABLES: dict[str, Table] = {
    "accounts": accounts,
    "subscriptions": subscriptions,
    "contacts": contacts,
    "tickets": tickets,
    "surveys": survey_responses,
    "team": team_members,
}

# ---------------------------------------------------------------------------------------------- motion
# CTAs, their audit trail, signal firings, segment and tier history, overrides and motion runs.
# Imported here so this block is a pure addition to the file.

ctas = Table(
    "ctas",
    metadata,
    Column("cta_id", String(64), primary_key=True),
    Column("account_id", String(ID), nullable=False),
    Column("cta_type", String(32), nullable=False),
    Column("reason", Text, nullable=False),
    Column("playbook_id", String(ID), nullable=False),
    Column("definition_hash", String(64), nullable=False),
    Column("priority", String(16), nullable=False),
    Column("due", Date, nullable=False),
    Column("title", Text, nullable=False),
    Column("script", Text, nullable=False),
    Column("complete_on", String(16), nullable=False),
    Column("inputs", JSON, nullable=False),
    Column("auto_close", Boolean, nullable=False),
    Column("checklist", JSON, nullable=False),
    Column("follow_up_days", Integer),
    Column("status", String(16), nullable=False),
    Column("owner_id", String(ID)),
    Column("owner_reason", Text),
    Column("created_on", Date, nullable=False),
    Column("updated_on", Date, nullable=False),
    Column("last_fired_on", Date, nullable=False),
    Column("fire_count", Integer, nullable=False),
    Column("snoozed_until", Date),
    Column("snooze_reason", Text),
    Column("escalated_to", String(ID)),
    Column("closed_on", Date),
    Column("close_reason", Text),
    Column("follow_up_of", String(64)),
    Index("ix_ctas_key", "account_id", "cta_type", "reason"),
    Index("ix_ctas_status_owner", "status", "owner_id"),
)

cta_log = Table(
    "cta_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("cta_id", String(64), nullable=False, index=True),
    Column("on", Date, nullable=False),
    Column("action", String(32), nullable=False),
    Column("actor", String(ID), nullable=False),
    Column("detail", JSON, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
)

signal_fires = Table(
    "signal_fires",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("signal_id", String(ID), nullable=False),
    Column("account_id", String(ID), nullable=False),
    Column("day", Date, nullable=False),
    Column("definition_hash", String(64), nullable=False),
    Column("inputs", JSON, nullable=False),
    Column("suppressed_reason", Text),
    UniqueConstraint("signal_id", "account_id", "day", name="uq_signal_fires_signal_account_day"),
)

segment_membership = Table(
    "segment_membership",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("segment_id", String(ID), nullable=False),
    Column("account_id", String(ID), nullable=False, index=True),  # the account page (migration 0008)
    Column("entered", Date, nullable=False),
    Column("left", Date),
    Column("definition_hash", String(64), nullable=False),
    Index("ix_segment_membership_segment_left", "segment_id", "left"),
)

tier_history = Table(
    "tier_history",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("account_id", String(ID), nullable=False, index=True),
    Column("tier", String(64), nullable=False),
    Column("entered", Date, nullable=False),
    Column("left", Date),
    Column("reason", Text, nullable=False),
)

tier_overrides = Table(
    "tier_overrides",
    metadata,
    Column("account_id", String(ID), primary_key=True),
    Column("tier", String(64), nullable=False),
    Column("reason", Text, nullable=False),
    Column("expires", Date),
    Column("created_on", Date, nullable=False),
    Column("created_by", String(ID), nullable=False),
)

motion_runs = Table(
    "motion_runs",
    metadata,
    Column("run_id", String(64), primary_key=True),
    Column("as_of", Date, nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
    Column("definitions_hash", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("counts", JSON),
)

MOTION_TABLES: dict[str, Table] = {
    t.name: t
    for t in (ctas, cta_log, signal_fires, segment_membership, tier_history, tier_overrides, motion_runs)
}

playbook_hits = Table(
    "playbook_hits",
    metadata,
    Column("playbook_id", String(ID), primary_key=True),
    Column("account_id", String(ID), primary_key=True),
    Column("day", Date, primary_key=True),
    Column("definition_hash", String(64), nullable=False),
    Column("signal_id", String(ID), nullable=False),
    Column("success_due", Date),
    Column("checked_on", Date),
    Column("success", Boolean),
    Column("success_reason", Text),
    Index("ix_playbook_hits_due", "success_due", "checked_on"),
)
"""Every time a playbook applied to an account, and (after its horizon) whether its success condition held."""

# ---------------------------------------------------------------------------------------------- outbox
# Messages waiting to go out, what happened to them afterwards, and who must not be contacted.
# See longtail.store.outbox for the statuses and the delivery guarantee.

outbox = Table(
    "outbox",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("channel", String(32), nullable=False),
    Column("contact_id", String(ID)),
    Column("account_id", String(ID), index=True),  # the account page's timeline (migration 0008)
    Column("program", String(ID)),
    Column("payload", JSON, nullable=False),
    Column("due_at", DateTime(timezone=True), nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("last_error", Text),
    Column("lease_until", DateTime(timezone=True)),
    Column("claimed_by", String(ID)),
    Column("message_id", String(ID), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("sent_at", DateTime(timezone=True)),
    Index("ix_outbox_status_due", "status", "due_at"),
)
"""One row per message; `id` is the idempotency key the planner derives, so planning twice enqueues once."""

engagement_events = Table(
    "engagement_events",
    metadata,
    Column("event_id", String(ID), primary_key=True),
    Column("message_key", String(ID), index=True),
    Column("contact_id", String(ID)),
    Column("account_id", String(ID), index=True),  # the account page's engagement counts (migration 0008)
    Column("channel", String(32), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("detail", JSON),
)

suppressions = Table(
    "suppressions",
    metadata,
    Column("suppression_id", String(ID), primary_key=True),
    Column("contact_id", String(ID), index=True),
    Column("email", String(ID), index=True),
    Column("channel", String(32), nullable=False),
    Column("reason", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
"""A contact or an address that must not get messages on `channel` ('all' for every channel)."""

OUTBOX_TABLES: dict[str, Table] = {t.name: t for t in (outbox, engagement_events, suppressions)}

enrollments = Table(
    "enrollments",
    metadata,
    Column("enrollment_id", String(64), primary_key=True),
    Column("journey_id", String(ID), nullable=False),
    Column("account_id", String(ID), nullable=False, index=True),
    Column("contact_id", String(ID), nullable=False),
    Column("entered_at", DateTime(timezone=True), nullable=False),
    Column("holdout", Boolean, nullable=False),
    Column("step", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("wait_until", DateTime(timezone=True)),
    Column("exit_reason", Text),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("visits", JSON, nullable=False),
    Column("sent", JSON, nullable=False),
    Column("variant", String(64)),
    Index("ix_enrollments_journey_contact", "journey_id", "contact_id"),
    Index("ix_enrollments_status", "status"),
)
"""One contact's way through one journey (see longtail.core.journeys.engine)."""

enrollment_log = Table(
    "enrollment_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("enrollment_id", String(64), nullable=False, index=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("trail", JSON, nullable=False),
)
"""What each tick did to an enrollment, as sentences."""

motion_attributes = Table(
    "motion_attributes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("account_id", String(ID), nullable=False),
    Column("name", String(64), nullable=False),
    Column("value", Text, nullable=False),
    Column("value_type", String(16), nullable=False),
    Column("valid_from", Date, nullable=False),
    Column("playbook_id", String(ID), nullable=False),
    Column("definition_hash", String(64), nullable=False),
    Column("run_day", Date, nullable=False),
    Column("set_at", DateTime(timezone=True), nullable=False),
    Column("reason", Text, nullable=False),
    UniqueConstraint("account_id", "name", "run_day", name="uq_motion_attributes_account_name_day"),
    Index("ix_motion_attributes_name_valid_from", "name", "valid_from"),
)
"""What playbooks' set_attribute steps wrote: one row per change, valid from `valid_from` (run day + 1); `value`
is JSON text of `value_type` (string, number, boolean). See longtail.store.motion_attributes."""
