"""look-alike counts under the audit chain

No schema change. Every change of a space's look-alike counts now appends a
``lookalikes.state`` entry with the set digest of the space's rows
(``audit.lookalike_state``), and ``audit verify`` compares the rows with it. The rows a
workspace already holds are adopted as they stand: one entry per space that has rows.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07 12:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    from sqlalchemy.orm import Session

    from leadguard.audit import log as audit
    from leadguard.audit import lookalike_state
    from leadguard.storage import lookalike_queries

    session = Session(bind=op.get_bind())
    with audit.acting_as(f"migration:{revision}"):
        for key in lookalike_queries.lookalike_spaces(session):
            if isinstance(key, str):  # a key that is not text: ``verify`` names it
                lookalike_state.record_table(session, key, f"adopted at revision {revision}")
    session.flush()


def downgrade() -> None:
    pass  # the entries stay: the chain is append-only
