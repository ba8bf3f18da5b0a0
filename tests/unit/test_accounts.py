"""Accounts and sessions through the services: tokens (hash stored, expiry, revocation),
lockout with backoff, password change, deactivation, safeguard settings, file modes."""

from __future__ import annotations

import hashlib
import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from leadguard.audit import log as audit
from leadguard.core.errors import InputError, WorkspaceError
from leadguard.services import accounts
from leadguard.services.authz import NotAllowed
from leadguard.services.context import Context
from leadguard.services.settings import set_setting
from leadguard.storage.tables import AuditEntry, AuthToken, LoginState, User
from leadguard.storage.workspace import Workspace

pytestmark = pytest.mark.usefixtures("database")  # SQLite and PostgreSQL


PW = "correct horse battery staple"


@pytest.fixture()
def ctx(tmp_path: Path) -> Context:
    c = Context(Workspace.init(tmp_path / "ws"))
    accounts.add_user(c, None, "admin", PW, "admin")
    admin = accounts.login(c, "admin", PW).actor
    accounts.add_user(c, admin, "ex1", PW, "examiner", "north")
    return c


def actions(ctx: Context) -> list[str]:
    with ctx.session() as s:
        return [e.action for e in s.scalars(select(AuditEntry).order_by(AuditEntry.seq))]


def test_a_token_is_stored_only_as_its_hash_and_expires(ctx: Context) -> None:
    sess = accounts.login(ctx, "ex1", PW)
    assert accounts.authenticate(ctx, sess.token).username == "ex1"
    with ctx.session() as s:
        rows = s.scalars(select(AuthToken)).all()
        assert sess.token not in {r.token_sha256 for r in rows}
        assert hashlib.sha256(sess.token.encode()).hexdigest() in {r.token_sha256 for r in rows}
        hours = (sess.expires_at - datetime.now(UTC)) / timedelta(hours=1)
        assert 7.9 < hours <= 8.0
        s.execute(update(AuthToken).values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    with pytest.raises(NotAllowed, match="expired or was revoked"):
        accounts.authenticate(ctx, sess.token)


def test_logout_password_change_and_deactivation_revoke_tokens(ctx: Context) -> None:
    a, b = accounts.login(ctx, "ex1", PW), accounts.login(ctx, "ex1", PW)
    accounts.logout(ctx, a.token)
    with pytest.raises(NotAllowed):
        accounts.authenticate(ctx, a.token)
    assert accounts.authenticate(ctx, b.token).username == "ex1"
    new = "another long pass phrase"
    with pytest.raises(NotAllowed, match="current password is wrong"):
        accounts.change_password(ctx, b.actor, "not the password", new)
    accounts.change_password(ctx, b.actor, PW, new)
    with pytest.raises(NotAllowed):
        accounts.authenticate(ctx, b.token)
    c = accounts.login(ctx, "ex1", new)
    admin = accounts.login(ctx, "admin", PW).actor
    accounts.deactivate_user(ctx, admin, "ex1")
    with pytest.raises(NotAllowed):
        accounts.authenticate(ctx, c.token)
    with pytest.raises(NotAllowed, match="failed"):
        accounts.login(ctx, "ex1", new)
    assert {"logout", "user.password", "user.deactivate", "refused"} <= set(actions(ctx))


def _state(ctx: Context, name: str) -> LoginState:
    with ctx.session() as s:
        user = s.scalars(select(User).where(User.username == name)).one()
        state = s.get(LoginState, user.id)
        assert state is not None
        s.expunge(state)
        return state


def test_lockout_with_backoff_then_the_right_password_is_refused(ctx: Context) -> None:
    for _ in range(ctx.settings.login_attempts):
        with pytest.raises(NotAllowed, match="failed"):
            accounts.login(ctx, "ex1", "wrong password number")
    with pytest.raises(NotAllowed, match="too many failed logins"):
        accounts.login(ctx, "ex1", PW)
    first = _state(ctx, "ex1").locked_until
    assert first is not None
    with ctx.session() as s:  # wait it out
        s.execute(update(LoginState).values(locked_until=datetime.now(UTC) - timedelta(seconds=1)))
    with pytest.raises(NotAllowed, match="failed"):  # one more failure: a longer lockout
        accounts.login(ctx, "ex1", "wrong password again")
    state = _state(ctx, "ex1")
    assert state.locked_until is not None and state.failed_logins == 6
    left = state.locked_until.replace(tzinfo=UTC) - datetime.now(UTC)
    assert left > timedelta(seconds=accounts.BACKOFF_SECONDS * 1.5)
    assert actions(ctx).count("login.failed") == 7
    with ctx.session() as s:
        reasons = [
            e.details["reason"]
            for e in s.scalars(select(AuditEntry).where(AuditEntry.action == "login.failed"))
        ]
    assert reasons.count("locked") == 1 and reasons.count("wrong password") == 6


def test_unknown_users_cost_the_same_password_check(ctx: Context, monkeypatch) -> None:
    calls: list[str] = []
    real = accounts._check
    monkeypatch.setattr(accounts, "_check", lambda h, p: calls.append(h) or real(h, p))
    with pytest.raises(NotAllowed):
        accounts.login(ctx, "nobody", PW)
    assert calls == [accounts._dummy_hash()]


def test_safeguard_settings_come_only_from_the_workspace(ctx: Context, monkeypatch) -> None:
    monkeypatch.setenv("LEADGUARD_TARGET_FPIR", "0.05")
    with pytest.raises(WorkspaceError, match="LEADGUARD_TARGET_FPIR"):
        Context.open(ctx.root)
    monkeypatch.delenv("LEADGUARD_TARGET_FPIR")
    monkeypatch.setenv("LEADGUARD_ACTOR", "sup")  # no longer read at all
    with ctx.session() as s:
        assert audit.append(s, "x", "y", {}).actor.startswith("os:")
    ex1 = accounts.login(ctx, "ex1", PW).actor
    with pytest.raises(NotAllowed, match=r"may not settings\.set"):
        set_setting(ctx, ex1, "target_fpir", "0.05")
    admin = accounts.login(ctx, "admin", PW).actor
    change = set_setting(ctx, admin, "target_fpir", "0.005")
    assert (change.old, change.new, change.safeguard) == (0.01, 0.005, True)
    assert Context.open(ctx.root).settings.target_fpir == 0.005
    with ctx.session() as s:
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "settings.set")).one()
        assert entry.details["old"] == 0.01 and entry.details["new"] == 0.005


