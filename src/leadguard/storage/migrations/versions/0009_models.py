"""model acceptances: the evaluation gate of a face model's embedding space

Revision ID: 0009
Revises: 0006
Create Date: 2026-11-28 04:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "model_acceptances",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("space_key", sa.String(length=32), nullable=False),
        sa.Column("model_name", sa.String(length=64), nullable=False),
        sa.Column("space", sa.JSON(), nullable=False),
        sa.Column("evaluation", sa.JSON(), nullable=False),
        sa.Column("accepted_by", sa.String(length=255), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_model_acceptances_space_key"), "model_acceptances", ["space_key"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_model_acceptances_space_key"), table_name="model_acceptances")
    op.drop_table("model_acceptances")
