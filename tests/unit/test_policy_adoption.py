"""The casework policy file in force must be the one an admin last adopted
(``settings adopt-policy``, audited with its digest and content); a changed file is refused
at use with the file and the command named; a new workspace adopts its initial policy."""

from __future__ import annotations

import hashlib
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from leadguard.audit import log as audit
from leadguard.core.errors import InputError, LeadGuardError
from leadguard.services import accounts
from leadguard.services import audit as audit_service
from leadguard.services.authz import NotAllowed
from leadguard.services.casework import adoption
from leadguard.services.casework import service as cw
from leadguard.services.casework.policy import read_policy_file
from leadguard.services.context import Actor, Context
from leadguard.services.settings import adopt_initial_policy, adopt_policy, set_setting
from leadguard.storage.tables import AuditEntry
from leadguard.storage.workspace import Workspace
from tests.unit.accounts_kit import PW, north_desk


@pytest.fixture()
def ctx(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Context:
    c = north_desk(tmp_path / "ws", monkeypatch, examiner=False)
    return c


def _login(ctx: Context, name: str) -> Actor:
    return accounts.login(ctx, name, PW).actor


def _open(ctx: Context, number: str) -> None:
    sup = _login(ctx, "sup")
    cw.open_case(ctx, sup, number, "Robbery", date(2026, 3, 1), "d", {}, "Det. R", "warrant")


def _own_policy(ctx: Context) -> tuple[Context, Path]:
    """The workspace pointed (by an admin, audited) at its own copy of the shipped policy."""
    _, shipped = read_policy_file()
    path = ctx.root / "policy.toml"
    path.write_bytes(shipped)
    set_setting(ctx, _login(ctx, "admin"), "casework_policy", "policy.toml")
    return Context(Workspace.open(ctx.root)), path


def test_the_shipped_policy_needs_no_adoption(ctx: Context) -> None:
    _open(ctx, "C-1")  # no adoption recorded: the shipped policy is accepted


def test_a_policy_file_is_refused_until_adopted(ctx: Context) -> None:
    ctx, path = _own_policy(ctx)
    with pytest.raises(adoption.PolicyNotAdopted) as err:
        _open(ctx, "C-1")
    msg = str(err.value)
    assert str(path) in msg and "leadguard settings adopt-policy" in msg and str(ctx.root) in msg
    done = adopt_policy(ctx, _login(ctx, "admin"))
    assert done.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    _open(ctx, "C-1")  # adopted: in force
    accounts.add_user(ctx, _login(ctx, "admin"), "aud", PW, "auditor")
    assert not audit_service.verify(ctx, _login(ctx, "aud")).settings_problems
    # edited in place afterwards: refused again, naming the adoption it departs from
    path.write_text(path.read_text().replace("examiners_required = 2", "examiners_required = 3"))
    with pytest.raises(adoption.PolicyNotAdopted) as err:
        _open(ctx, "C-2")
    assert f"audit entry {done.seq}" in str(err.value) and "by admin" in str(err.value)
    found = audit_service.verify(ctx, _login(ctx, "aud"))  # and verify names it
    assert not found.intact and any("is not adopted" in p for p in found.settings_problems)
    again = adopt_policy(ctx, _login(ctx, "admin"))
    assert again.previous_sha256 == done.sha256
    _open(ctx, "C-2")
    with ctx.session() as s:
        assert audit.verify(s).intact


def test_the_adoption_entry_holds_digest_content_and_admin(ctx: Context) -> None:
    ctx, path = _own_policy(ctx)
    done = adopt_policy(ctx, _login(ctx, "admin"))
    with ctx.session() as s:
        entry = adoption.last_adoption(s)
        assert entry is not None
        assert entry.action == "settings.adopt_policy" and entry.object == adoption.OBJECT
        assert entry.actor == "admin" and entry.seq == done.seq
        assert entry.details["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
        assert entry.details["content"] == path.read_text()
        assert entry.details["source"] == str(path)


def test_only_an_admin_adopts_and_only_a_valid_file(ctx: Context) -> None:
    ctx, path = _own_policy(ctx)
    with pytest.raises(NotAllowed):
        adopt_policy(ctx, _login(ctx, "sup"))
    path.write_text("eligible_offences = 3\n")
    with pytest.raises(InputError):
        adopt_policy(ctx, _login(ctx, "admin"))
    with ctx.session() as s:
        assert adoption.last_adoption(s) is None
        refused = [e.details.get("refused") for e in s.query(AuditEntry).all()]
    assert refused.count("settings.adopt_policy") == 2  # both refusals recorded


def test_init_adopts_the_initial_policy(tmp_path: Path) -> None:
    from leadguard.cli.main import app

    root = tmp_path / "fresh"
    result = CliRunner().invoke(app, ["init", str(root)])
    assert result.exit_code == 0, result.output
    ctx = Context(Workspace.open(root))
    with ctx.session() as s:
        entry = adoption.last_adoption(s)
        assert entry is not None
        assert entry.details["sha256"] == hashlib.sha256(read_policy_file()[1]).hexdigest()
    assert adopt_initial_policy(ctx) is None  # once only


def test_an_empty_value_restores_the_shipped_policy(ctx: Context) -> None:
    ctx, _ = _own_policy(ctx)
    adopt_policy(ctx, _login(ctx, "admin"))
    change = set_setting(ctx, _login(ctx, "admin"), "casework_policy", "")
    assert (change.old, change.new) == ("policy.toml", None)
    text = (ctx.root / "leadguard.toml").read_text()
    assert "\ncasework_policy =" not in text and "[leadguard]" in text
    ctx = Context(Workspace.open(ctx.root))
    assert ctx.settings.casework_policy is None
    _open(ctx, "C-1")  # the shipped policy, whose bytes the last adoption holds, in force
    _, shipped = read_policy_file()
    with ctx.session() as s:
        entry = adoption.last_adoption(s)
        assert entry is not None and entry.details["sha256"] == hashlib.sha256(shipped).hexdigest()
        assert audit.verify(s).intact
    with pytest.raises(InputError):  # "" is not a value for a setting that has one
        set_setting(ctx, _login(ctx, "admin"), "top_k", "")


def test_a_policy_path_that_is_a_pipe_is_named_not_waited_on(ctx: Context) -> None:
    """A casework policy path swapped for a FIFO (or a device) once hung ``audit verify``
    and every casework action: it is refused as not a regular file."""
    import os

    ctx, path = _own_policy(ctx)
    path.unlink()
    os.mkfifo(path)
    accounts.add_user(ctx, _login(ctx, "admin"), "aud", PW, "auditor")
    found = audit_service.verify(ctx, _login(ctx, "aud"))
    assert not found.intact
    assert any("not a regular file" in p for p in found.settings_problems), found
    with pytest.raises(LeadGuardError, match="not a regular file"):
        _open(ctx, "C-1")
