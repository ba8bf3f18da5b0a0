"""An insider who can write the database but not read the audit key cannot act through an
account or a login token that is not as the audit log records it (``audit.as_recorded``):
a token inserted, a token moved to another account, a password hash or a role swapped are
refused when used, so there is nothing to put back before ``audit verify`` runs. Normal use
(logins, failed logins, password changes, logouts) is never refused."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from leadguard.audit import log as audit
from leadguard.audit.records import read_chain
from leadguard.services import accounts
from leadguard.services.audit import verify
from leadguard.services.audit_key import adopt_key
from leadguard.services.authz import NotAllowed
from leadguard.services.context import Context, acting_through
from leadguard.storage.workspace import Workspace
from tests.unit.accounts_kit import PW, cheap_hashing


@pytest.fixture
def ctx(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Context]:
    cheap_hashing(monkeypatch)
    keys = tmp_path / "keys"
    keys.mkdir(mode=0o700)
    c = Context(Workspace.init(tmp_path / "ws"))
    adopt_key(c, None, keys / "audit.key")
    accounts.add_user(c, None, "admin", PW, "admin")
    admin = accounts.login(c, "admin", PW).actor
    accounts.add_user(c, admin, "ex1", PW, "examiner", "north")
    accounts.add_user(c, admin, "aud", PW, "auditor")
    yield c
    c.close()


def _sql(c: Context, sql: str, **params: object) -> None:
    with c.ws.engine.begin() as conn:
        conn.execute(text(sql), params)


def _id(c: Context, name: str) -> int:
    with c.ws.engine.begin() as conn:
        found = conn.execute(text("SELECT id FROM users WHERE username = :n"), {"n": name})
        return int(found.one()[0])


def test_an_inserted_token_is_refused_and_leaves_the_log_as_it_was(ctx: Context) -> None:
    token = "insider-token-0123456789"
    sha = hashlib.sha256(token.encode()).hexdigest()
    now = datetime.now(UTC)
    aud = accounts.login(ctx, "aud", PW).actor
    entries = verify(ctx, aud).check.entries
    _sql(
        ctx,
        "INSERT INTO auth_tokens (user_id, token_sha256, created_at, expires_at, revoked) "
        "VALUES (:u, :s, :at, :e, 0)",
        u=_id(ctx, "admin"),
        s=sha,
        at=now,
        e=now + timedelta(hours=2),
    )
    with pytest.raises(NotAllowed, match="named by no audit entry"):
        accounts.authenticate(ctx, token)
    _sql(ctx, "DELETE FROM auth_tokens WHERE token_sha256 = :s", s=sha)
    check = verify(ctx, aud).check
    assert check.intact and check.entries == entries  # nothing was done as admin


def test_a_token_moved_to_another_account_is_refused_until_put_back(ctx: Context) -> None:
    mine = accounts.login(ctx, "ex1", PW).token
    assert accounts.authenticate(ctx, mine).username == "ex1"  # learnt by this process
    ex1, admin = _id(ctx, "ex1"), _id(ctx, "admin")
    _sql(ctx, "UPDATE auth_tokens SET user_id = :a WHERE user_id = :e", a=admin, e=ex1)
    with pytest.raises(NotAllowed, match=r"auth_tokens row .* is not as"):
        accounts.authenticate(ctx, mine)
    _sql(ctx, "UPDATE auth_tokens SET user_id = :e WHERE user_id = :a AND id > 1", a=admin, e=ex1)
    assert accounts.authenticate(ctx, mine).username == "ex1"


def test_a_swapped_password_hash_or_role_is_refused(ctx: Context) -> None:
    known = accounts._hasher().hash("insider's own password")
    _sql(ctx, "UPDATE users SET password_hash = :h WHERE username = 'admin'", h=known)
    with pytest.raises(NotAllowed) as refused:
        accounts.login(ctx, "admin", "insider's own password")
    assert str(refused.value) == accounts.REFUSED.format(name="admin")  # the one message
    token = accounts.login(ctx, "ex1", PW).token
    _sql(ctx, "UPDATE users SET role = 'admin' WHERE username = 'ex1'")
    with pytest.raises(NotAllowed, match=r"users row .* is not as"):
        accounts.authenticate(ctx, token)
    fresh = Context(Workspace.open(ctx.root))  # another process learns nothing earlier
    try:
        with pytest.raises(NotAllowed, match=r"users row .* is not as audit entry"):
            accounts.authenticate(fresh, token)
    finally:
        fresh.close()
    with ctx.read_session() as s:
        failed = [e for e in read_chain(s) if e.action == "login.failed"]
    assert "not as the audit log records it" in failed[-1].details["reason"]


def test_an_entry_forged_without_the_key_does_not_vouch_for_a_row(ctx: Context) -> None:
    token = accounts.login(ctx, "ex1", PW).token
    _sql(ctx, "UPDATE users SET role = 'admin' WHERE username = 'ex1'")
    with Session(ctx.ws.engine) as raw, raw.begin():  # an entry naming the new row: no code
        from leadguard.storage.tables import User

        user = raw.get(User, _id(ctx, "ex1"))
        audit.append(raw, "user.role", "user:ex1", {}, actor="admin", records=[user])
    with pytest.raises(NotAllowed, match="authentication code"):
        accounts.authenticate(ctx, token)


def test_normal_use_is_never_refused(ctx: Context) -> None:
    admin = accounts.login(ctx, "admin", PW)
    first = accounts.login(ctx, "ex1", PW)
    for _ in range(3):  # under the lockout's 5
        with pytest.raises(NotAllowed):
            accounts.login(ctx, "ex1", "wrong password!!")
    assert accounts.authenticate(ctx, first.token).username == "ex1"
    accounts.change_password(ctx, first.actor, PW, PW + " 2")  # revokes its tokens
    again = accounts.login(ctx, "ex1", PW + " 2")
    assert accounts.authenticate(ctx, again.token).username == "ex1"
    accounts.add_user(ctx, admin.actor, "ex2", PW, "examiner", "north")
    other = accounts.login(ctx, "ex2", PW)
    accounts.logout(ctx, other.token)
    assert accounts.authenticate(ctx, admin.token).username == "admin"
    assert verify(ctx, accounts.login(ctx, "aud", PW).actor).check.intact


def test_an_entry_from_before_the_key_vouches_only_if_linked_to_its_adoption(
    ctx: Context,
) -> None:
    """A second red-team pass: a token's digest written into entry 1 (before the key was
    adopted, so without a code) with its hash recomputed was accepted for admin."""
    token = "insider-token-before-the-key"
    now = datetime.now(UTC)
    _sql(
        ctx,
        "INSERT INTO auth_tokens (user_id, token_sha256, created_at, expires_at, revoked) "
        "VALUES (:u, :s, :at, :e, 0)",
        u=_id(ctx, "admin"),
        s=hashlib.sha256(token.encode()).hexdigest(),
        at=now,
        e=now + timedelta(hours=2),
    )
    with Session(ctx.ws.engine) as raw, raw.begin():
        from leadguard.storage.tables import AuditEntry, AuthToken

        row = raw.scalars(select(AuthToken).order_by(AuthToken.id.desc())).first()
        first = raw.scalars(select(AuditEntry).where(AuditEntry.seq == 1)).one()
        first.details = {**first.details, "records": [audit.row_digest(row)]}
        first.hash = audit.content_hash(
            first.prev_hash, 1, first.at, first.actor, first.action, first.object, first.details
        )
    with pytest.raises(NotAllowed, match="not linked to the adoption"):
        accounts.authenticate(ctx, token)


def test_an_account_a_migration_adopted_after_changing_its_columns_logs_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A second red-team pass: after migration 0011 (columns dropped from ``users``, rows
    adopted by ``audit.baseline`` entries of ``table:users``), every login was refused,
    because the older ``user.create`` entry was taken for the latest."""
    from leadguard.audit import baseline

    cheap_hashing(monkeypatch)
    c = Context(Workspace.init(tmp_path / "ws"))
    try:
        accounts.add_user(c, None, "admin", PW, "admin")
        token = accounts.login(c, "admin", PW).token
        with c.ws.engine.begin() as conn:  # as a migration: the row changes, then adopted
            conn.execute(text("UPDATE users SET unit = 'moved by a migration'"))
            baseline.adopt(conn, "test", ("users",))
        fresh = Context(Workspace.open(c.root))
        try:
            assert accounts.authenticate(fresh, token).unit == "moved by a migration"
            assert accounts.login(fresh, "admin", PW).actor.username == "admin"
        finally:
            fresh.close()
    finally:
        c.close()


