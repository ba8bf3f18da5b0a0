"""What every command module shares: the workspace option, error handling, consoles, and
``as_user``, the one door of a command that acts as the logged-in user."""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from leadguard.cli.render import safe
from leadguard.core.errors import FindingsError, InputError, LeadGuardError, SeveralFaces
from leadguard.core.files import read_bounded
from leadguard.core.serialize import error_dict
from leadguard.core.textsafe import shown_path
from leadguard.pipeline.compose import detection_lines
from leadguard.services.context import Actor, Context
from leadguard.storage.workspace import resolve_path

WorkspaceOpt = Annotated[
    Path | None,
    typer.Option(
        "--workspace",
        "-w",
        help="Workspace folder (default: $LEADGUARD_WORKSPACE, else the current directory).",
    ),
]

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]

F = TypeVar("F", bound=Callable[..., Any])
EXIT_INPUT = 2


def out() -> Console:
    return Console()


def err() -> Console:
    return Console(stderr=True)


def handles_errors(fn: F) -> F:
    """Turn LeadGuard errors into a clear message and exit status 2; a command asked for
    ``--json`` also prints the error as JSON on stdout (its result's place)."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except LeadGuardError as exc:
            if kwargs.get("json_out"):
                typer.echo(json.dumps(error_dict(exc), indent=2))
            _explain(exc)
            raise typer.Exit(EXIT_INPUT) from exc

    return wrapper  # type: ignore[return-value]


def _explain(exc: LeadGuardError) -> None:
    """The error for a person, on stderr: the faces found when there were several, a line
    each for a check's findings (wrapped at the terminal's width)."""
    console = err()
    if isinstance(exc, SeveralFaces):
        console.print(
            f"[red]error:[/red] {safe(exc.source)}: {len(exc.detections)} faces in the image.",
            soft_wrap=True,
        )
        for line in detection_lines(exc.detections):
            console.print(f"  {line}")
        console.print("Choose one with --face I.")
    elif isinstance(exc, FindingsError):
        console.print(f"[red]error:[/red] {safe(exc.head)}", highlight=False)
        for finding in exc.findings:
            console.print(f"  - {safe(finding)}", highlight=False)
        console.print(safe(exc.remedy), highlight=False)
    else:
        console.print(f"[red]error:[/red] {safe(exc)}", highlight=False, soft_wrap=True)


MAX_JSON_FILE = 1 << 20  # a decisions or answers file: a few KB of written notes


def read_json(path: Path, what: str) -> Any:
    """A JSON file the user wrote (decisions, answers): a regular file of at most 1 MiB
    (``/dev/zero`` or a 50 MB note is refused before it is read), parsed; ``what`` names it
    in the message."""
    where = shown_path(path)
    raw = read_bounded(
        path, MAX_JSON_FILE, lambda why: InputError(f"{where}: cannot read the {what}: {why}")
    )
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{where}: cannot read the {what}: not JSON ({exc})") from None
    except RecursionError:
        raise InputError(f"{where}: cannot read the {what}: nested too deeply") from None


def open_ctx(workspace: Path | None, check_settings: bool = True, **overrides: Any) -> Context:
    """The services' context for a workspace (safeguard environment overrides refused, and a
    settings file whose safeguards the audit log does not record, unless ``check_settings``
    is off: the commands that let an admin log in and set them, and ``audit verify``)."""
    return Context.open(resolve_path(workspace), check_settings, **overrides)


def as_user(action: str, obj: str = "session") -> Callable[[F], F]:
    """The one door of a command that acts as the logged-in user: open the workspace's context
    (``--workspace``), require the login for ``action`` (a missing or expired login is a
    recorded refusal tied to ``obj``, formatted with the command's arguments, e.g.
    ``"case:{number}"``), then call the command with ``ctx`` and ``actor``, which the command
    line does not see. LeadGuard errors become a clear message and exit status 2.

    The service the command calls still authorises the action itself."""
    from leadguard.cli import session

    def decorate(fn: F) -> F:
        full = inspect.signature(fn, eval_str=True)
        shown = [p for name, p in full.parameters.items() if name not in ("ctx", "actor")]
        outside = full.replace(parameters=shown)

        @wraps(fn)
        def command(*args: Any, **kwargs: Any) -> Any:
            bound = outside.bind(*args, **kwargs)
            bound.apply_defaults()
            given = dict(bound.arguments)
            ctx = open_ctx(given.get("workspace"))
            actor: Actor = session.require(ctx, action, obj.format(**given))
            return fn(ctx=ctx, actor=actor, **given)

        command.__signature__ = outside  # type: ignore[attr-defined]
        return handles_errors(command)  # type: ignore[return-value]

    return decorate
