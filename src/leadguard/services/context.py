"""The explicit context every service takes, the acting user, and refusal auditing."""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from leadguard.audit import as_recorded
from leadguard.audit import log as audit
from leadguard.audit.keyed import KeyMissing
from leadguard.core.config import Settings, safeguard_env_overrides
from leadguard.core.errors import FindingsError, LeadGuardError, WorkspaceError
from leadguard.core.textsafe import clipped
from leadguard.storage.tables import User
from leadguard.storage.workspace import Workspace

if TYPE_CHECKING:
    from leadguard.face_models.base import FaceModel

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Actor:
    """The authenticated user a service acts for (never an ORM row)."""

    id: int
    username: str
    role: str
    unit: str
    active: bool = True
    # the id of the login token it was authenticated by, whose row the entries written
    # through it record (audit.log.ACTED_VIA); None for a login just made or no token
    via: int | None = field(default=None, compare=False, hash=False, repr=False)


def actor_of(user: User) -> Actor:
    return Actor(user.id, user.username, user.role, user.unit, user.active)


@contextmanager
def acting_through(actor: Actor | None) -> Iterator[None]:
    """Entries the actor writes inside record the login token it was authenticated by
    (``audit.log.ACTED_VIA``), so that ``verify`` can tell a token revived for a while."""
    if actor is None or actor.via is None:
        yield
        return
    with audit.acting_through(actor.username, actor.via):
        yield


def act_through(actor: Actor) -> None:
    """``acting_through`` for the rest of this command (a CLI process acts for one login)."""
    audit.set_acting_through(actor.username, actor.via)


class Context:
    """Settings, the session factory, the index store (the workspace folder) and the face
    model, which is loaded on first use only (the storage layer knows no model)."""

    def __init__(self, workspace: Workspace) -> None:
        self.ws = workspace
        self._model: FaceModel | None = None
        self.models: queue.Queue[FaceModel] | None = None  # share_models: one per computation
        self.shared = 0
        self.made = 0
        self.making = threading.Lock()
        self.recorded = as_recorded.Recorded()  # accounts and tokens checked as used

    @classmethod
    def open(cls, root: Path, check_settings: bool = True, **overrides: Any) -> Context:
        """The context of a workspace; safeguards from the environment refused and (unless
        ``check_settings`` is off: login, logout, ``settings set``, ``audit verify``) a
        settings file whose safeguards differ from what the audit log records."""
        ctx = cls(Workspace.open(root, **overrides))
        try:
            ctx.refuse_env_safeguards()
            if check_settings:
                ctx.refuse_unrecorded_settings()
        except BaseException:
            ctx.close()
            raise
        return ctx

    @property
    def settings(self) -> Settings:
        return self.ws.settings

    @property
    def root(self) -> Path:
        return self.ws.root

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self.ws.session() as s:
            yield s

    @contextmanager
    def read_session(self) -> Iterator[Session]:
        """A session that only reads and never waits behind a writer
        (``Workspace.read_session``)."""
        with self.ws.read_session() as s:
            yield s

    def face_model(self) -> FaceModel:
        """The face model these settings describe, loaded once per context."""
        if self._model is None:
            from leadguard.face_models import create_model

            model = create_model(self.settings)
            model.load()
            self._model = model
        return self._model

    def share_models(self, count: int) -> None:
        """Let ``count`` threads decode, detect and embed at once (the server), each with a
        face model of its own (a model is never used by two threads at once): the
        workspace's model and up to ``count - 1`` more, each loaded when first needed."""
        self.models = queue.Queue()
        self.shared = max(1, count)
        self.made = 0

    @contextmanager
    def borrowed_model(self) -> Iterator[FaceModel]:
        """A face model for one computation: the workspace's own one (a CLI process), or one
        of the shared ones, waiting for one to be free (the server bounds who waits)."""
        if self.models is None:
            yield self.face_model()
            return
        model = self.spare_model()
        try:
            yield model
        finally:
            self.models.put(model)

    def spare_model(self) -> FaceModel:
        assert self.models is not None
        with self.making:
            try:
                return self.models.get_nowait()
            except queue.Empty:
                make = self.made < self.shared
                if make:
                    self.made += 1
            if make:
                if self.made == 1:
                    return self.face_model()
                from leadguard.face_models import create_model

                model = create_model(self.settings)
                model.load()  # under the lock: models load one at a time
                return model
        return self.models.get()

    def has_accounts(self) -> bool:
        with self.read_session() as s:
            return s.scalars(select(User.id).limit(1)).first() is not None

    def refuse_env_safeguards(self) -> None:
        """In a workspace with accounts, safeguard settings come only from the workspace."""
        env = safeguard_env_overrides()
        if env and self.has_accounts():
            raise WorkspaceError(
                f"{', '.join(env)}: safeguard settings cannot be overridden from the environment "
                "in a workspace with accounts; an admin changes them with `leadguard settings set`"
            )

    def refuse_unrecorded_settings(self) -> None:
        """In a workspace with accounts, the settings file's safeguards are those the audit
        log records (``settings_record``)."""
        from leadguard.services import settings_record

        if not self.has_accounts():
            return
        with self.session() as s:
            found = settings_record.check(s, self.root)
        if found:
            raise FindingsError(
                "the workspace's safeguard settings are not as the audit log records them:",
                found,
                "an admin who has checked each value records it with `leadguard settings set "
                "NAME VALUE` (or restores the file)",
            )

    def close(self) -> None:
        self.ws.close()


def current_user(s: Session, actor: Actor | None) -> User:
    """The actor's row as it is now (a deactivated account no longer acts)."""
    from leadguard.services.authz import NotAllowed

    if actor is None:
        raise NotAllowed("this needs a login (`leadguard login USER`)")
    user = s.get(User, actor.id)
    if user is None or not user.active:
        raise NotAllowed(f"{actor.username}: the account is deactivated or gone")
    return user


# what a refusal entry keeps of the object and the reason (both may echo a request's input)
MAX_REFUSAL_OBJECT = 300
MAX_REFUSAL_REASON = 2000


def record_refusal(
    ctx: Context, actor: Actor | None, action: str, obj: str, exc: BaseException
) -> None:
    """A refusal is an audit entry of its own (its own transaction: the refused change
    rolled back)."""
    reason = clipped(str(exc), MAX_REFUSAL_REASON)
    details: dict[str, Any] = {"refused": action, "reason": reason, "kind": type(exc).__name__}
    obj = clipped(obj, MAX_REFUSAL_OBJECT)
    rule = getattr(exc, "rule", None)
    if rule:
        details["rule"] = rule
    if isinstance(exc, KeyMissing):
        return  # a keyed log without its key: nothing can be written, the refusal neither
    try:
        with ctx.session() as s:
            audit.append(s, "refused", obj, details, actor=actor.username if actor else None)
    except KeyMissing as cannot:  # a keyed log without its key: said once, no traceback
        log.warning("the refusal of %s was not recorded: %s", action, cannot)
    except Exception:  # the refusal itself is what the caller reports
        log.exception("could not record the refusal of %s", action)


@contextmanager
def refusals(ctx: Context, actor: Actor | None, action: str, obj: str) -> Iterator[None]:
    """Every LeadGuard error raised inside is recorded as a refusal, then re-raised."""
    try:
        yield
    except LeadGuardError as exc:
        record_refusal(ctx, actor, action, obj, exc)
        raise
