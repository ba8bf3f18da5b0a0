"""quality and provenance: per-face quality; probes as received and as edited

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 02:35:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("faces", schema=None) as batch_op:
        batch_op.add_column(sa.Column("quality", sa.JSON(), nullable=True))
    op.create_table(
        "probes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("source_type", sa.String(length=32), nullable=False),
        sa.Column("original_name", sa.Text(), nullable=False),
        sa.Column("exif", sa.JSON(), nullable=False),
        sa.Column("editor", sa.String(length=64), nullable=True),
        sa.Column("edits", sa.JSON(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["parent_id"], ["probes.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("probes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_probes_sha256"), ["sha256"])
    with op.batch_alter_table("search_log", schema=None) as batch_op:
        batch_op.add_column(sa.Column("probe_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key("fk_search_log_probe", "probes", ["probe_id"], ["id"])


def downgrade() -> None:
    with op.batch_alter_table("search_log", schema=None) as batch_op:
        batch_op.drop_constraint("fk_search_log_probe", type_="foreignkey")
        batch_op.drop_column("probe_id")
    with op.batch_alter_table("probes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_probes_sha256"))
    op.drop_table("probes")
    with op.batch_alter_table("faces", schema=None) as batch_op:
        batch_op.drop_column("quality")
