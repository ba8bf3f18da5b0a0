"""``as_user``: the one door of a command that acts as the logged-in user. The command line
never sees ``ctx`` or ``actor``; without a login the refusal is recorded against the object
built from the command's own arguments, and the command body never runs."""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Annotated

import pytest
import typer
from sqlalchemy import select
from typer.testing import CliRunner

from leadguard.cli import session
from leadguard.cli.common import WorkspaceOpt, as_user
from leadguard.services import accounts
from leadguard.services.context import Actor, Context
from leadguard.storage.tables import AuditEntry
from tests.unit.accounts_kit import PW, north_desk

ran: list[tuple[str, str, int]] = []


@as_user("case.view", "case:{number}")
def show(
    ctx: Context,
    actor: Actor,
    number: Annotated[str, typer.Argument()],
    times: Annotated[int, typer.Option()] = 1,
    workspace: WorkspaceOpt = None,
) -> None:
    ran.append((actor.username, number, times))


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command("show")(show)
    app.command("other")(lambda: None)  # two commands: "show" is a subcommand
    return app


def test_the_command_line_does_not_see_ctx_or_actor() -> None:
    assert list(inspect.signature(show).parameters) == ["number", "times", "workspace"]
    help_text = CliRunner().invoke(_app(), ["show", "--help"]).output
    assert "--times" in help_text and "ctx" not in help_text and "actor" not in help_text


def test_without_a_login_the_refusal_is_recorded_and_nothing_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    ctx = north_desk(tmp_path / "ws", monkeypatch)
    ran.clear()
    r = CliRunner().invoke(_app(), ["show", "C-9", "--workspace", str(tmp_path / "ws")])
    assert r.exit_code == 2 and "needs a login" in r.output and ran == []
    with ctx.session() as s:
        last = s.scalars(select(AuditEntry).order_by(AuditEntry.seq.desc())).first()
    assert last is not None and last.action == "refused" and last.object == "case:C-9"
    assert "case.view" in json.dumps(last.details)


def test_with_a_login_the_command_runs_as_that_user(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    ctx = north_desk(tmp_path / "ws", monkeypatch)
    session.save_token(ctx, accounts.login(ctx, "sup", PW).token)
    ran.clear()
    args = ["show", "C-9", "--times", "3", "--workspace", str(tmp_path / "ws")]
    r = CliRunner().invoke(_app(), args)
    assert r.exit_code == 0, r.output
    assert ran == [("sup", "C-9", 3)]
