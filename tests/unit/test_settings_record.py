"""A settings file edited behind the audit log's back: in a workspace with accounts, a
safeguard whose value in ``leadguard.toml`` differs from what the log records (the
baseline, then each ``settings set``) is named by ``audit verify`` and refused when the
workspace is opened, until an admin records it; normal use raises no alarm."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from leadguard.cli.main import app
from leadguard.core.config import SETTINGS_FILE
from leadguard.core.errors import WorkspaceError
from leadguard.services import accounts
from leadguard.services.audit import verify
from leadguard.services.context import Context
from leadguard.services.settings import set_setting
from tests.unit.accounts_kit import PW, north_desk


@pytest.fixture()
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    ctx = north_desk(tmp_path / "ws", monkeypatch)
    admin = accounts.login(ctx, "admin", PW).actor
    accounts.add_user(ctx, admin, "aud", PW, "auditor")
    set_setting(ctx, admin, "top_k", "7")  # a change through the door: recorded
    ctx.close()
    Context.open(tmp_path / "ws").close()  # the first open records the baseline
    return tmp_path / "ws"


def edit(root: Path, line: str) -> None:
    path = root / SETTINGS_FILE
    path.write_text(path.read_text().replace("[leadguard]", f"[leadguard]\n{line}", 1))


def settings_problems(root: Path) -> list[str]:
    ctx = Context.open(root, check_settings=False)
    try:
        auditor = accounts.login(ctx, "aud", PW).actor
        return verify(ctx, auditor).settings_problems
    finally:
        ctx.close()


def test_normal_use_and_settings_set_raise_no_alarm(root: Path) -> None:
    assert settings_problems(root) == []
    ctx = Context.open(root)
    assert ctx.settings.top_k == 7
    admin = accounts.login(ctx, "admin", PW).actor
    set_setting(ctx, admin, "login_attempts", "3")
    ctx.close()
    edit(root, 'time_zone = "Europe/Berlin"')  # not a safeguard: the file may say it
    Context.open(root).close()
    assert settings_problems(root) == []


@pytest.mark.parametrize(
    ("line", "key"),
    [
        ("target_fpir = 0.2", "target_fpir"),
        ("login_attempts = 1000", "login_attempts"),
        ('quality_policy = "my-lenient-policy.json"', "quality_policy"),
        ("top_k = 50", "top_k"),  # a value once set through the door, edited afterwards
        ("worst_group_threshold = false", "worst_group_threshold"),
    ],
)
def test_a_safeguard_edited_by_hand_is_named_and_refused_until_set(
    root: Path, line: str, key: str
) -> None:
    if key == "top_k":
        path = root / SETTINGS_FILE
        path.write_text(path.read_text().replace("top_k = 7", line))
    else:
        edit(root, line)
    found = settings_problems(root)
    # a policy path edited: the path, and the file's digest (none recorded for the shipped)
    assert len(found) == (2 if key == "quality_policy" else 1), found
    assert found[0].startswith(f"{SETTINGS_FILE}: {key} = ")
    assert "audit log records" in found[0]
    with pytest.raises(WorkspaceError, match=f"{key}.*leadguard settings set"):
        Context.open(root)
    # the admin logs in (no check) and records the value through the door
    ctx = Context.open(root, check_settings=False)
    admin = accounts.login(ctx, "admin", PW).actor
    value = line.split(" = ", 1)[1].strip('"')
    set_setting(ctx, admin, key, value)
    ctx.close()
    Context.open(root).close()
    assert settings_problems(root) == []


def test_the_quality_policy_file_edited_in_place_is_named(root: Path) -> None:
    (root / "qp.json").write_text('{"version": 1}\n')
    ctx = Context.open(root)
    admin = accounts.login(ctx, "admin", PW).actor
    set_setting(ctx, admin, "quality_policy", "qp.json")  # records the file's digest
    ctx.close()
    Context.open(root).close()
    assert settings_problems(root) == []
    (root / "qp.json").write_text('{"version": 1, "refuse": {}}\n')  # made lenient in place
    found = settings_problems(root)
    assert len(found) == 1 and found[0].startswith("the quality policy file qp.json has SHA-256")
    with pytest.raises(WorkspaceError, match=r"quality policy file qp\.json"):
        Context.open(root)
    ctx = Context.open(root, check_settings=False)
    admin = accounts.login(ctx, "admin", PW).actor
    set_setting(ctx, admin, "quality_policy", "qp.json")  # an admin who read it records it
    ctx.close()
    assert settings_problems(root) == []


def test_the_commands_say_so_without_a_traceback(root: Path) -> None:
    edit(root, "target_fpir = 0.2")
    runner = CliRunner()
    stats = runner.invoke(app, ["gallery", "stats", "-w", str(root)])
    assert stats.exit_code != 0 and "target_fpir" in stats.output
    assert "Traceback" not in stats.output
    inp = PW + "\n"
    login = runner.invoke(app, ["login", "aud", "--password-stdin", "-w", str(root)], input=inp)
    assert login.exit_code == 0, login.output
    checked = runner.invoke(app, ["audit", "verify", "-w", str(root)])
    assert checked.exit_code == 1 and "safeguard settings against the audit log" in checked.output
    assert "target_fpir" in checked.output
    first = runner.invoke(app, ["logout", "-w", str(root)])  # opens without the check too
    assert first.exit_code == 0 and first.output.strip() == "logged out"
    again = runner.invoke(app, ["logout", "-w", str(root)])
    assert again.exit_code == 0 and "nothing to revoke" in again.output


def test_a_workspace_without_accounts_is_not_checked(tmp_path: Path) -> None:
    from leadguard.storage.workspace import Workspace

    Workspace.init(tmp_path / "ws").close()
    edit(tmp_path / "ws", "target_fpir = 0.2")
    Context.open(tmp_path / "ws").close()
