"""one door: login tokens, lockout, requests bound to probe bytes, outcome history

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28 03:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "auth_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_sha256"),
    )
    with op.batch_alter_table("auth_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_auth_tokens_user_id"), ["user_id"])
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("failed_logins", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("search_requests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("probe_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("probe_sha256", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("face", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("edits", sa.JSON(), nullable=False, server_default="[]"))
        batch_op.create_foreign_key("fk_request_probe", "probes", ["probe_id"], ["id"])
    with op.batch_alter_table("leads", schema=None) as batch_op:
        batch_op.add_column(sa.Column("outcomes", sa.JSON(), nullable=False, server_default="[]"))


def downgrade() -> None:
    with op.batch_alter_table("leads", schema=None) as batch_op:
        batch_op.drop_column("outcomes")
    with op.batch_alter_table("search_requests", schema=None) as batch_op:
        batch_op.drop_constraint("fk_request_probe", type_="foreignkey")
        batch_op.drop_column("edits")
        batch_op.drop_column("face")
        batch_op.drop_column("probe_sha256")
        batch_op.drop_column("probe_id")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("locked_until")
        batch_op.drop_column("failed_logins")
    with op.batch_alter_table("auth_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_auth_tokens_user_id"))
    op.drop_table("auth_tokens")
