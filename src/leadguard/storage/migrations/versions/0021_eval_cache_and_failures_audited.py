"""evaluation cache and enrollment failures under the audit chain; the search requests'
probe hash indexed

Every write of the evaluation cache (``template_cache``) now appends an
``eval.cache.state`` entry with the set digest of the space's cached rows
(``audit.cache_state``), and every enrollment batch that changes a space's failures
(``enroll_failures``) an ``enroll.failures.state`` entry (``audit.failures_state``); ``audit
verify``, every evaluation and every enrollment compare the rows with them. The rows a
workspace already holds are adopted as they stand: one entry per table and space that has
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

    from leadguard.audit import cache_state, failures_state
    from leadguard.audit import log as audit

    with op.batch_alter_table("search_requests", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_search_requests_probe_sha256"), ["probe_sha256"], unique=False
        )
    session = Session(bind=op.get_bind())
    with audit.acting_as(f"migration:{revision}"):
        for tracked in (cache_state.TRACKED, failures_state.TRACKED):
            for key in tracked.spaces(session):
                if isinstance(key, str):  # a key that is not text: ``verify`` names it
                    tracked.record_table(session, key, f"adopted at revision {revision}")
    session.flush()


def downgrade() -> None:
    with op.batch_alter_table("search_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_search_requests_probe_sha256"))
    # the entries stay: the chain is append-only
