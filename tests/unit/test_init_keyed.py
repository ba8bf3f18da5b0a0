"""`leadguard init` keys a new workspace's audit log by default (``services.audit_key.
key_new_workspace``): the key is made outside the workspace, in the account's data folder,
so a default deployment already catches an entry appended with a correct hash by someone
who can write the database but not read the key. Opting out is explicit and said."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from sqlalchemy.orm import Session
from typer.testing import CliRunner

from leadguard.audit import log as audit
from leadguard.cli.main import app
from leadguard.core.config import load_settings
from leadguard.services import accounts
from leadguard.services.audit_key import key_new_workspace
from leadguard.services.context import Context
from leadguard.storage.workspace import Workspace
from tests.unit.accounts_kit import cheap_hashing

PW = "correct horse battery staple"
ENV = {"COLUMNS": "80"}


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), env=ENV)
    return result.exit_code, result.output


def _forge_head(root: Path) -> int:
    """An entry with a correct hash, appended outside LeadGuard (no key, no code)."""
    ws = Workspace.open(root)
    try:
        with Session(ws.engine) as s, s.begin():
            return audit.append(s, "settings.set", "settings:target_fpir", {"new": 0.3}).seq
    finally:
        ws.close()


def test_init_keys_the_log_outside_the_workspace_and_a_forged_entry_is_named(
    tmp_path: Path,
) -> None:
    root = tmp_path / "ws"
    code, out = _run("init", str(root))
    assert code == 0, out
    assert "audit log keyed from entry" in out and "Traceback" not in out
    key_file = load_settings(root).audit_mac_key
    assert key_file is not None and key_file.is_absolute()
    data_home = Path(os.environ["XDG_DATA_HOME"])
    assert key_file.parent == data_home / "leadguard" / "audit-keys"
    assert not key_file.resolve().is_relative_to(root.resolve())
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(key_file.parent.stat().st_mode) == 0o700
    assert key_file.name.startswith("ws-")

    code, out = _run("audit", "verify", "-w", str(root))
    assert code == 0 and "authentication codes:" in out and "checked with key" in out
    seq = _forge_head(root)
    code, out = _run("audit", "verify", "-w", str(root))
    assert code == 1 and "audit log NOT proven" in out
    assert f"entry {seq}" in out and "without an authentication code" in out

    keys = set(key_file.parent.iterdir())
    code, out = _run("init", str(root))  # again: the same key, no second one
    assert code == 0 and "audit log keyed already" in out
    assert load_settings(root).audit_mac_key == key_file
    assert set(key_file.parent.iterdir()) == keys


def test_two_workspaces_of_one_name_get_two_keys(tmp_path: Path) -> None:
    for parent in ("a", "b"):
        assert _run("init", str(tmp_path / parent / "ws"))[0] == 0
    one = load_settings(tmp_path / "a" / "ws").audit_mac_key
    two = load_settings(tmp_path / "b" / "ws").audit_mac_key
    assert one is not None and two is not None and one != two
    assert one.read_text() != two.read_text()


def test_init_with_a_named_key_or_none(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.mkdir(mode=0o700)
    code, out = _run("init", str(tmp_path / "named"), "--audit-key", str(keys / "k.key"))
    assert code == 0 and str(keys / "k.key") in out.replace("\n", "")
    assert load_settings(tmp_path / "named").audit_mac_key == keys / "k.key"

    code, out = _run("init", str(tmp_path / "plain"), "--no-audit-key")
    assert code == 0 and "audit log NOT keyed (--no-audit-key)" in out
    assert "leadguard audit key --key FILE" in out
    assert load_settings(tmp_path / "plain").audit_mac_key is None
    seq = _forge_head(tmp_path / "plain")  # unkeyed: the chain alone cannot tell
    code, out = _run("audit", "verify", "-w", str(tmp_path / "plain"))
    assert code == 0 and f"{seq} entries" in out


def test_a_bad_key_choice_is_refused_before_the_workspace_is_made(tmp_path: Path) -> None:
    for args, said in (
        (["--audit-key", "rel.key"], "give an absolute path"),
        (["--audit-key", str(tmp_path / "ws" / "in.key")], "inside the workspace"),
        (["--audit-key", str(tmp_path / "k.key"), "--no-audit-key"], "not both"),
    ):
        code, out = _run("init", str(tmp_path / "ws"), *args)
        assert code == 2 and said in out and "Traceback" not in out, out
        assert not (tmp_path / "ws").exists()


def test_a_data_folder_that_cannot_be_made_is_said(tmp_path: Path, monkeypatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("XDG_DATA_HOME", str(blocker))
    result = CliRunner().invoke(app, ["init", str(tmp_path / "ws")], env=ENV)
    assert result.exit_code == 2 and "cannot make the folder for the audit key" in result.output
    assert "--audit-key FILE" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "ws").exists()  # refused before anything was made


def test_a_workspace_with_accounts_is_left_to_an_admin(tmp_path: Path, monkeypatch) -> None:
    cheap_hashing(monkeypatch)
    ctx = Context(Workspace.init(tmp_path / "ws"))
    try:
        accounts.add_user(ctx, None, "admin", PW, "admin")
        assert key_new_workspace(ctx) is None
        assert ctx.settings.audit_mac_key is None
    finally:
        ctx.close()
    code, out = _run("init", str(tmp_path / "ws"))
    assert code == 0 and "audit log NOT keyed (the workspace has accounts)" in out


def test_a_key_file_that_cannot_be_used_is_refused_before_anything_is_made(
    tmp_path: Path,
) -> None:
    """A red-team pass: such a refusal left a workspace made, unkeyed, without its policy."""
    plain = tmp_path / "plain.txt"
    plain.write_text("not a key")
    plain.chmod(0o600)
    for key, said in (
        (plain, "is not a LeadGuard audit key"),
        (tmp_path, "is not a plain file"),
        (tmp_path / "missing" / "k.key", "does not exist"),
    ):
        code, out = _run("init", str(tmp_path / "ws"), "--audit-key", str(key))
        assert code == 2 and said in out and "Traceback" not in out, out
        assert not (tmp_path / "ws").exists()


def test_a_key_path_with_control_characters_is_refused(tmp_path: Path) -> None:
    code, out = _run("init", str(tmp_path / "ws"), "--audit-key", str(tmp_path / "a\nb.key"))
    assert code == 2 and "control characters" in out and "Traceback" not in out
    assert not (tmp_path / "ws").exists() and not (tmp_path / "a\nb.key").exists()