def test_the_database_is_not_switched_by_a_setting_or_the_environment(
    ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = accounts.login(ctx, "admin", PW).actor
    with pytest.raises(InputError, match="database_url: a workspace's database is not switched"):
        set_setting(ctx, admin, "database_url", "postgresql://u@elsewhere/empty")
    monkeypatch.setenv("LEADGUARD_DATABASE_URL", "sqlite:////tmp/empty-without-accounts.db")
    assert Context.open(ctx.root).has_accounts()  # the env did not swap in another database
    with ctx.session() as s:
        refused = s.scalars(select(AuditEntry).where(AuditEntry.action == "refused")).all()
    assert any(e.object == "settings:database_url" for e in refused)


def test_the_workspace_is_private(ctx: Context, database: str) -> None:
    def mode(p: Path) -> int:
        return stat.S_IMODE(os.stat(p).st_mode)

    assert mode(ctx.root) == 0o700
    if database == "sqlite":
        assert mode(ctx.root / "leadguard.db") == 0o600
    else:  # the database is the server's; the settings file names it
        assert not (ctx.root / "leadguard.db").exists()
    assert mode(ctx.root / "leadguard.toml") == 0o600


def test_an_admin_cannot_be_first_in_any_other_role(tmp_path: Path) -> None:
    c = Context(Workspace.init(tmp_path / "w2"))
    from leadguard.core.errors import InputError

    with pytest.raises(InputError, match="must be an admin"):
        accounts.add_user(c, None, "ex", PW, "examiner")
    accounts.add_user(c, None, "admin", PW, "admin")
    with pytest.raises(NotAllowed, match="needs an admin"):
        accounts.add_user(c, None, "ex", PW, "examiner")
