"""Engine creation and Alembic migrations, run programmatically from scripts in the package.

SQLite (a workspace's own file) or PostgreSQL (``database_url``, docs/postgres.md)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from alembic.util.exc import CommandError
from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.types import String

from leadguard.core.errors import WorkspaceError

MIGRATIONS = Path(__file__).with_name("migrations")
# pg_advisory_xact_lock key taken by every PostgreSQL transaction at its start and held to its
# commit or rollback: transactions queue as they do on SQLite (BEGIN IMMEDIATE), so an audit
# append or a check-then-insert (embedding space, image hash) never races another process and
# the audit chain never forks. A nested same-thread transaction skips it. ("LGWR" in ASCII.)
WRITER_LOCK_KEY = 0x4C475752


@compiles(String, "postgresql")
def _unbounded_varchar(type_: String, compiler: Any, **kw: Any) -> str:
    """On PostgreSQL a ``String(n)`` column is created as VARCHAR without a length: SQLite
    never enforced the lengths, and what SQLite stores (a long EXIF field, a long file name in
    an audit object, both hashed as stored) must not be refused on PostgreSQL."""
    if type(type_) is String:  # Text, Enum, JSON... keep their own rendering
        return "VARCHAR"
    return str(compiler.visit_string(type_, **kw))


_Row = TypeVar("_Row")
# the largest id any database here stores (a signed 64-bit integer)
MAX_ID = 2**63 - 1


def by_id(s: Session, model: type[_Row], ident: int) -> _Row | None:
    """The row of ``model`` with primary key ``ident``, or None. An id no database integer
    holds (0, negative, or past 2**63 - 1, as typed at a prompt or in a URL) is simply not
    found: SQLite and psycopg would raise on binding it."""
    return s.get(model, ident) if 0 < ident <= MAX_ID else None


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path.resolve()}"


def parse_url(url: str) -> URL:
    """A database URL with PostgreSQL's driver made explicit (psycopg 3); a clear error for
    anything that is neither SQLite nor PostgreSQL. The message never shows a password."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ValueError(f"database_url: not a database URL ({exc})") from None
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        return parsed.set(drivername="postgresql+psycopg")
    if backend == "sqlite":
        return parsed
    raise ValueError(f"database_url {redact(parsed)}: only sqlite and postgresql are supported")


def redact(url: str | URL) -> str:
    """The URL as it may be shown or logged: the password masked."""
    parsed = make_url(url) if isinstance(url, str) else url
    return parsed.render_as_string(hide_password=True)


BUSY_TIMEOUT_S = 60.0


