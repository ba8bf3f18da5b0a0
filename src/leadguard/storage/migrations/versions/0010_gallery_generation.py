"""gallery generation: a counter the database bumps on every change to the templates table

A long-running server compares it before each search instead of counting the templates
table (O(1) instead of a scan of a b-tree). Kept by triggers, so no writer can forget it.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-28 13:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_EVENTS = ("INSERT", "UPDATE", "DELETE")


def upgrade() -> None:
    op.create_table(
        "gallery_generation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("generation", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.execute("INSERT INTO gallery_generation (id, generation) VALUES (1, 0)")
    bump = "UPDATE gallery_generation SET generation = generation + 1 WHERE id = 1"
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION leadguard_bump_gallery() RETURNS trigger AS $$ "
            f"BEGIN {bump}; RETURN NULL; END; $$ LANGUAGE plpgsql"
        )
        for event in _EVENTS:  # once per statement: a batch insert bumps it once
            op.execute(
                f"CREATE TRIGGER templates_{event.lower()}_bump AFTER {event} ON templates "
                "FOR EACH STATEMENT EXECUTE FUNCTION leadguard_bump_gallery()"
            )
    else:
        for event in _EVENTS:
            op.execute(
                f"CREATE TRIGGER templates_{event.lower()}_bump AFTER {event} ON templates "
                f"BEGIN {bump}; END"
            )


def downgrade() -> None:
    for event in _EVENTS:
        op.execute(
            f"DROP TRIGGER IF EXISTS templates_{event.lower()}_bump"
            + (" ON templates" if op.get_bind().dialect.name == "postgresql" else "")
        )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS leadguard_bump_gallery()")
    op.drop_table("gallery_generation")
