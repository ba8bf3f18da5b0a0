"""external searches: face searches run outside LeadGuard, recorded under a case

Revision ID: 0014
Revises: 0012
Create Date: 2026-12-02 06:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "external_searches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("recorded_by", sa.Integer(), nullable=False),
        sa.Column("run_by", sa.Text(), nullable=False),
        sa.Column("system", sa.Text(), nullable=False),
        sa.Column("run_on", sa.Date(), nullable=False),
        sa.Column("candidate", sa.Text(), nullable=False),
        sa.Column("probe_id", sa.Integer(), nullable=True),
        sa.Column("probe_sha256", sa.String(length=64), nullable=True),
        sa.Column("how_received", sa.Text(), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"]),
        sa.ForeignKeyConstraint(["recorded_by"], ["users.id"]),
        sa.ForeignKeyConstraint(["probe_id"], ["probes.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_external_searches_case_id", "external_searches", ["case_id"])


def downgrade() -> None:
    op.drop_index("ix_external_searches_case_id", table_name="external_searches")
    op.drop_table("external_searches")
