"""corroboration as a structured record, witness types at photo-array showings, case facts

``corroborations``: evidence recorded for a lead with the independence questions answered
(older free-text entries stay in ``leads.corroboration`` and are shown as legacy, never
counted). ``lineup_showings``: each showing of a photo array, with the witness and the
witness's type. ``cases.known_facts``: facts about the person sought that every
"possible lead" review must check. Adding the column changes every case row's content hash,
so the cases as they stand are named again by an ``audit.baseline`` entry.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 06:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("known_facts", sa.JSON(), nullable=False, server_default="{}")
        )
    op.create_table(
        "corroborations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("lead_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("how_obtained", sa.Text(), nullable=False),
        sa.Column("obtained_by", sa.String(length=255), nullable=False),
        sa.Column("obtained_on", sa.Date(), nullable=False),
        sa.Column("face_comparison_involved", sa.Boolean(), nullable=False),
        sa.Column("witness_shown_candidate", sa.Boolean(), nullable=False),
        sa.Column("links_to", sa.String(length=32), nullable=False),
        sa.Column("witness", sa.String(length=255), nullable=True),
        sa.Column("witness_relationship", sa.Text(), nullable=True),
        sa.Column("identified_on", sa.Date(), nullable=True),
        sa.Column("counts", sa.Boolean(), nullable=False),
        sa.Column("recorded_by", sa.String(length=255), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["lead_id"], ["leads.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_corroborations_lead_id"), "corroborations", ["lead_id"], unique=False)
    op.create_table(
        "lineup_showings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("lead_id", sa.Integer(), nullable=False),
        sa.Column("array_entry", sa.Integer(), nullable=False),
        sa.Column("administrator", sa.String(length=255), nullable=False),
        sa.Column("witness", sa.String(length=255), nullable=False),
        sa.Column("witness_type", sa.String(length=32), nullable=False),
        sa.Column("witness_note", sa.Text(), nullable=False),
        sa.Column("instruction", sa.Text(), nullable=False),
        sa.Column("decisions", sa.JSON(), nullable=False),
        sa.Column("recorded_by", sa.String(length=255), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["lead_id"], ["leads.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_lineup_showings_lead_id"), "lineup_showings", ["lead_id"], unique=False
    )
    from leadguard.audit import baseline as audit_baseline

    audit_baseline.adopt(op.get_bind(), revision, tables=("cases",))


def downgrade() -> None:
    op.drop_index(op.f("ix_lineup_showings_lead_id"), table_name="lineup_showings")
    op.drop_table("lineup_showings")
    op.drop_index(op.f("ix_corroborations_lead_id"), table_name="corroborations")
    op.drop_table("corroborations")
    # ALTER TABLE ... DROP COLUMN (SQLite 3.35 and later, PostgreSQL): a batch copy of
    # ``cases`` would drop the table that other tables' foreign keys name
    op.execute("ALTER TABLE cases DROP COLUMN known_facts")
