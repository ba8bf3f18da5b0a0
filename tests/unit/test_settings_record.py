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
from leadguard.core.errors import InputError, WorkspaceError
from leadguard.quality.gate import shipped_policy_bytes
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
    Context.open(tmp_path / "ws").close()
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
        ("target_fpir = 0.05", "target_fpir"),
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
    if key == "quality_policy":  # a file that parses (settings set refuses one that does not)
        (root / "my-lenient-policy.json").write_bytes(shipped_policy_bytes())
    found = settings_problems(root)
    assert len(found) == 1, found  # a policy path edited: the path alone
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
    (root / "qp.json").write_bytes(shipped_policy_bytes())
    ctx = Context.open(root)
    admin = accounts.login(ctx, "admin", PW).actor
    set_setting(ctx, admin, "quality_policy", "qp.json")  # records the file's digest
    ctx.close()
    Context.open(root).close()
    assert settings_problems(root) == []
    (root / "qp.json").write_bytes(shipped_policy_bytes() + b"\n# edited\n")  # edited in place
    found = settings_problems(root)
    assert len(found) == 1 and found[0].startswith("the quality policy file qp.json has SHA-256")
    with pytest.raises(WorkspaceError, match=r"quality policy file qp\.json"):
        Context.open(root)
    ctx = Context.open(root, check_settings=False)
    admin = accounts.login(ctx, "admin", PW).actor
    set_setting(ctx, admin, "quality_policy", "qp.json")  # an admin who read it records it
    ctx.close()
    assert settings_problems(root) == []


def test_the_commands_say_so_without_a_traceback(root: Path, tmp_path: Path) -> None:
    edit(root, "target_fpir = 0.05")
    runner = CliRunner(env={"XDG_CONFIG_HOME": str(tmp_path / "cfg"), "COLUMNS": "80"})
    stats = runner.invoke(app, ["gallery", "stats", "-w", str(root)])
    assert stats.exit_code != 0 and "target_fpir" in stats.output
    assert "Traceback" not in stats.output and "\\x0a" not in stats.output
    assert all(len(line) <= 80 for line in stats.output.splitlines())  # a finding a line
    assert "  - leadguard.toml: target_fpir = 0.05" in stats.output
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
    edit(tmp_path / "ws", "target_fpir = 0.05")
    Context.open(tmp_path / "ws").close()


def test_the_first_account_records_the_baseline(tmp_path: Path, monkeypatch) -> None:
    """A fresh workspace: the file edited between the first account and the first open is
    not adopted (the baseline was written with the account)."""
    ctx = north_desk(tmp_path / "ws", monkeypatch)
    ctx.close()
    edit(tmp_path / "ws", "top_k = 200")
    with pytest.raises(WorkspaceError, match="top_k"):
        Context.open(tmp_path / "ws")


def _sql(root: Path, statement: str) -> None:
    from sqlalchemy import text

    ctx = Context.open(root, check_settings=False)
    with ctx.ws.engine.begin() as conn:
        assert conn.execute(text(statement)).rowcount >= 1
    ctx.close()


def test_settings_entries_the_chain_no_longer_vouches_for_are_not_trusted(root: Path) -> None:
    # an insider rewrites the recorded value in the entry (its hash left as it was)
    _sql(
        root,
        "UPDATE audit_log SET details = replace(details, '\"new\": 7', '\"new\": 200') "
        "WHERE action = 'settings.set'",
    )
    path = root / SETTINGS_FILE
    path.write_text(path.read_text().replace("top_k = 7", "top_k = 200"))
    found = settings_problems(root)
    assert len(found) == 1 and "cannot be checked" in found[0] and "was altered" in found[0]
    with pytest.raises(WorkspaceError, match="cannot be checked"):
        Context.open(root)


def test_deleted_settings_entries_are_not_replaced_by_a_new_baseline(root: Path) -> None:
    _sql(root, "DELETE FROM audit_log WHERE action IN ('settings.baseline', 'settings.set')")
    edit(root, "target_fpir = 0.03")
    with pytest.raises(WorkspaceError, match="missing entries"):
        Context.open(root)  # refused, and nothing adopted
    assert any("missing entries" in p for p in settings_problems(root))


def test_settings_set_refuses_a_layout_it_cannot_edit_safely(root: Path) -> None:
    path = root / SETTINGS_FILE
    path.write_text(path.read_text().replace("top_k = 7", '"top_k" = 7'))
    before = path.read_text()
    ctx = Context.open(root, check_settings=False)
    admin = accounts.login(ctx, "admin", PW).actor
    with pytest.raises(InputError, match="cannot edit safely"):
        set_setting(ctx, admin, "top_k", "9")
    ctx.close()
    assert path.read_text() == before  # nothing written, nothing recorded
    assert settings_problems(root) == []


def test_a_negative_value_is_a_value_not_an_option(root: Path, tmp_path: Path) -> None:
    runner = CliRunner(env={"XDG_CONFIG_HOME": str(tmp_path / "cfg")})
    inp = PW + "\n"
    assert (
        runner.invoke(
            app, ["login", "admin", "--password-stdin", "-w", str(root)], input=inp
        ).exit_code
        == 0
    )
    r = runner.invoke(app, ["settings", "set", "detector_fallback_adjust", "-0.3", "-w", str(root)])
    assert r.exit_code == 0, r.output
    assert "detector_fallback_adjust: " in r.output and "-> -0.3" in r.output


def test_an_unreadable_policy_file_is_said_so(root: Path) -> None:
    (root / "qp.json").write_bytes(shipped_policy_bytes())
    ctx = Context.open(root)
    set_setting(ctx, accounts.login(ctx, "admin", PW).actor, "quality_policy", "qp.json")
    ctx.close()
    (root / "qp.json").unlink()
    found = settings_problems(root)
    assert len(found) == 1 and "qp.json is unreadable" in found[0] and "not SHA-256" in found[0]
