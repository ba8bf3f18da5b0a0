"""The explicit context every service takes, the acting user, and refusal auditing."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from leadguard.audit import log as audit
from leadguard.core.config import Settings, safeguard_env_overrides
from leadguard.core.errors import LeadGuardError, WorkspaceError
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


def actor_of(user: User) -> Actor:
    return Actor(user.id, user.username, user.role, user.unit, user.active)


class Context:
    """Settings, the session factory, the index store (the workspace folder) and the face
    model, which is loaded on first use only."""

    def __init__(self, workspace: Workspace) -> None:
        self.ws = workspace

    @classmethod
    def open(cls, root: Path, **overrides: Any) -> Context:
        ctx = cls(Workspace.open(root, **overrides))
        ctx.refuse_env_safeguards()
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

    def face_model(self) -> FaceModel:
        return self.ws.face_model()

    def has_accounts(self) -> bool:
        with self.session() as s:
            return s.scalars(select(User.id).limit(1)).first() is not None

    def refuse_env_safeguards(self) -> None:
        """In a workspace with accounts, safeguard settings come only from the workspace."""
        env = safeguard_env_overrides()
        if env and self.has_accounts():
            raise WorkspaceError(
                f"{', '.join(env)}: safeguard settings cannot be overridden from the environment "
                "in a workspace with accounts; an admin changes them with `leadguard settings set`"
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


def record_refusal(
    ctx: Context, actor: Actor | None, action: str, obj: str, exc: BaseException
) -> None:
    """A refusal is an audit entry of its own (its own transaction: the refused change
    rolled back)."""
    details: dict[str, Any] = {"refused": action, "reason": str(exc), "kind": type(exc).__name__}
    rule = getattr(exc, "rule", None)
    if rule:
        details["rule"] = rule
    try:
        with ctx.session() as s:
            audit.append(s, "refused", obj, details, actor=actor.username if actor else None)
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
