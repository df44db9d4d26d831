"""Operational tables (SQLAlchemy Core). Migrations in `migrations/` must match this metadata."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Date,
    DateTime,
    Float,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
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
