"""evaluation cache under the audit chain; the search requests' probe hash indexed

Every write of the evaluation cache (``template_cache``) now appends an
``eval.cache.state`` entry with the set digest of the space's cached rows
(``audit.cache_state``); ``audit verify`` and every evaluation compare the rows with it.
The rows a workspace already holds are adopted as they stand: one entry per space that has
rows. ``search_requests.probe_sha256`` gets an index: every urgent search looks up the
waiting requests of its probe's hash (the sealed-probe rule).

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07 15:30:00
"""

from __future__ import annotations

from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    from sqlalchemy.orm import Session

    from leadguard.audit import cache_state
    from leadguard.audit import log as audit
    from leadguard.storage import cache_queries

    with op.batch_alter_table("search_requests", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_search_requests_probe_sha256"), ["probe_sha256"], unique=False
        )
    session = Session(bind=op.get_bind())
    with audit.acting_as(f"migration:{revision}"):
        for key in cache_queries.cache_spaces(session):
            cache_state.record_table(session, key, f"adopted at revision {revision}")
    session.flush()


def downgrade() -> None:
    with op.batch_alter_table("search_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_search_requests_probe_sha256"))
    # the entries stay: the chain is append-only
