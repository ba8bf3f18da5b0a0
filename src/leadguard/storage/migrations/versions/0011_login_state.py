"""volatile login state apart from the hashed accounts; the chain names every covered row

``users.failed_logins`` and ``users.locked_until`` move to ``login_state`` (never hashed:
any failed login changes them). The covered tables' rows as they stand are named by
``audit.baseline`` entries (``leadguard.audit.baseline``), since dropping the two columns
changes every account's content hash and the chain now covers tables it did not before.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 06:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "login_state",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("failed_logins", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_login_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("user_id"),
    )
    op.execute(
        "INSERT INTO login_state (user_id, failed_logins, locked_until) "
        "SELECT id, failed_logins, locked_until FROM users"
    )
    # ALTER TABLE ... DROP COLUMN (SQLite 3.35 and later, PostgreSQL): a batch copy of
    # ``users`` would drop the table that other tables' foreign keys name.
    for column in ("locked_until", "failed_logins"):
        op.execute(f"ALTER TABLE users DROP COLUMN {column}")
    from leadguard.audit import baseline as audit_baseline

    audit_baseline.adopt(op.get_bind(), revision)


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("failed_logins", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True))
    op.execute(
        "UPDATE users SET "
        "failed_logins = COALESCE((SELECT failed_logins FROM login_state "
        "WHERE login_state.user_id = users.id), 0), "
        "locked_until = (SELECT locked_until FROM login_state "
        "WHERE login_state.user_id = users.id)"
    )
    op.drop_table("login_state")
