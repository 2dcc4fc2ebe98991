"""workers (a heartbeat per running process) and the worker holding each claim, so that a claim whose worker died
is free at once; a card draw and an outcome message in progress are claims too

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

from bot.store.models import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

CLAIMS = {
    "submissions": ("claimed_by",),
    "remediations": ("claimed_by",),
    "block_requests": ("claimed_by",),
    "cases": ("card_claimed_by", "card_drawing_by"),
    "reporters": ("outcome_claimed_by",),
}


def upgrade() -> None:
    op.create_table(
        "workers",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("seen_at", UTCDateTime(), nullable=False),
    )
    for table, columns in CLAIMS.items():
        with op.batch_alter_table(table) as batch:
            for column in columns:
                batch.add_column(sa.Column(column, sa.String(32), nullable=True))
    # The sweep looks for cards to draw on every round: dirty ones, and ones a dead worker was drawing.
    op.create_index("ix_cases_card_drawing", "cases", ["card_drawing_by"])


def downgrade() -> None:
    op.drop_index("ix_cases_card_drawing", "cases")
    for table, columns in CLAIMS.items():
        with op.batch_alter_table(table) as batch:
            for column in columns:
                batch.drop_column(column)
    op.drop_table("workers")