def test_an_account_revived_used_and_put_back_is_found_by_verify(ctx: Context) -> None:
    """A second red-team pass: bob deactivated (entry N), then in the database bob active
    again and entry N's object changed, so that the check as used does not see it; bob
    logs in; everything put back. ``verify`` found nothing: each entry now records the
    acting account's row, and ``verify`` compares it with the entries before."""
    admin = accounts.login(ctx, "admin", PW).actor
    accounts.deactivate_user(ctx, admin, "ex1")
    with ctx.read_session() as s:
        gone = read_chain(s)[-1]
    assert gone.object == "user:ex1"
    _sql(ctx, "UPDATE users SET active = 1 WHERE username = 'ex1'")
    _sql(ctx, "UPDATE audit_log SET object = 'user:ex1#' WHERE seq = :n", n=gone.seq)
    assert accounts.login(ctx, "ex1", PW).actor.username == "ex1"  # the check is misled
    _sql(ctx, "UPDATE users SET active = 0 WHERE username = 'ex1'")
    _sql(ctx, "UPDATE audit_log SET object = 'user:ex1' WHERE seq = :n", n=gone.seq)
    check = verify(ctx, accounts.login(ctx, "aud", PW).actor).check
    assert not check.intact
    assert any("written by 'ex1' while the account's row" in p for p in check.problems)


