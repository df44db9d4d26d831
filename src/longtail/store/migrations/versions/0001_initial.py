"""Entity tables for the data contract.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

ID = 255


def _hash() -> sa.Column[str]:
    return sa.Column("row_hash", sa.String(64), nullable=False)


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("account_id", sa.String(ID), primary_key=True),
        sa.Column("name", sa.Text),
        sa.Column("created_at", sa.DateTime(timezone=True)),
        sa.Column("industry", sa.Text),
        sa.Column("country", sa.Text),
        sa.Column("employees", sa.BigInteger),
        sa.Column("parent_account_id", sa.String(ID)),
        sa.Column("attributes", sa.JSON),
        _hash(),
    )
    op.create_table(
        "subscriptions",
        sa.Column("subscription_id", sa.String(ID), primary_key=True),
        sa.Column("start_date", sa.Date, primary_key=True),
        sa.Column("account_id", sa.String(ID), nullable=False, index=True),
        sa.Column("plan", sa.Text),
        sa.Column("end_date", sa.Date),
        sa.Column("mrr", sa.Numeric(18, 4), nullable=False),
        sa.Column("arr", sa.Numeric(18, 4), nullable=False),
        sa.Column("quantity", sa.BigInteger),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("attributes", sa.JSON),
        _hash(),
    )
    op.create_table(
        "contacts",
        sa.Column("contact_id", sa.String(ID), primary_key=True),
        sa.Column("account_id", sa.String(ID), nullable=False, index=True),
        sa.Column("email", sa.Text),
        sa.Column("name", sa.Text),
        sa.Column("role", sa.Text),
        sa.Column("title", sa.Text),
        sa.Column("timezone", sa.String(64)),
        sa.Column("created_at", sa.DateTime(timezone=True)),
        sa.Column("attributes", sa.JSON),
        _hash(),
    )
    op.create_table(
        "tickets",
        sa.Column("ticket_id", sa.String(ID), primary_key=True),
        sa.Column("account_id", sa.String(ID), nullable=False, index=True),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True)),
        sa.Column("priority", sa.Text),
        sa.Column("status", sa.Text),
        sa.Column("csat", sa.Float),
        sa.Column("attributes", sa.JSON),
        _hash(),
    )
    op.create_table(
        "survey_responses",
        sa.Column("response_id", sa.String(ID), primary_key=True),
        sa.Column("account_id", sa.String(ID), nullable=False, index=True),
        sa.Column("contact_id", sa.String(ID)),
        sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(32)),
        sa.Column("score", sa.Float),
        sa.Column("comment", sa.Text),
        sa.Column("attributes", sa.JSON),
        _hash(),
    )
    op.create_table(
        "team_members",
        sa.Column("member_id", sa.String(ID), primary_key=True),
        sa.Column("name", sa.Text),
        sa.Column("email", sa.Text),
        sa.Column("role", sa.String(32)),
        sa.Column("capacity", sa.Integer),
        sa.Column("skills", sa.JSON),
        sa.Column("tiers", sa.JSON),
        sa.Column("attributes", sa.JSON),
        _hash(),
    )
    op.create_table(
        "custom_attributes",
        sa.Column("kind", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(ID), primary_key=True),
        sa.Column("type", sa.String(16), nullable=False),
    )


def downgrade() -> None:
    for name in ("custom_attributes", "team_members", "survey_responses", "tickets", "contacts",
                 "subscriptions", "accounts"):
        op.drop_table(name)
