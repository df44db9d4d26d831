"""Journey enrollments and their tick log.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

ID = 255


def upgrade() -> None:
    op.create_table(
        "enrollments",
        sa.Column("enrollment_id", sa.String(64), primary_key=True),
        sa.Column("journey_id", sa.String(ID), nullable=False),
        sa.Column("account_id", sa.String(ID), nullable=False),
        sa.Column("contact_id", sa.String(ID), nullable=False),
        sa.Column("entered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("holdout", sa.Boolean, nullable=False),
        sa.Column("step", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("wait_until", sa.DateTime(timezone=True)),
        sa.Column("exit_reason", sa.Text),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("visits", sa.JSON, nullable=False),
        sa.Column("sent", sa.JSON, nullable=False),
        sa.Column("variant", sa.String(64)),
    )
    op.create_index("ix_enrollments_account_id", "enrollments", ["account_id"])
    op.create_index("ix_enrollments_journey_contact", "enrollments", ["journey_id", "contact_id"])
    op.create_index("ix_enrollments_status", "enrollments", ["status"])
    op.create_table(
        "enrollment_log",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("enrollment_id", sa.String(64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("trail", sa.JSON, nullable=False),
    )
    op.create_index("ix_enrollment_log_enrollment_id", "enrollment_log", ["enrollment_id"])


def downgrade() -> None:
    op.drop_table("enrollment_log")
    op.drop_table("enrollments")
