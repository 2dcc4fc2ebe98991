"""remediations (purge, restore) with their per-mailbox items, block requests, the case's network message id

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

from bot.store.models import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("network_message_id", sa.String(64), nullable=True))
    op.create_table(
        "remediations",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("case_id", sa.Integer(), sa.ForeignKey("cases.id", ondelete="CASCADE"), nullable=False),
        sa.Column("active_case_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("scope", sa.String(16), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("method", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("requested_by", sa.String(32), nullable=False),
        sa.Column("restores_id", sa.Integer(), sa.ForeignKey("remediations.id"), nullable=True),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("done_count", sa.Integer(), nullable=False),
        sa.Column("failed_count", sa.Integer(), nullable=False),
        sa.Column("missing_count", sa.Integer(), nullable=False),
        sa.Column("action_center_urls", sa.JSON(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("claimed_until", UTCDateTime(), nullable=True),
        sa.Column("next_check_at", UTCDateTime(), nullable=True),
        sa.Column("give_up_at", UTCDateTime(), nullable=True),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.UniqueConstraint("active_case_id", name="uq_remediations_active_case"),
    )
    op.create_index("ix_remediations_case", "remediations", ["case_id"])
    op.create_index("ix_remediations_state_next_check", "remediations", ["state", "next_check_at"])
    op.create_table(
        "remediation_items",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "remediation_id",
            sa.Integer(),
            sa.ForeignKey("remediations.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("network_message_id", sa.String(64), nullable=False),
        sa.Column("recipient", sa.String(320), nullable=False),
        sa.Column("internet_message_id", sa.Text(), nullable=False),
        sa.Column("location", sa.String(64), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("mailbox_message_id", sa.Text(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.UniqueConstraint(
            "remediation_id", "network_message_id", "recipient", name="uq_remediation_items_pair"
        ),
    )
    op.create_index(
        "ix_remediation_items_remediation_state", "remediation_items", ["remediation_id", "state"]
    )
    op.create_table(
        "block_requests",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("case_id", sa.Integer(), sa.ForeignKey("cases.id", ondelete="CASCADE"), nullable=False),
        sa.Column("auto_case_id", sa.Integer(), nullable=True),
        sa.Column("automatic", sa.Boolean(), nullable=False),
        sa.Column("requested_by", sa.String(32), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("expires_days", sa.Integer(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("not_before", UTCDateTime(), nullable=False),
        sa.Column("claimed_until", UTCDateTime(), nullable=True),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
        sa.Column("microsoft_id", sa.String(64), nullable=True),
        sa.Column("next_check_at", UTCDateTime(), nullable=True),
        sa.Column("checks_done", sa.Integer(), nullable=False),
        sa.Column("results", sa.JSON(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.UniqueConstraint("auto_case_id", name="uq_block_requests_auto_case"),
    )
    op.create_index("ix_block_requests_case", "block_requests", ["case_id"])
    op.create_index("ix_block_requests_state_not_before", "block_requests", ["state", "not_before"])
    op.create_index("ix_block_requests_state_next_check", "block_requests", ["state", "next_check_at"])


def downgrade() -> None:
    for table in ("block_requests", "remediation_items", "remediations"):
        op.drop_table(table)
    with op.batch_alter_table("cases") as batch:
        batch.drop_column("network_message_id")
