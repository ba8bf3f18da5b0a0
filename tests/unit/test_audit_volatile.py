"""Volatile login state stays out of the hash chain: a thousand failed logins, lockouts, a
password change and token revocations leave ``audit verify`` intact, while a direct edit of
what decides an outcome (role, password hash, a token's revocation) is still named."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select, text

from leadguard.audit import log as audit
from leadguard.services import accounts
from leadguard.services.authz import NotAllowed
from leadguard.services.context import Context
from leadguard.storage.tables import AuditEntry, AuthToken, LoginState, User
from leadguard.storage.workspace import Workspace
from tests.unit.accounts_kit import cheap_hashing

pytestmark = pytest.mark.usefixtures("database")  # SQLite and PostgreSQL

PW = "correct horse battery staple"


@pytest.fixture(autouse=True)
def _cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2 at its lowest cost: the test counts logins, not the cost of each."""
    cheap_hashing(monkeypatch)


@pytest.fixture()
def ctx(tmp_path: Path) -> Context:
    c = Context(Workspace.init(tmp_path / "ws"))
    accounts.add_user(c, None, "admin", PW, "admin")
    admin = accounts.login(c, "admin", PW).actor
    accounts.add_user(c, admin, "ex1", PW, "examiner", "north")
    return c


def verify(ctx: Context) -> audit.ChainCheck:
    with ctx.session() as s:
        return audit.verify(s)


def sql(ctx: Context, statement: str) -> None:
    with ctx.ws.engine.begin() as conn:
        conn.execute(text(statement))


def test_a_thousand_failed_logins_lockouts_and_a_password_change_keep_the_chain(
    ctx: Context,
) -> None:
    tokens = [accounts.login(ctx, "ex1", PW) for _ in range(3)]
    refused = 0
    for i in range(1000):
        name = ("ex1", "admin", "nobody")[i % 3]
        try:
            accounts.login(ctx, name, f"wrong password {i}")
        except NotAllowed:
            refused += 1
    assert refused == 1000
    with ctx.session() as s:
        states = {st.user_id: st for st in s.scalars(select(LoginState))}
        locked = [st for st in states.values() if st.locked_until is not None]
        assert len(locked) == 2  # ex1 and admin are locked out; nobody has no state
        failed = s.scalars(select(AuditEntry).where(AuditEntry.action == "login.failed")).all()
        assert len(failed) == 1000
        assert sum(e.details["reason"] == "locked" for e in failed) > 600
    check = verify(ctx)
    assert check.intact, (check.reason, check.record_problems)

    sql(ctx, "UPDATE login_state SET locked_until = NULL, failed_logins = 0")  # waited out
    accounts.logout(ctx, tokens[0].token)
    accounts.change_password(ctx, tokens[1].actor, PW, "a new long pass phrase")
    with pytest.raises(NotAllowed):
        accounts.authenticate(ctx, tokens[2].token)
    admin = accounts.login(ctx, "admin", PW).actor
    accounts.add_user(ctx, admin, "ex2", PW, "examiner")
    accounts.login(ctx, "ex2", PW)
    accounts.deactivate_user(ctx, admin, "ex2")
    with ctx.session() as s:
        assert all(t.revoked for t in s.scalars(select(AuthToken).where(AuthToken.user_id != 1)))
    check = verify(ctx)
    assert check.intact, (check.reason, check.record_problems)
    assert check.records_checked >= 8  # accounts and tokens, all named


@pytest.mark.parametrize(
    ("statement", "named"),
    [
        ("UPDATE users SET role = 'admin' WHERE username = 'ex1'", "users row 2 was changed"),
        ("UPDATE users SET password_hash = 'x' WHERE username = 'ex1'", "users row 2 was changed"),
        ("UPDATE users SET active = false WHERE username = 'ex1'", "users row 2 was changed"),
        ("UPDATE auth_tokens SET revoked = false", "was changed"),
        ("UPDATE auth_tokens SET expires_at = '2999-01-01 00:00:00'", "was changed"),
    ],
)
def test_a_direct_edit_of_an_account_or_token_is_named(
    ctx: Context, statement: str, named: str
) -> None:
    sess = accounts.login(ctx, "ex1", PW)
    accounts.logout(ctx, sess.token)
    for _ in range(ctx.settings.login_attempts + 2):
        with pytest.raises(NotAllowed):
            accounts.login(ctx, "ex1", "wrong password, again")
    assert verify(ctx).intact
    sql(ctx, statement)
    problems = verify(ctx).record_problems
    assert any(named in p for p in problems), problems


def test_every_refusal_reads_the_same_whatever_the_account(ctx: Context) -> None:
    messages: dict[str, set[str]] = {"ex1": set(), "nobody": set()}
    for name in messages:
        for _ in range(ctx.settings.login_attempts + 2):
            with pytest.raises(NotAllowed) as err:
                accounts.login(ctx, name, "wrong password, again")
            messages[name].add(str(err.value).replace(repr(name), "NAME"))
    with pytest.raises(NotAllowed) as err:  # locked: the right password is refused the same
        accounts.login(ctx, "ex1", PW)
    messages["ex1"].add(str(err.value).replace("'ex1'", "NAME"))
    assert len(messages["ex1"]) == 1 and messages["ex1"] == messages["nobody"]


def test_the_login_state_is_in_no_audit_record(ctx: Context) -> None:
    with pytest.raises(NotAllowed):
        accounts.login(ctx, "ex1", "wrong password, again")
    with ctx.session() as s:
        tables = {
            r["table"] for e in s.scalars(select(AuditEntry)) for r in e.details.get("records", [])
        }
        assert "login_state" not in tables and {"users", "auth_tokens"} <= tables
        assert not hasattr(User, "failed_logins")
