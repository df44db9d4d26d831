"""Indexes for the account page: every table it filters by account_id gets an index on that column.

Revision ID: 0008
Revises: 0007

Without them the page scans segment_membership (one row per account per segment stint), the outbox and the
engagement events (several rows per message) on every view; with 100k accounts that is most of its time.
The other tables the page reads by account already have one (subscriptions, contacts, tickets, survey
responses, tier history, enrollments, notes) or lead an index with it (ctas' ix_ctas_key).
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

INDEXES = (
    ("ix_segment_membership_account_id", "segment_membership"),
    ("ix_outbox_account_id", "outbox"),
    ("ix_engagement_events_account_id", "engagement_events"),
)


def upgrade() -> None:
    for name, table in INDEXES:
        op.create_index(name, table, ["account_id"])


def downgrade() -> None:
    for name, table in reversed(INDEXES):
        op.drop_index(name, table_name=table)
