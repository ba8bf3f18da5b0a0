"""`leadguard models ...`: the registered face models, their evaluations and acceptance;
`leadguard gallery reembed`: move a gallery to another model's embedding space."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from leadguard.cli import progress as progress_bars
from leadguard.cli import render, session
from leadguard.cli.common import JsonOpt, WorkspaceOpt, handles_errors, open_ctx, out

models_app = typer.Typer(
    help="Face models: embedding spaces, evaluations, acceptance.", no_args_is_help=True
)


def _pct(x: Any) -> str:
    return "-" if x is None else f"{100 * float(x):.2f} %"


def _missing(ev: dict[str, Any]) -> str:
    if not ev["missing"]:
        return "nothing"
    parts = list(ev["missing_protocols"])
    other = len(ev["missing"]) - len(parts)
    if other:
        parts.append(f"{other} check(s) failed (--json)")
    return ", ".join(parts)


@models_app.command("list")
@handles_errors
def models_list(
    workspace: WorkspaceOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Each registered face model: its embedding space, evaluation records and acceptance."""
    import dataclasses

    from leadguard.services.models import list_models

    ctx = open_ctx(workspace)
    rows = [
        {**dataclasses.asdict(m), "open_set_search": m.open_set_search}
        for m in list_models(ctx, session.actor(ctx))
    ]
    if json_out:
        out().print_json(json.dumps(rows, default=str))
        return
    show_models(out(), rows)


def show_models(console: Console, rows: list[dict[str, Any]]) -> None:
    """One block per model, one fact a line: readable at 80 columns (a seven-column table
    cut every cell); nothing is shortened, long values wrap under their label."""
    console.print("[bold]Face models[/] (the setting face_model chooses; * = chosen)")
    default = next((r for r in rows if r["default"]), None)
    if default is not None:
        console.print(
            f"default for new workspaces: [bold]{render.safe(default['model'])}[/]: "
            f"{render.safe(default['default_reason'])}"
        )
    for r in rows:
        table = Table(show_header=False, box=None, padding=(0, 1), pad_edge=False)
        table.add_column("what", no_wrap=True, style="dim")
        table.add_column("value", overflow="fold")
        name = r["model"] + (" *" if r["chosen"] else "") + (" (default)" if r["default"] else "")
        console.print(f"\n[bold]{render.safe(name)}[/] ({render.safe(r['origin'])})")
        if r["unavailable"]:
            table.add_row("unavailable", render.safe(r["unavailable"]))
            console.print(table)
            continue
        sp, num = r["space"], r["evaluation"]["numbers"]
        group = num.get("per_group", {})
        worst = (
            f"{_pct(group.get('worst_group_fmr'))} ({group.get('worst_group')})" if group else "-"
        )
        acc = r["acceptance"]
        accepted = (
            "none: open-set search refused"
            if acc is None
            else (
                f"{acc['source']}: {acc['accepted_by']}" + (f" at {acc['at']}" if acc["at"] else "")
            )
        )
        table.add_row("embedding space", render.safe(sp["key"]))
        table.add_row("model file", render.safe(sp["model_name"]))
        table.add_row("LFW View 2 accuracy", _pct(num.get("lfw_view2_accuracy")))
        table.add_row("BLUFR FNIR at FPIR 1%", _pct(num.get("blufr_fnir_at_fpir_0.01")))
        table.add_row("worst-group FMR", render.safe(worst))
        table.add_row("evaluations missing", render.safe(_missing(r["evaluation"])))
        table.add_row("acceptance", render.safe(accepted))
        console.print(table)


@models_app.command("accept")
@handles_errors
def models_accept(
    name: Annotated[str, typer.Argument(help="Registered face model name.")],
    workspace: WorkspaceOpt = None,
    note: Annotated[str, typer.Option(help="Why, and on what authority.")] = "",
) -> None:
    """Accept a model's evaluated embedding space for open-set search (administrator;
    refused unless LFW View 2, BLUFR, per-group FMR and a validated evidence model are
    recorded for it). Stored with its numbers and audited."""
    from leadguard.services.models import accept_model

    ctx = open_ctx(workspace)
    acc = accept_model(ctx, session.actor(ctx), name, note)
    out().print(
        f"accepted face model {acc.model} (space {acc.space_key}) for open-set search; "
        f"acceptance {acc.id} by {acc.accepted_by}, audited"
    )
    out().print_json(json.dumps(acc.evaluation, default=str))


@handles_errors
def gallery_reembed(
    model: Annotated[str, typer.Option("--model", help="Registered face model name.")],
    workspace: WorkspaceOpt = None,
    workers: Annotated[int | None, typer.Option(help="Worker processes (0 = all cores).")] = None,
    retry_failed: Annotated[
        bool, typer.Option(help="Try again images that failed in an earlier run.")
    ] = False,
) -> None:
    """Enroll every gallery image again, from its stored source file, in another model's
    embedding space. Resumable; the current space's templates are kept."""
    from leadguard.services.models import reembed_gallery

    ctx = open_ctx(workspace, workers=workers)
    console = out()
    try:
        with progress_bars.enroll_progress(console) as progress:
            report = reembed_gallery(
                ctx, session.actor(ctx), model, progress=progress, retry_failed=retry_failed
            )
    except KeyboardInterrupt:
        console.print("[yellow]interrupted: work committed so far is kept; re-run to resume[/]")
        raise typer.Exit(130) from None
    render.enroll_report(console, report)
    console.print(
        f"space {report.space_key} now holds the re-embedded gallery; the other space is kept. "
        "It searches open-set once accepted (leadguard models accept) and chosen "
        "(face_model setting)."
    )
