"""faces, embedding spaces and duplicate verdicts under the audit chain

No schema change. ``faces`` (where each enrolled face is, its landmarks and the quality
verdict it was enrolled with), ``embedding_spaces`` (which model and detector a space is)
and ``probable_duplicates`` (the agency's verdicts, which decide what the stranger figures
count) join the tables every row of which an audit entry must name
(``audit_records.COVERED``): an edited quality verdict, an inserted verdict or a changed
space descriptor is then named by ``audit verify``. The rows as they stand are named by an
``audit.baseline`` entry.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-04 19:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    from leadguard.audit import baseline as audit_baseline

    audit_baseline.adopt(
        op.get_bind(), revision, tables=("faces", "embedding_spaces", "probable_duplicates")
    )


def downgrade() -> None:
    pass  # the baseline entries stay: the chain is append-only
