"""The database URL setting: written into the workspace's own settings file, never taken
from the environment for an existing workspace, never shown with its password."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from leadguard.audit import log as audit
from leadguard.cli.main import app
from leadguard.core.config import load_settings
from leadguard.core.errors import WorkspaceError
from leadguard.storage import db
from leadguard.storage.tables import AuditEntry, Subject
from leadguard.storage.workspace import Workspace
from tests.pgserver import PgServer

runner = CliRunner()


def test_the_url_is_recorded_in_the_settings_file_and_needs_no_db_file(
    tmp_path: Path, pg_server: PgServer
) -> None:
    url = pg_server.new_database()
    res = runner.invoke(app, ["init", str(tmp_path / "ws"), "--database-url", url])
    assert res.exit_code == 0, res.output
    settings = tmp_path / "ws" / "leadguard.toml"
    assert tomllib.loads(settings.read_text())["leadguard"]["database_url"] == url
    assert settings.stat().st_mode & 0o077 == 0
    assert not (tmp_path / "ws" / "leadguard.db").exists()
    ws = Workspace.open(tmp_path / "ws")
    assert ws.engine.dialect.name == "postgresql"
    ws.close()


def test_the_environment_cannot_switch_an_existing_workspace_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    Workspace.init(tmp_path / "ws").close()
    monkeypatch.setenv("LEADGUARD_DATABASE_URL", "postgresql://mallory@evil.example/empty")
    assert load_settings(tmp_path / "ws").database_url == ""
    ws = Workspace.open(tmp_path / "ws")
    assert ws.engine.dialect.name == "sqlite"  # still its own file
    ws.close()


def test_init_takes_the_url_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pg_server: PgServer
) -> None:
    url = pg_server.new_database()
    monkeypatch.setenv("LEADGUARD_DATABASE_URL", url)
    assert runner.invoke(app, ["init", str(tmp_path / "ws")]).exit_code == 0
    assert load_settings(tmp_path / "ws").database_url == url


def test_a_password_is_never_shown(tmp_path: Path, pg_server: PgServer) -> None:
    url = f"postgresql://leadguard:s3cret-pw@/nosuchdb?host={pg_server.base}"
    with pytest.raises(WorkspaceError) as err:
        Workspace.init(tmp_path / "ws", database_url=url)
    message = str(err.value)
    assert "s3cret-pw" not in message and "***" in message and "nosuchdb" in message
    assert "\n" not in message
    res = runner.invoke(app, ["audit", "verify", "-w", str(tmp_path / "ws")])
    assert res.exit_code != 0 and "s3cret-pw" not in res.output and "Traceback" not in res.output


@pytest.mark.parametrize(
    ("url", "reason"),
    [("mysql://u@h/db", "only sqlite and postgresql"), ("not a url", "not a database URL")],
)
def test_an_unsupported_url_is_refused_before_it_is_written(
    tmp_path: Path, url: str, reason: str
) -> None:
    with pytest.raises(WorkspaceError, match=reason):
        Workspace.init(tmp_path / "ws", database_url=url)
    assert not (tmp_path / "ws" / "leadguard.toml").exists()


def test_plain_postgresql_urls_use_psycopg_3() -> None:
    assert db.parse_url("postgresql://u@h/d").drivername == "postgresql+psycopg"
    assert db.redact("postgresql://u:pw@h/d") == "postgresql://u:***@h/d"


@pytest.mark.postgres
def test_text_that_sqlite_stores_is_stored_on_postgresql(
    tmp_path: Path, pg_server: PgServer
) -> None:
    """A 255-byte probe file name in an audit object, a 200-character manifest attribute:
    SQLite never enforced column lengths, so PostgreSQL's strings are unbounded too."""
    ws = Workspace.init(tmp_path / "ws", database_url=pg_server.new_database())
    obj = "probe:" + "x" * 255
    with ws.session() as s:
        subject = Subject(external_id="s1", sex="f" * 200, race="r" * 200)
        s.add(subject)
        s.flush()
        # the chain names every subject row: one no entry names reads as inserted outside
        audit.append(s, "probe_received", obj, {}, records=[subject])
    with ws.session() as s:
        assert audit.verify(s).intact
        assert s.scalars(select(AuditEntry.object).where(AuditEntry.seq > 1)).one() == obj
    ws.close()
