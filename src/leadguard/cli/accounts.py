"""Login sessions and workspace settings: ``login``, ``logout``, ``passwd``, ``settings set``.
A password is read from a hidden prompt or stdin, never from the command line."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from leadguard.cli import session
from leadguard.cli.common import WorkspaceOpt, as_user, handles_errors, open_ctx, out
from leadguard.cli.render import safe
from leadguard.core.errors import InputError
from leadguard.services.context import Actor, Context

settings_app = typer.Typer(help="Workspace settings (admin, audited).", no_args_is_help=True)
StdinOpt = Annotated[
    bool, typer.Option("--password-stdin", help="Read the password(s) from stdin, one a line.")
]


def read_password(prompt: str, stdin: bool, confirm: bool = False) -> str:
    if stdin:
        line = sys.stdin.readline().rstrip("\n")
        if not line:
            raise InputError("no password on stdin")
        return line
    return str(typer.prompt(prompt, hide_input=True, confirmation_prompt=confirm))


@handles_errors
def login(
    username: Annotated[str, typer.Argument()],
    workspace: WorkspaceOpt = None,
    password_stdin: StdinOpt = False,
) -> None:
    """Log in: a short-lived, revocable token kept (mode 0600) in your config folder."""
    from leadguard.services.accounts import login as do_login

    ctx = open_ctx(workspace, check_settings=False)  # an admin logs in to mend the settings
    password = read_password(f"password for {username}", password_stdin)
    result = do_login(ctx, username, password)
    where = session.save_token(ctx, result.token)
    out().print(
        f"logged in as {username} ({result.actor.role}) until "
        f"{result.expires_at:%Y-%m-%d %H:%M} UTC; token in {where}"
    )


@handles_errors
def logout(workspace: WorkspaceOpt = None) -> None:
    """Revoke this workspace's login token and forget it."""
    from leadguard.services.accounts import logout as do_logout

    ctx = open_ctx(workspace, check_settings=False)
    token = session.forget(ctx)
    if token is None:
        out().print("not logged in to this workspace: nothing to revoke")
        return
    do_logout(ctx, token)
    out().print("logged out")


@as_user("user.password")
def passwd(
    ctx: Context, actor: Actor, workspace: WorkspaceOpt = None, password_stdin: StdinOpt = False
) -> None:
    """Change your password; every login of yours is revoked (log in again)."""
    from leadguard.services.accounts import change_password

    old = read_password("current password", password_stdin)
    new = read_password("new password", password_stdin, confirm=not password_stdin)
    change_password(ctx, actor, old, new)
    session.forget(ctx)
    out().print("password changed; log in again")


@settings_app.command("set", context_settings={"ignore_unknown_options": True})
@handles_errors
def settings_set(
    key: Annotated[str, typer.Argument()],
    value: Annotated[str, typer.Argument()],
    workspace: WorkspaceOpt = None,
) -> None:
    """Change a workspace setting (admin); the audit log records the old and new value.
    Before a workspace's first account no login is needed (its set-up)."""
    from leadguard.services.settings import set_setting

    ctx = open_ctx(workspace, check_settings=False)  # how a value edited by hand is recorded
    who = session.require(ctx, "settings.set") if ctx.has_accounts() else None
    change = set_setting(ctx, who, key, value)

    def shown(v: object) -> str:  # as the settings file writes it: 0.01, true, "qp.toml"
        return json.dumps(v, default=str)

    out().print(f"{change.key}: {safe(shown(change.old))} -> {safe(shown(change.new))}")
    out().print("(a running `leadguard serve` read its settings when it started: restart it)")
    if who is None:
        out().print(
            "(no accounts yet: set without a login, audited; once `leadguard user add` has "
            "made the first admin, settings need that admin's login)"
        )


@settings_app.command("adopt-policy")
@as_user("settings.set")
def settings_adopt_policy(ctx: Context, actor: Actor, workspace: WorkspaceOpt = None) -> None:
    """Adopt the casework policy file in force (admin): the audit log records its digest
    and content; a policy file changed afterwards is refused until adopted again."""
    from leadguard.services.settings import adopt_policy

    done = adopt_policy(ctx, actor)
    before = f" (replacing {done.previous_sha256[:12]}...)" if done.previous_sha256 else ""
    out().print(
        f"casework policy adopted: {done.source}, SHA-256 {done.sha256}{before}; "
        f"audit entry {done.seq}"
    )
