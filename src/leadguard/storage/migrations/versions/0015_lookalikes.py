"""look-alike counts: per template, other enrolled people at or above each grid score

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02 18:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "lookalike_counts",
        sa.Column("template_id", sa.Integer(), nullable=False),
        sa.Column("space_key", sa.String(length=32), nullable=False),
        sa.Column("grid", sa.String(length=64), nullable=False),
        sa.Column("counts", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["template_id"], ["templates.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("template_id"),
    )
    op.create_index("ix_lookalike_counts_space_key", "lookalike_counts", ["space_key"])


def downgrade() -> None:
    op.drop_index("ix_lookalike_counts_space_key", table_name="lookalike_counts")
    op.drop_table("lookalike_counts")