def make_engine(url: str | URL) -> Engine:
    """SQLite with WAL, and every transaction begun IMMEDIATE: two processes writing one
    workspace (two enrollments, searches during an enrollment) queue for the write lock for
    up to ``BUSY_TIMEOUT_S`` instead of failing with "database is locked" when a read turns
    into a write, so audit-chain appends are serialised. PostgreSQL: READ COMMITTED, and
    every transaction begins by taking the advisory lock ``WRITER_LOCK_KEY`` (the same
    queue; ``lock_timeout`` = the busy timeout, then an error instead of a hang)."""
    parsed = parse_url(url) if isinstance(url, str) else url
    sqlite = parsed.get_backend_name() == "sqlite"
    connect_args: dict[str, Any] = (
        {"timeout": BUSY_TIMEOUT_S}
        if sqlite
        else {  # a writer waits for the lock as long as on SQLite, then fails (never hangs)
            "connect_timeout": 10,
            "application_name": "leadguard",
            "options": f"-c lock_timeout={int(BUSY_TIMEOUT_S * 1000)}",
        }
    )
    # SQLite: a connection is a file handle, so the pool is sized for a server whose threads
    # (anyio's 40, and the compute slots) each hold one while they queue for BEGIN IMMEDIATE;
    # the default 5 + 10 ran out under 30 concurrent searchers (30 s waits, then errors).
    # PostgreSQL: the same threads each hold a connection while they wait for the writer
    # lock, so the pool reaches past them (the default 5 + 10 would time out at the 16th);
    # 5 kept open, at most 50 in all, within the server's default max_connections of 100.
    on_file = sqlite and parsed.database not in (None, "", ":memory:")
    pool: dict[str, Any] = (
        {"pool_size": 8, "max_overflow": 120}
        if on_file
        else {"pool_size": 5, "max_overflow": 45}
        if not sqlite
        else {}
    )
    engine = create_engine(parsed, connect_args=connect_args, pool_pre_ping=not sqlite, **pool)
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
            dbapi_conn.isolation_level = None  # BEGIN is issued below, not by the driver
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

    # A transaction opened inside another in the same thread (a read beside an open write)
    # neither begins IMMEDIATE nor takes the writer lock: it would wait on this very thread.
    # A read transaction (``reading()``, ``Workspace.read_session``) takes no writer lock
    # either: it reads a snapshot (SQLite WAL, PostgreSQL READ COMMITTED) and never waits.
    # The threads of one process queue for the writer lock on ``gate`` first: a thread
    # waiting there is woken when the writer commits, where SQLite's busy handler would
    # sleep and poll (up to 100 ms a try) while the lock stood free.
    held = threading.local()
    gate = threading.Lock()
    lock = (
        "BEGIN IMMEDIATE"
        if sqlite
        else f"SELECT pg_advisory_xact_lock({WRITER_LOCK_KEY})"  # PostgreSQL: BEGIN is implicit
    )

    @event.listens_for(engine, "begin")
    def _begin(conn) -> None:  # type: ignore[no-untyped-def]
        stack: list[bool] = held.__dict__.setdefault("stack", [])
        write = not getattr(_intent, "reading", False) and not any(stack)
        if write:
            if not gate.acquire(timeout=BUSY_TIMEOUT_S):
                raise OperationalError(lock, None, TimeoutError("the writer lock: timed out"))
            try:
                conn.exec_driver_sql(lock)
            except BaseException:
                gate.release()
                raise
        elif sqlite:
            conn.exec_driver_sql("BEGIN")
        stack.append(write)

    @event.listens_for(engine, "commit")
    @event.listens_for(engine, "rollback")
    def _end(conn) -> None:  # type: ignore[no-untyped-def]
        stack: list[bool] = held.__dict__.setdefault("stack", [])
        if stack and stack.pop():
            gate.release()

    return engine


_intent = threading.local()


@contextmanager
def reading() -> Iterator[None]:
    """Transactions begun in this thread inside the block only read: they take no writer
    lock (SQLite: a deferred BEGIN on WAL's snapshot; PostgreSQL: no advisory lock)."""
    before = getattr(_intent, "reading", False)
    _intent.reading = True
    try:
        yield
    finally:
        _intent.reading = before


def make_sessions(engine: Engine, info: dict[str, Any] | None = None) -> sessionmaker[Session]:
    """``info``: what each session carries (a workspace's audit key: ``audit.keyed``)."""
    from leadguard.storage import audit_head
    from leadguard.storage.written_text import refuse_unsafe_text

    made = sessionmaker(engine, expire_on_commit=False, info=info)
    event.listen(made, "before_flush", refuse_unsafe_text)
    event.listen(made, "after_commit", audit_head.after_commit)
    event.listen(made, "after_soft_rollback", lambda s, _tx: audit_head.after_rollback(s))
    return made


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))  # configparser escaping
    return cfg


def upgrade(engine: Engine, info: dict[str, Any] | None = None) -> None:
    """Bring the schema to the newest migration (``info``: as ``make_sessions``, for the
    entries the migrations append)."""
    cfg = alembic_config(redact(engine.url))  # the connection is what is used
    with engine.begin() as conn:  # PostgreSQL: two processes migrating queue on the lock
        cfg.attributes["connection"] = conn
        cfg.attributes["session_info"] = dict(info or {})
        try:
            command.upgrade(cfg, "head")
        except CommandError as exc:  # a revision no migration of this LeadGuard knows
            raise WorkspaceError(
                f"the database's schema revision cannot be migrated ({exc}): it was written "
                "by a newer LeadGuard, or set outside LeadGuard. Nothing was migrated"
            ) from None


def has_schema(engine: Engine) -> bool:
    return "alembic_version" in inspect(engine).get_table_names()
