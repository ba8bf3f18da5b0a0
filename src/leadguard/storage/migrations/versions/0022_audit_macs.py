"""a keyed audit log: an authentication code per entry, under a key outside the database

``audit_macs`` holds, for every entry written after an admin adopts an audit key
(``leadguard audit key``), HMAC-SHA256 of its sequence number and hash under that key
(``audit.keyed``). Nothing is adopted: a workspace stays unkeyed until an admin keys it.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-07 18:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_macs",
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
    )


def downgrade() -> None:
    from leadguard.core.errors import WorkspaceError

    if op.get_bind().execute(sa.text("SELECT count(*) FROM audit_macs")).scalar():
        raise WorkspaceError(
            "the audit log is keyed: below revision 0022 its authentication codes would be "
            "lost, and every entry since the key's adoption would then be named as forged. "
            "Nothing was migrated"
        )
    op.drop_table("audit_macs")
