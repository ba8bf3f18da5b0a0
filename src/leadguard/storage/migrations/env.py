"""Alembic environment: uses the connection LeadGuard hands it, or the configured URL. An
upgrade refuses to start below the revision the audit chain records, and records the
revision it reached (``schema_record``)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

from leadguard.storage.migrations import schema_record
from leadguard.storage.tables import Base

config = context.config
target_metadata = Base.metadata


def migrate(conn: Connection) -> None:
    context.configure(connection=conn, target_metadata=target_metadata, render_as_batch=True)
    migration = context.get_context()
    before = migration.get_current_revision()
    schema_record.refuse_if_set_back(conn, before)
    with context.begin_transaction():
        context.run_migrations()
        after = migration.get_current_revision()
        schema_record.record(conn, before, after, config.attributes.get("session_info", {}))


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        migrate(connection)
        return
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.connect() as conn:
        migrate(conn)


run()
