"""Motion state: CTAs and their audit log, signal firings, segment and tier history, overrides, runs.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

ID = 255


def upgrade() -> None:
    op.create_table(
        "ctas",
        sa.Column("cta_id", sa.String(64), primary_key=True),
        sa.Column("account_id", sa.String(ID), nullable=False),
        sa.Column("cta_type", sa.String(32), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("playbook_id", sa.String(ID), nullable=False),
        sa.Column("definition_hash", sa.String(64), nullable=False),
        sa.Column("priority", sa.String(16), nullable=False),
        sa.Column("due", sa.Date, nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("script", sa.Text, nullable=False),
        sa.Column("complete_on", sa.String(16), nullable=False),
        sa.Column("inputs", sa.JSON, nullable=False),
        sa.Column("auto_close", sa.Boolean, nullable=False),
        sa.Column("checklist", sa.JSON, nullable=False),
        sa.Column("follow_up_days", sa.Integer),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("owner_id", sa.String(ID)),
        sa.Column("owner_reason", sa.Text),
        sa.Column("created_on", sa.Date, nullable=False),
        sa.Column("updated_on", sa.Date, nullable=False),
        sa.Column("last_fired_on", sa.Date, nullable=False),
        sa.Column("fire_count", sa.Integer, nullable=False),
        sa.Column("snoozed_until", sa.Date),
        sa.Column("snooze_reason", sa.Text),
        sa.Column("escalated_to", sa.String(ID)),
        sa.Column("closed_on", sa.Date),
        sa.Column("close_reason", sa.Text),
        sa.Column("follow_up_of", sa.String(64)),
    )
    op.create_index("ix_ctas_key", "ctas", ["account_id", "cta_type", "reason"])
    op.create_index("ix_ctas_status_owner", "ctas", ["status", "owner_id"])
    op.create_table(
        "cta_log",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("cta_id", sa.String(64), nullable=False),
        sa.Column("on", sa.Date, nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(ID), nullable=False),
        sa.Column("detail", sa.JSON, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_cta_log_cta_id", "cta_log", ["cta_id"])
    op.create_table(
        "signal_fires",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("signal_id", sa.String(ID), nullable=False),
        sa.Column("account_id", sa.String(ID), nullable=False),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("definition_hash", sa.String(64), nullable=False),
        sa.Column("inputs", sa.JSON, nullable=False),
        sa.Column("suppressed_reason", sa.Text),
        sa.UniqueConstraint("signal_id", "account_id", "day", name="uq_signal_fires_signal_account_day"),
    )
    op.create_table(
        "segment_membership",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("segment_id", sa.String(ID), nullable=False),
        sa.Column("account_id", sa.String(ID), nullable=False),
        sa.Column("entered", sa.Date, nullable=False),
        sa.Column("left", sa.Date),
        sa.Column("definition_hash", sa.String(64), nullable=False),
    )
    op.create_index("ix_segment_membership_segment_left", "segment_membership", ["segment_id", "left"])
    op.create_table(
        "tier_history",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("account_id", sa.String(ID), nullable=False),
        sa.Column("tier", sa.String(64), nullable=False),
        sa.Column("entered", sa.Date, nullable=False),
        sa.Column("left", sa.Date),
        sa.Column("reason", sa.Text, nullable=False),
    )
    op.create_index("ix_tier_history_account_id", "tier_history", ["account_id"])
    op.create_table(
        "tier_overrides",
        sa.Column("account_id", sa.String(ID), primary_key=True),
        sa.Column("tier", sa.String(64), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("expires", sa.Date),
        sa.Column("created_on", sa.Date, nullable=False),
        sa.Column("created_by", sa.String(ID), nullable=False),
    )
    op.create_table(
        "motion_runs",
        sa.Column("run_id", sa.String(64), primary_key=True),
        sa.Column("as_of", sa.Date, nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.Column("definitions_hash", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("counts", sa.JSON),
    )


def downgrade() -> None:
    for name in ("motion_runs", "tier_overrides", "tier_history", "segment_membership", "signal_fires",
                 "cta_log", "ctas"):
        op.drop_table(name)
