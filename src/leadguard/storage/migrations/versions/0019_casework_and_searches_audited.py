"""casework and search records under the audit chain

No schema change. The rows that decide what happens to a person join the tables every row
of which an audit entry must name (``audit_records.COVERED``): search requests (approved or
not), reviews, leads, corroboration, photo-array showings, external searches, and the
search log and stored probes they rest on. Every service already names each row it writes
in its entry; what was missing is the check that no row is there without one, so a request
marked approved, a third review or a lead inserted in the database is named by ``audit
verify``. The rows as they stand are named by ``audit.baseline`` entries.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07 02:30:00
"""

from __future__ import annotations

from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

# written out, not read from COVERED: a later change to COVERED must not change this revision
TABLES = (
    "search_log",
    "probes",
    "search_requests",
    "reviews",
    "leads",
    "corroborations",
    "lineup_showings",
    "external_searches",
)


def upgrade() -> None:
    from leadguard.audit import baseline as audit_baseline

    audit_baseline.adopt(op.get_bind(), revision, tables=TABLES)


def downgrade() -> None:
    pass  # the baseline entries stay: the chain is append-only
