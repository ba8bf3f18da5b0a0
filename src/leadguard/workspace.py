"""A workspace: settings file, SQLite database and vector indexes under one folder.

Found from ``--workspace``, else ``LEADGUARD_WORKSPACE``, else the current directory.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from leadguard.config import SETTINGS_FILE, Settings, default_settings_toml, load_settings
from leadguard.errors import WorkspaceError
from leadguard.storage import db

if TYPE_CHECKING:
    from leadguard.backends.base import FaceModel
    from leadguard.quality.gate import Policy

log = logging.getLogger(__name__)
DB_FILE = "leadguard.db"
INDEX_DIR = "index"
ENV_VAR = "LEADGUARD_WORKSPACE"


def resolve_path(explicit: Path | None) -> Path:
    if explicit is not None:
        return explicit
    env = os.environ.get(ENV_VAR)
    return Path(env) if env else Path.cwd()


class Workspace:
    def __init__(self, root: Path, settings: Settings) -> None:
        self.root = root
        self.settings = settings
        self._engine: Engine | None = None
        self._sessions: sessionmaker[Session] | None = None
        self._model: FaceModel | None = None
        self._quality_policy: Policy | None = None
        self.resident: dict[tuple[str, str], tuple[Any, Any]] = {}  # gallery: index, counts

    # --- creation and opening ---
    @classmethod
    def init(cls, root: Path, **overrides: Any) -> Workspace:
        root.mkdir(parents=True, exist_ok=True)
        settings_file = root / SETTINGS_FILE
        if not settings_file.exists():
            settings_file.write_text(default_settings_toml())
        (root / INDEX_DIR).mkdir(exist_ok=True)
        ws = cls(root, load_settings(root, **overrides))
        db.upgrade(ws.engine)
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
        if not (root / SETTINGS_FILE).is_file() or not (root / DB_FILE).is_file():
            raise WorkspaceError(
                f"{root} is not a LeadGuard workspace (no {SETTINGS_FILE} or {DB_FILE}); "
                f"create one with: leadguard init {root}"
            )
        ws = cls(root, load_settings(root, **overrides))
        db.upgrade(ws.engine)  # a no-op when current; applies new migrations after an upgrade
        ws.restrict()  # workspaces made before it was private become private
        return ws

    # --- storage ---
    @property
    def db_path(self) -> Path:
        return self.root / DB_FILE

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = db.make_engine(db.sqlite_url(self.db_path))
        return self._engine

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session whose transaction commits on success and rolls back on error."""
        if self._sessions is None:
            self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        with self._sessions() as session, session.begin():
            yield session

    def face_model(self) -> FaceModel:
        """The face model these settings describe, loaded once per workspace object."""
        if self._model is None:
            from leadguard.backends import create_model

            model = create_model(self.settings)
            model.load()
            self._model = model
        return self._model

    def quality_policy(self) -> Policy:
        """The quality gate's policy (the settings' file, else the shipped one), read once
        per workspace object."""
        if self._quality_policy is None:
            from leadguard.quality.gate import load_policy

            path = self.settings.quality_policy
            if path is not None and not path.is_absolute():
                path = self.root / path
            self._quality_policy = load_policy(path)
        return self._quality_policy

    def index_path(self, space_key: str) -> Path:
        from leadguard.index.backends import index_location

        return index_location(self.root / INDEX_DIR, space_key, self.settings.index_backend)

    def milvus_uri(self) -> str:
        uri = self.settings.milvus_uri
        return uri or str(self.root / INDEX_DIR / "milvus.db")

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None
