"""The Alembic migrations build exactly the schema the models describe, from any revision."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from leadguard.storage import db
from leadguard.storage.models import Base
from leadguard.workspace import Workspace


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
