"""Playbook hits and their measured success.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

ID = 255


def upgrade() -> None:
    op.create_table(
        "playbook_hits",
        sa.Column("playbook_id", sa.String(ID), primary_key=True),
        sa.Column("account_id", sa.String(ID), primary_key=True),
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("definition_hash", sa.String(64), nullable=False),
        sa.Column("signal_id", sa.String(ID), nullable=False),
        sa.Column("success_due", sa.Date),
        sa.Column("checked_on", sa.Date),
        sa.Column("success", sa.Boolean),
        sa.Column("success_reason", sa.Text),
    )
    op.create_index("ix_playbook_hits_due", "playbook_hits", ["success_due", "checked_on"])


def downgrade() -> None:
    op.drop_index("ix_playbook_hits_due", table_name="playbook_hits")
    op.drop_table("playbook_hits")
