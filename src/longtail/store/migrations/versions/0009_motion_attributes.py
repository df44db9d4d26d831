"""Account attributes set by playbooks (set_attribute steps), kept as a history beside the loaded attributes.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

ID = 255


def upgrade() -> None:
    op.create_table(
        "motion_attributes",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("account_id", sa.String(ID), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("value_type", sa.String(16), nullable=False),
        sa.Column("valid_from", sa.Date, nullable=False),
        sa.Column("playbook_id", sa.String(ID), nullable=False),
        sa.Column("definition_hash", sa.String(64), nullable=False),
        sa.Column("run_day", sa.Date, nullable=False),
        sa.Column("set_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.UniqueConstraint("account_id", "name", "run_day", name="uq_motion_attributes_account_name_day"),
    )
    op.create_index("ix_motion_attributes_name_valid_from", "motion_attributes", ["name", "valid_from"])


def downgrade() -> None:
    op.drop_table("motion_attributes")
