"""A workspace: settings file, database and vector indexes under one folder.

Found from ``--workspace``, else ``LEADGUARD_WORKSPACE``, else the current directory. The
database is the folder's own SQLite file, or the PostgreSQL database that the settings file's
``database_url`` names (docs/postgres.md).
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from leadguard.core.config import SETTINGS_FILE, Settings, default_settings_toml, load_settings
from leadguard.core.errors import WorkspaceError
from leadguard.storage import audit_head, audit_key, db
from leadguard.storage.resident import Resident

log = logging.getLogger(__name__)
DB_FILE = "leadguard.db"
LOCK_FILE = ".write.lock"
INDEX_DIR = "index"
ENV_VAR = "LEADGUARD_WORKSPACE"


def resolve_path(explicit: Path | None) -> Path:
    if explicit is not None:
        return explicit
    env = os.environ.get(ENV_VAR)
    return Path(env) if env else Path.cwd()


def _refuse_writes(session: Session, _context: Any, _instances: Any) -> None:
    """A read session's flush: refused when it would write (it holds no writer lock)."""
    if session.new or session.dirty or session.deleted:
        raise RuntimeError("a read session was asked to write; use Workspace.session")


class Workspace:
    def __init__(self, root: Path, settings: Settings) -> None:
        self.root = root
        self.settings = settings
        self._engine: Engine | None = None
        self._sessions: sessionmaker[Session] | None = None
        self._lock_depth = 0
        self._thread_lock = threading.RLock()
        self._lock_fd: int | None = None
        # the index, counts and score tail, each with the gallery generation it agrees with
        self.resident = Resident()

    # --- creation and opening ---
    @classmethod
    def init(cls, root: Path, **overrides: Any) -> Workspace:
        if root.exists() and not root.is_dir():
            raise WorkspaceError(f"{root}: exists and is not a folder; give a new folder's path")
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise WorkspaceError(
                f"{root}: cannot create the workspace folder ({exc.strerror or exc})"
            ) from None
        settings_file = root / SETTINGS_FILE
        url = overrides.pop("database_url", None) or ""
        if not settings_file.exists():  # records the model chosen now (default or given)
            chosen = load_settings(None, face_model=overrides.get("face_model")).face_model
            text = default_settings_toml(chosen)
            if url:  # the workspace's own file says where its database is (never the env)
                try:
                    db.parse_url(url)  # refuse a bad URL before writing it
                except ValueError as exc:
                    raise WorkspaceError(str(exc)) from None
                text += f"database_url = {json.dumps(url)}\n"
            settings_file.write_text(text)
            settings_file.chmod(0o600)  # the URL may name a user and host
        elif url and load_settings(root).database_url != url:
            raise WorkspaceError(
                f"{settings_file}: this workspace already uses another database; "
                "change database_url in its settings file"
            )
        (root / INDEX_DIR).mkdir(exist_ok=True)
        ws = cls(root, load_settings(root, **overrides))
        ws.migrate()
        ws.restrict()
        return ws

    def restrict(self) -> None:
        """Only the owner may enter the workspace (0700) or read its files (0600): it holds
        probe images, scores and password hashes."""
        try:
            self.root.chmod(0o700)
            for path in (self.root / SETTINGS_FILE, self.db_path):
                if path.exists():
                    path.chmod(0o600)
            if (self.root / INDEX_DIR).is_dir():
                (self.root / INDEX_DIR).chmod(0o700)
        except OSError as exc:  # not the owner: say so, do not stop
            log.warning("%s: cannot make the workspace private (%s)", self.root, exc)

    @classmethod
    def open(cls, root: Path, **overrides: Any) -> Workspace:
        missing = f"{root} is not a LeadGuard workspace (no {SETTINGS_FILE} or {DB_FILE})"
        if not (root / SETTINGS_FILE).is_file():
            raise WorkspaceError(f"{missing}; create one with: leadguard init {root}")
        ws = cls(root, load_settings(root, **overrides))
        if not ws.settings.database_url and not (root / DB_FILE).is_file():
            raise WorkspaceError(f"{missing}; create one with: leadguard init {root}")
        ws.migrate()  # a no-op when current; applies new migrations after an upgrade
        ws.restrict()  # workspaces made before it was private become private
        return ws

    def migrate(self) -> None:
        """Bring the database to the newest schema; a one-line error if it cannot be reached
        (the URL shown without its password)."""
        try:
            db.upgrade(self.engine, audit_key.key_info(self.settings.audit_mac_key, self.root))
        except OperationalError as exc:
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else "unreachable"
            raise WorkspaceError(f"database {self.database_label}: {reason}") from None

    # --- storage ---
    @property
    def db_path(self) -> Path:
        return self.root / DB_FILE

    @property
    def database_label(self) -> str:
        """The database as it may be shown: its file, or its URL without the password."""
        url = self.settings.database_url
        return db.redact(db.parse_url(url)) if url else str(self.db_path)

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            url = self.settings.database_url
            try:
                target = db.parse_url(url) if url else db.sqlite_url(self.db_path)
            except ValueError as exc:
                raise WorkspaceError(f"{self.root / SETTINGS_FILE}: {exc}") from None
            self._engine = db.make_engine(target)
        return self._engine

    def session_info(self) -> dict[str, Any]:
        """What every session of this workspace carries: its audit key (``audit_key``) and
        this account's head receipt for it (``audit_head``)."""
        info = audit_key.session_info(self.engine, self.settings.audit_mac_key, self.root)
        return audit_head.session_info(info, self.root)

    def audit_key(self) -> bytes | None:
        """The audit key this workspace's sessions carry (read once, with them)."""
        key = self._session_maker().kw.get("info", {}).get(audit_key.INFO)
        return key if isinstance(key, bytes) else None

    def use_audit_key(self, path: Path) -> None:
        """After ``audit_mac_key`` was written to the settings file: this process's later
        sessions carry the key too."""
        self.settings = self.settings.model_copy(update={"audit_mac_key": path})
        self._sessions = None

    def _session_maker(self) -> sessionmaker[Session]:
        if self._sessions is None:
            self._sessions = db.make_sessions(self.engine, self.session_info())
        return self._sessions

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session whose transaction commits on success and rolls back on error."""
        with self._session_maker()() as session, session.begin():
            yield session

    @contextmanager
    def read_session(self) -> Iterator[Session]:
        """A session that only reads: its transaction takes no writer lock (it reads the
        last committed state and never waits behind a writer); a change made in it is
        refused when it would be written."""
        with self._session_maker()() as session, session.begin():
            event.listen(session, "before_flush", _refuse_writes)
            with db.reading():
                session.connection()  # begin now, as a read
            yield session

    @contextmanager
    def write_lock(self) -> Iterator[None]:
        """Exclusive across processes and across the threads of this one (re-entrant in the
        thread that holds it) while a writer changes the gallery and its index file
        together: two enrollments at once neither enroll an image twice nor overwrite each
        other's index (last writer wins). The server runs service calls in several threads."""
        with self._thread_lock:  # the depth below is the holding thread's alone
            if self._lock_depth == 0:
                fd = os.open(self.root / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX)
                except BaseException:
                    os.close(fd)
                    raise
                self._lock_fd = fd
            self._lock_depth += 1
            try:
                yield
            finally:
                self._lock_depth -= 1
                if self._lock_depth == 0 and self._lock_fd is not None:
                    fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
                    os.close(self._lock_fd)
                    self._lock_fd = None

    def index_path(self, space_key: str) -> Path:
        from leadguard.index.registry import index_location

        return index_location(self.root / INDEX_DIR, space_key, self.settings.index_backend)

    def milvus_uri(self) -> str:
        uri = self.settings.milvus_uri
        return uri or str(self.root / INDEX_DIR / "milvus.db")

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None
