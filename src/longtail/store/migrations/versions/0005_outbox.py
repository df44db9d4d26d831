"""Outbox, engagement events and suppressions.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

ID = 255


def upgrade() -> None:
    op.create_table(
        "outbox",
        sa.Column("id", sa.String(ID), primary_key=True),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("contact_id", sa.String(ID)),
        sa.Column("account_id", sa.String(ID)),
        sa.Column("program", sa.String(ID)),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("last_error", sa.Text),
        sa.Column("lease_until", sa.DateTime(timezone=True)),
        sa.Column("claimed_by", sa.String(ID)),
        sa.Column("message_id", sa.String(ID), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_outbox_status_due", "outbox", ["status", "due_at"])
    op.create_table(
        "engagement_events",
        sa.Column("event_id", sa.String(ID), primary_key=True),
        sa.Column("message_key", sa.String(ID)),
        sa.Column("contact_id", sa.String(ID)),
        sa.Column("account_id", sa.String(ID)),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("detail", sa.JSON),
    )
    op.create_index("ix_engagement_events_message_key", "engagement_events", ["message_key"])
    op.create_table(
        "suppressions",
        sa.Column("suppression_id", sa.String(ID), primary_key=True),
        sa.Column("contact_id", sa.String(ID)),
        sa.Column("email", sa.String(ID)),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_suppressions_contact_id", "suppressions", ["contact_id"])
    op.create_index("ix_suppressions_email", "suppressions", ["email"])


def downgrade() -> None:
    op.drop_index("ix_suppressions_email", table_name="suppressions")
    op.drop_index("ix_suppressions_contact_id", table_name="suppressions")
    op.drop_table("suppressions")
    op.drop_index("ix_engagement_events_message_key", table_name="engagement_events")
    op.drop_table("engagement_events")
    op.drop_index("ix_outbox_status_due", table_name="outbox")
    op.drop_table("outbox")
