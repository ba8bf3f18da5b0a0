"""What every command module shares: the workspace option, error handling, consoles."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from leadguard.cli.render import safe
from leadguard.core.errors import LeadGuardError, SeveralFaces
from leadguard.pipeline.compose import detection_lines
from leadguard.services.context import Context
from leadguard.storage.workspace import Workspace, resolve_path

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
    """Turn LeadGuard errors into a clear message and exit status 2."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except SeveralFaces as exc:
            console = err()
            console.print(
                f"[red]error:[/red] {safe(exc.source)}: {len(exc.detections)} faces in the image.",
                soft_wrap=True,
            )
            for line in detection_lines(exc.detections):
                console.print(f"  {line}")
            console.print("Choose one with --face I.")
            raise typer.Exit(EXIT_INPUT) from exc
        except LeadGuardError as exc:
            err().print(f"[red]error:[/red] {safe(exc)}", highlight=False, soft_wrap=True)
            raise typer.Exit(EXIT_INPUT) from exc

    return wrapper  # type: ignore[return-value]


def open_ws(workspace: Path | None, **overrides: Any) -> Workspace:
    return Workspace.open(resolve_path(workspace), **overrides)


def open_ctx(workspace: Path | None, **overrides: Any) -> Context:
    """The services' context for a workspace (safeguard environment overrides refused)."""
    return Context.open(resolve_path(workspace), **overrides)
