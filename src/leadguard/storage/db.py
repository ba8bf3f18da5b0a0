"""Engine creation and Alembic migrations, run programmatically from scripts in the package."""

from __future__ import annotations

import threading
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, inspect

MIGRATIONS = Path(__file__).with_name("migrations")


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path.resolve()}"


BUSY_TIMEOUT_S = 60.0


def make_engine(url: str) -> Engine:
    """SQLite with WAL, and every transaction begun IMMEDIATE: two processes writing one
    workspace (two enrollments, searches during an enrollment) queue for the write lock for
    up to ``BUSY_TIMEOUT_S`` instead of failing with "database is locked" when a read turns
    into a write, so audit-chain appends are serialised."""
    sqlite = url.startswith("sqlite")
    engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_S} if sqlite else {})
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
            dbapi_conn.isolation_level = None  # BEGIN is issued below, not by the driver
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        # A session opened inside another in the same thread (a read beside an open write)
        # begins DEFERRED: IMMEDIATE there would wait on this very thread's own lock.
        held = threading.local()

        @event.listens_for(engine, "begin")
        def _begin(conn) -> None:  # type: ignore[no-untyped-def]
            depth = getattr(held, "depth", 0)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if depth == 0 else "BEGIN")
            held.depth = depth + 1

        @event.listens_for(engine, "commit")
        @event.listens_for(engine, "rollback")
        def _end(conn) -> None:  # type: ignore[no-untyped-def]
            held.depth = max(0, getattr(held, "depth", 0) - 1)

    return engine


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url)
    return cfg


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest migration."""
    cfg = alembic_config(str(engine.url))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def has_schema(engine: Engine) -> bool:
    return "alembic_version" in inspect(engine).get_table_names()
