"""The engine's pool holds as many connections as the server's threads may hold at once
while they queue for the writer lock: 50 checked out together on PostgreSQL (the default
5 + 10 stopped at 15 and made the 16th wait, then fail), and the file database's larger pool
on SQLite. The connections are taken and held, not timed."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from leadguard.storage import db
from tests.pgserver import PgServer

HELD = 50


@pytest.mark.postgres
def test_fifty_connections_at_once_on_postgres(pg_server: PgServer) -> None:
    url = pg_server.new_database()
    engine = db.make_engine(url)
    try:
        held = [engine.connect() for _ in range(HELD)]
        assert all(c.execute(text("SELECT 1")).scalar() == 1 for c in held)
        for c in held:
            c.close()
        assert engine.pool.checkedout() == 0
    finally:
        engine.dispose()
        pg_server.drop_database(url)


def test_fifty_connections_at_once_on_a_sqlite_file(tmp_path: Path) -> None:
    engine = db.make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    try:
        held = [engine.connect() for _ in range(HELD)]
        assert all(c.execute(text("SELECT 1")).scalar() == 1 for c in held)
        for c in held:
            c.close()
    finally:
        engine.dispose()
