"""Accounts and login sessions: argon2 passwords, short-lived revocable tokens (only their
SHA-256 is stored), lockout with exponential backoff, the same work for unknown users."""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import select
from sqlalchemy.orm import Session

from leadguard.audit import as_recorded
from leadguard.audit import log as audit
from leadguard.core.errors import InputError
from leadguard.core.textsafe import free_text_problem, printable
from leadguard.services.authz import ROLES, NotAllowed, authorize
from leadguard.services.context import Actor, Context, actor_of, current_user, refusals
from leadguard.storage.tables import AuthToken, LoginState, User

log = logging.getLogger(__name__)

MIN_PASSWORD = 12
MAX_PASSWORD = 1000
MAX_USERNAME = 200
BACKOFF_SECONDS = 30  # first lockout; doubles with every further failure


@cache
def _hasher() -> PasswordHasher:
    return PasswordHasher()


@cache
def _dummy_hash() -> str:
    """Verified against for unknown or locked users, so that a refusal takes as long."""
    return _hasher().hash(secrets.token_hex(16))


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(t: datetime) -> datetime:
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def _sha(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _check(hashed: str, password: str) -> bool:
    try:
        return _hasher().verify(hashed, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


@dataclass(frozen=True)
class UserInfo:
    username: str
    role: str
    unit: str
    active: bool
    created_at: datetime
    locked: bool


@dataclass(frozen=True)
class LoginSession:
    actor: Actor
    token: str  # shown once, to be kept by the shell (never stored here)
    expires_at: datetime


def _user(s: Session, username: str) -> User | None:
    return s.scalars(select(User).where(User.username == username)).first()


def _state(s: Session, user: User) -> LoginState:
    state = s.get(LoginState, user.id)
    if state is None:
        state = LoginState(user_id=user.id, failed_logins=0)
        s.add(state)
    return state


REFUSED = (
    "login as {name!r} refused: unknown user, wrong password, inactive account or too many "
    "failed logins (then try again later)"
)


def login(ctx: Context, username: str, password: str) -> LoginSession:
    """A token valid for ``session_hours``. Failures count towards a lockout whose length
    doubles with every further failure; unknown users cost the same argon2 work, and every
    refusal reads the same whatever the account name (existing or not, locked or not).

    The counters live in ``login_state``, outside the hash chain: a failed login (anyone's)
    writes its audit entry but changes no hashed record."""
    check_lengths(username, password)  # no account has such a name: nothing to count
    hours = ctx.settings.session_hours
    now = _now()
    reason = ""
    with ctx.session() as s:
        user = _user(s, username)
        state = _state(s, user) if user is not None else None
        until = state.locked_until if state is not None else None
        locked = bool(until and _aware(until) > now)
        if user is None or locked or not user.active:
            _check(_dummy_hash(), password)
            ok = False
            reason = "locked" if locked else "unknown or inactive"
        elif why := as_recorded.problem(s, [user], f"user:{username}", ctx.recorded):
            _check(_dummy_hash(), password)  # the same work and the same answer as a refusal
            ok = False
            reason = f"the account is not as the audit log records it ({why})"
            log.warning("a login of %r refused: %s", username, why)
        else:
            ok = _check(user.password_hash, password)
            reason = "" if ok else "wrong password"
        if state is not None and not ok and not locked:
            state.failed_logins += 1
            over = state.failed_logins - ctx.settings.login_attempts
            if over >= 0:
                state.locked_until = now + timedelta(seconds=BACKOFF_SECONDS * 2 ** min(over, 12))
        if not ok:
            audit.append(s, "login.failed", f"user:{username}", {"reason": reason}, actor=username)
        else:
            assert user is not None and state is not None
            state.failed_logins, state.locked_until, state.last_login_at = 0, None, now
            token = secrets.token_urlsafe(32)
            row = AuthToken(
                user_id=user.id, token_sha256=_sha(token), expires_at=now + timedelta(hours=hours)
            )
            s.add(row)
            audit.append(
                s,
                "login",
                f"user:{username}",
                {"expires_at": row.expires_at.isoformat()},
                actor=username,
                records=[row],
            )
            return LoginSession(actor_of(user), token, row.expires_at)
    raise NotAllowed(REFUSED.format(name=username))


def authenticate(ctx: Context, token: str) -> Actor:
    """The user a token belongs to, if it is neither expired nor revoked (a read: it never
    waits behind a writer)."""
    with ctx.read_session() as s:
        row = s.scalars(select(AuthToken).where(AuthToken.token_sha256 == _sha(token))).first()
        user = s.get(User, row.user_id) if row is not None else None
        if row is None or row.revoked or _aware(row.expires_at) <= _now() or user is None:
            raise NotAllowed(
                "not logged in (or the login expired or was revoked): run `leadguard login USER`"
            )
        if not user.active:
            raise NotAllowed(f"{user.username}: the account is deactivated")
        if why := as_recorded.problem(s, [user, row], f"user:{user.username}", ctx.recorded):
            log.warning("a login of %r refused: %s", user.username, why)
            raise NotAllowed(
                f"{user.username}: this login or account is not as the audit log records it "
                f"({why}); refused. An administrator should run `leadguard audit verify`"
            )
        return replace(actor_of(user), via=row.id)


def logout(ctx: Context, token: str) -> None:
    with ctx.session() as s:
        row = s.scalars(select(AuthToken).where(AuthToken.token_sha256 == _sha(token))).first()
        if row is None or row.revoked:
            return
        row.revoked = True
        user = s.get(User, row.user_id)
        audit.append(
            s,
            "logout",
            f"user:{user.username if user else row.user_id}",
            {},
            actor=user.username if user else None,
            records=[row],
        )


def _revoke_all(s: Session, user_id: int) -> list[AuthToken]:
    """Revoke every live token of the user; the rows changed, for the entry's records (a
    revocation is an outcome: it stays in the chain)."""
    rows = list(
        s.scalars(
            select(AuthToken).where(AuthToken.user_id == user_id, AuthToken.revoked.is_(False))
        )
    )
    for row in rows:
        row.revoked = True
    return rows


def check_lengths(username: str, password: str) -> None:
    """The same limits as the API's schema, for every shell (a web form has none)."""
    if not 0 < len(username) <= MAX_USERNAME:
        raise InputError(f"an account name has 1 to {MAX_USERNAME} characters")
    if len(password) > MAX_PASSWORD:
        raise InputError(f"a password has at most {MAX_PASSWORD} characters")


def _check_names(username: str, unit: str) -> None:
    """A new account's name and unit: one line each, within the table's limits, without a
    control, invisible or bidi character (a name that reorders what is shown after it)."""
    for what, value, limit in (("account name", username, 64), ("unit", unit, 64)):
        problem = free_text_problem(what, value, limit)
        if problem is None and ("\n" in value or "\t" in value):
            problem = f"{what} holds a line break or a tab: {printable(value)!r}"
        if problem:
            raise InputError(problem)


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise InputError(f"a password needs at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise InputError(f"a password has at most {MAX_PASSWORD} characters")


def change_password(ctx: Context, actor: Actor, old: str, new: str) -> None:
    """A user changes their own password; every token of theirs is revoked."""
    _check_password(new)
    with refusals(ctx, actor, "user.password", f"user:{actor.username}"), ctx.session() as s:
        user = current_user(s, actor)
        if not _check(user.password_hash, old):
            raise NotAllowed(f"{actor.username}: the current password is wrong")
        user.password_hash = _hasher().hash(new)
        revoked = _revoke_all(s, user.id)
        audit.append(
            s,
            "user.password",
            f"user:{actor.username}",
            {"tokens_revoked": len(revoked)},
            actor=actor.username,
            records=[user, *revoked],
        )


def add_user(
    ctx: Context, actor: Actor | None, username: str, password: str, role: str, unit: str = ""
) -> UserInfo:
    """Admins add users; the very first user of a workspace (an admin) needs no login."""
    if role not in ROLES:
        raise InputError(f"role {role!r} is not one of {', '.join(ROLES)}")
    check_lengths(username, password)
    if username != username.strip() or not username.isprintable():
        raise InputError("an account name has no spaces at its ends and no control characters")
    _check_password(password)
    with refusals(ctx, actor, "user.create", f"user:{username}"), ctx.session() as s:
        _check_names(username, unit)
        first = s.scalars(select(User.id).limit(1)).first() is None
        if first and role != "admin":
            raise InputError("the first account of a workspace must be an admin")
        if not first:
            if actor is None:
                raise NotAllowed("adding a user needs an admin's login")
            authorize(current_user(s, actor), "user.create")
        if _user(s, username) is not None:
            raise InputError(f"user {username!r} already exists")
        user = User(username=username, password_hash=_hasher().hash(password), role=role, unit=unit)
        s.add(user)
        s.flush()
        audit.append(
            s,
            "user.create",
            f"user:{username}",
            {"role": role, "unit": unit},
            actor=actor.username if actor else username,
            records=[user],
        )
        if first:  # the workspace becomes protected: its safeguards as they stand now
            from leadguard.core.config import load_settings
            from leadguard.services import settings_record

            settings_record.ensure_baseline(s, load_settings(ctx.root), ctx.root)
        return _info(user)


def _info(u: User, state: LoginState | None = None) -> UserInfo:
    until = state.locked_until if state is not None else None
    locked = bool(until and _aware(until) > _now())
    return UserInfo(u.username, u.role, u.unit, u.active, _aware(u.created_at), locked)


def deactivate_user(ctx: Context, actor: Actor, username: str) -> None:
    """The account can no longer log in or act; its tokens are revoked."""
    with refusals(ctx, actor, "user.deactivate", f"user:{username}"), ctx.session() as s:
        authorize(current_user(s, actor), "user.deactivate")
        target = _user(s, username)
        if target is None:
            raise InputError(f"user {username!r} does not exist")
        target.active = False
        revoked = _revoke_all(s, target.id)
        audit.append(
            s,
            "user.deactivate",
            f"user:{username}",
            {"tokens_revoked": len(revoked)},
            actor=actor.username,
            records=[target, *revoked],
        )


def list_users(ctx: Context, actor: Actor) -> list[UserInfo]:
    with refusals(ctx, actor, "user.list", "users"), ctx.session() as s:
        authorize(current_user(s, actor), "user.list")
        states = {st.user_id: st for st in s.scalars(select(LoginState))}
        return [_info(u, states.get(u.id)) for u in s.scalars(select(User).order_by(User.username))]


def actor_by_name(ctx: Context, username: str) -> Actor:
    """For tests and in-process callers that have already authenticated the user."""
    with ctx.session() as s:
        user = _user(s, username)
        if user is None:
            raise InputError(f"user {username!r} does not exist")
        return actor_of(user)
