"""The Alembic migrations build exactly the schema the models describe, from any revision."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from leadguard.storage import db
from leadguard.storage.tables import Base
from leadguard.storage.workspace import Workspace
from tests.pgserver import PgServer


def test_migrated_schema_matches_the_models(tmp_path: Path) -> None:
    engine = db.make_engine(db.sqlite_url(tmp_path / "x.db"))
    db.upgrade(engine)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_an_old_workspace_is_upgraded_when_opened(tmp_path: Path) -> None:
    ws = Workspace.init(tmp_path / "ws")
    ws.close()
    engine = db.make_engine(db.sqlite_url(ws.db_path))
    cfg = db.alembic_config(str(engine.url))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0001")
    assert "accuracy_records" not in inspect(engine).get_table_names()
    engine.dispose()
    reopened = Workspace.open(tmp_path / "ws")
    assert "accuracy_records" in inspect(reopened.engine).get_table_names()
    assert "template_cache" in inspect(reopened.engine).get_table_names()


@pytest.mark.postgres
def test_postgres_migrates_up_from_empty_to_the_models(pg_server: PgServer) -> None:
    url = pg_server.new_database()
    engine = db.make_engine(url)
    db.upgrade(engine)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []
    engine.dispose()
    pg_server.drop_database(url)


@pytest.mark.postgres
def test_postgres_migrates_down_to_empty_and_up_again(tmp_path: Path, pg_server: PgServer) -> None:
    url = pg_server.new_database()
    ws = Workspace.init(tmp_path / "ws", database_url=url)
    assert not (tmp_path / "ws" / "leadguard.db").exists()
    ws.close()
    engine = db.make_engine(url)
    cfg = db.alembic_config(db.redact(url))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    engine.dispose()
    reopened = Workspace.open(tmp_path / "ws")  # the URL comes from the settings file
    assert reopened.engine.dialect.name == "postgresql"
    assert "audit_log" in inspect(reopened.engine).get_table_names()
    reopened.close()
    pg_server.drop_database(url)


def test_cases_from_before_known_facts_read_as_having_none(tmp_path: Path) -> None:
    from sqlalchemy import text

    engine = db.make_engine(db.sqlite_url(tmp_path / "x.db"))
    cfg = db.alembic_config(str(engine.url))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0010")
        conn.execute(
            text(
                "INSERT INTO cases (number, offence, incident_date, description, attributes, "
                "requesting_officer, legal_authority, unit, status, created_at) VALUES "
                "('OLD-1', 'robbery', '2026-01-01', 'd', '{}', 'o', 'a', 'north', 'open', "
                "'2026-01-02 00:00:00')"
            )
        )
    db.upgrade(engine)
    assert {"corroborations", "lineup_showings"} <= set(inspect(engine).get_table_names())
    with engine.connect() as conn:
        facts = conn.execute(text("SELECT known_facts FROM cases WHERE number = 'OLD-1'"))
        assert facts.scalar_one() in ("{}", {})
