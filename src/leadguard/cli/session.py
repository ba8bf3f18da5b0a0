"""The login token kept for the shell: ``$XDG_CONFIG_HOME/leadguard/sessions.json`` (else
``~/.config/leadguard``), mode 0600, one token per workspace. The database keeps only the
token's SHA-256."""

from __future__ import annotations

import json
import os
from pathlib import Path

from leadguard.core.files import replace_file
from leadguard.services.authz import NotAllowed
from leadguard.services.context import Actor, Context, act_through, record_refusal


def config_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME")
    return (Path(base) if base else Path.home() / ".config") / "leadguard"


def _file() -> Path:
    return config_dir() / "sessions.json"


def _read() -> dict[str, str]:
    try:
        data = json.loads(_file().read_text())
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def _write(data: dict[str, str]) -> None:
    folder = config_dir()
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    # a temporary file of its own, created 0600 (mkstemp): two logins at once never share one
    replace_file(_file(), json.dumps(data).encode())


def save_token(ctx: Context, token: str) -> Path:
    data = _read()
    data[str(ctx.root.resolve())] = token
    _write(data)
    return _file()


def token(ctx: Context) -> str | None:
    return _read().get(str(ctx.root.resolve()))


def forget(ctx: Context) -> str | None:
    data = _read()
    old = data.pop(str(ctx.root.resolve()), None)
    if old is not None:
        _write(data)
    return old


def actor(ctx: Context) -> Actor | None:
    """The logged-in user of this workspace, or None (no login, expired or revoked)."""
    from leadguard.services.accounts import authenticate

    t = token(ctx)
    if t is None or not ctx.has_accounts():
        return None
    try:
        who = authenticate(ctx, t)
    except NotAllowed:
        return None
    act_through(who)  # this command's entries record the login they act through
    return who


def require(ctx: Context, action: str, obj: str = "session") -> Actor:
    """The logged-in user, or a recorded refusal (tied to ``obj``, e.g. ``case:N``)."""
    who = actor(ctx)
    if who is None:
        exc = NotAllowed(
            f"{action} needs a login: run `leadguard login USER` (the login may "
            "have expired or been revoked)"
        )
        record_refusal(ctx, None, action, obj, exc)
        raise exc
    return who
