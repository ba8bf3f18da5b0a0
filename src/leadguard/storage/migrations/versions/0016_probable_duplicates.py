"""probable duplicates: the agency's verdicts on two subject ids that may be one person

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-02 19:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "probable_duplicates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("space_key", sa.String(length=255), nullable=False),
        sa.Column("subject_a", sa.String(length=255), nullable=False),
        sa.Column("subject_b", sa.String(length=255), nullable=False),
        sa.Column("verdict", sa.String(length=32), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("resolved_by", sa.String(length=255), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("space_key", "subject_a", "subject_b"),
    )


def downgrade() -> None:
    op.drop_table("probable_duplicates")