def test_a_revoked_token_revived_used_and_put_back_is_found_by_verify(ctx: Context) -> None:
    """A logout revokes the token and leaves the account's row as it was: a token revived
    (its logout entry hidden from the check as used) is found by the row of the token each
    entry records (``acted_via``), as the server and the CLI record it."""
    first = accounts.login(ctx, "admin", PW)
    accounts.logout(ctx, first.token)
    with ctx.read_session() as s:
        out = read_chain(s)[-1]
    assert out.action == "logout"
    _sql(ctx, "UPDATE auth_tokens SET revoked = 0 WHERE id = (SELECT max(id) FROM auth_tokens)")
    _sql(ctx, "UPDATE audit_log SET object = 'user:admin#' WHERE seq = :n", n=out.seq)
    revived = accounts.authenticate(ctx, first.token)  # the check as used is misled
    with acting_through(revived):
        accounts.add_user(ctx, revived, "ghost", PW, "admin")
    _sql(ctx, "UPDATE auth_tokens SET revoked = 1 WHERE id = (SELECT max(id) FROM auth_tokens)")
    _sql(ctx, "UPDATE audit_log SET object = 'user:admin' WHERE seq = :n", n=out.seq)
    check = verify(ctx, accounts.login(ctx, "aud", PW).actor).check
    assert any("while the login token" in p for p in check.problems), check.problems


def test_a_login_revoked_while_its_request_runs_raises_no_alarm(ctx: Context) -> None:
    """Normal use: a password change made through the token it revokes, and a logout in
    another tab while a request made with the same token is still writing."""
    mine = accounts.login(ctx, "ex1", PW)
    me = accounts.authenticate(ctx, mine.token)
    with acting_through(me):
        accounts.change_password(ctx, me, PW, PW + " 2")  # revokes the token it acts through
    admin = accounts.login(ctx, "admin", PW)
    busy = accounts.authenticate(ctx, admin.token)
    accounts.logout(ctx, admin.token)  # another tab
    with acting_through(busy):
        accounts.add_user(ctx, busy, "ex3", PW, "examiner", "north")  # the request ends
    assert verify(ctx, accounts.login(ctx, "aud", PW).actor).check.intact
