"""user-reported submissions (the Report button): each submission's source, the listing's watermark, responders'
reviews (Mark as … and notify), and App Homes

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

from bot.store.models import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("submissions") as batch:
        batch.add_column(sa.Column("source", sa.String(16), nullable=False, server_default="administrator"))
    op.create_index("ix_cases_updated_at", "cases", ["updated_at"])
    op.create_table(
        "user_report_polls",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("watermark", UTCDateTime(), nullable=False),
        sa.Column("next_poll_at", UTCDateTime(), nullable=False),
        sa.Column("claimed_by", sa.String(32), nullable=True),
        sa.Column("claimed_until", UTCDateTime(), nullable=True),
        sa.Column("polled_at", UTCDateTime(), nullable=True),
        sa.Column("denied_at", UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("taken", sa.Integer(), nullable=False),
    )
    op.create_table(
        "reviews",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "submission_id",
            sa.Integer(),
            sa.ForeignKey("submissions.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("case_id", sa.Integer(), sa.ForeignKey("cases.id", ondelete="CASCADE"), nullable=False),
        sa.Column("category", sa.String(16), nullable=False),
        sa.Column("requested_by", sa.String(32), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("claimed_by", sa.String(32), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.UniqueConstraint("submission_id", name="uq_reviews_submission"),
    )
    op.create_index("ix_reviews_case", "reviews", ["case_id"])
    op.create_table(
        "app_homes",
        sa.Column("user_id", sa.String(32), primary_key=True),
        sa.Column("opened_at", UTCDateTime(), nullable=False),
        sa.Column("published_at", UTCDateTime(), nullable=True),
        sa.Column("refresh_after", UTCDateTime(), nullable=True),
        sa.Column("responder", sa.Boolean(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("app_homes")
    op.drop_index("ix_reviews_case", "reviews")
    op.drop_table("reviews")
    op.drop_table("user_report_polls")
    op.drop_index("ix_cases_updated_at", "cases")
    with op.batch_alter_table("submissions") as batch:
        batch.drop_column("source")
