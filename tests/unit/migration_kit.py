"""Migrations for unit tests: a workspace taken down to an older revision, as an operator's
``alembic downgrade`` through LeadGuard's migrations would (recorded in the chain)."""

from __future__ import annotations

from alembic import command

from leadguard.storage import db
from leadguard.storage.workspace import Workspace


def downgrade(ws: Workspace, revision: str) -> None:
    """Close ``ws`` and take its database down to ``revision``."""
    url = ws.engine.url.render_as_string(hide_password=False)
    ws.close()
    engine = db.make_engine(url)
    cfg = db.alembic_config(db.redact(url))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)
    engine.dispose()
