"""`leadguard models ...`: the registered face models, their evaluations and acceptance;
`leadguard gallery reembed`: move a gallery to another model's embedding space."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.table import Table

from leadguard.cli import casework, render
from leadguard.cli.common import WorkspaceOpt, handles_errors, open_ws, out
from leadguard.errors import InputError

models_app = typer.Typer(
    help="Face models: embedding spaces, evaluations, acceptance.", no_args_is_help=True
)


def _pct(x: Any) -> str:
    return "-" if x is None else f"{100 * float(x):.2f} %"


def _row(name: str, origin: str, chosen: bool, ws: Any) -> dict[str, Any]:
    from leadguard import models_gate
    from leadguard.backends import create_model
    from leadguard.errors import LeadGuardError

    settings = ws.settings.model_copy(update={"face_model": name})
    try:
        space = create_model(settings).space
    except LeadGuardError as exc:
        return {"model": name, "origin": origin, "chosen": chosen, "unavailable": str(exc)}
    with ws.session() as s:
        ev = models_gate.evaluation(s, space.key)
        acc = models_gate.acceptance(s, space.key)
    return {
        "model": name,
        "origin": origin,
        "chosen": chosen,
        "space": space.to_dict(),
        "evaluation": {
            "records": ev.records,
            "numbers": ev.numbers,
            "missing": list(ev.problems),
            "missing_protocols": [p for p in models_gate.REQUIRED if p not in ev.records],
        },
        "acceptance": None
        if acc is None
        else {
            "source": acc.source,
            "accepted_by": acc.accepted_by,
            "at": acc.at.isoformat() if acc.at else None,
            "id": acc.id,
            "note": acc.note,
        },
        "open_set_search": acc is not None,
    }


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
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Each registered face model: its embedding space, evaluation records and acceptance."""
    from leadguard.backends.registry import registered, resolve

    ws = open_ws(workspace)
    chosen = resolve(ws.settings.face_model).name
    rows = [_row(r.name, r.origin, r.name == chosen, ws) for r in registered().values()]
    if as_json:
        out().print_json(json.dumps(rows, default=str))
        return
    table = Table(title="Face models (the setting face_model chooses; * = chosen)")
    for col in ("model", "space", "LFW View 2", "BLUFR FNIR@FPIR1%", "worst-group FMR",
                "missing", "acceptance"):
        table.add_column(col)
    for r in rows:
        name = r["model"] + (" *" if r["chosen"] else "") + f"\n({r['origin']})"
        if "unavailable" in r:
            table.add_row(name, "-", "-", "-", "-", r["unavailable"], "-")
            continue
        sp, num = r["space"], r["evaluation"]["numbers"]
        group = num.get("per_group", {})
        worst = (
            f"{_pct(group.get('worst_group_fmr'))} ({group.get('worst_group')})" if group else "-"
        )
        acc = r["acceptance"]
        accepted = "none: open-set search refused" if acc is None else (
            f"{acc['source']}: {acc['accepted_by']}" + (f" at {acc['at']}" if acc["at"] else "")
        )
        table.add_row(
            name,
            f"{sp['key']}\n{sp['model_name']}",
            _pct(num.get("lfw_view2_accuracy")),
            _pct(num.get("blufr_fnir_at_fpir_0.01")),
            worst,
            _missing(r["evaluation"]),
            accepted,
        )
    out().print(table)


@models_app.command("accept")
@handles_errors
def models_accept(
    name: Annotated[str, typer.Argument(help="Registered face model name.")],
    workspace: WorkspaceOpt = None,
    user: casework.UserOpt = None,
    note: Annotated[str, typer.Option(help="Why, and on what authority.")] = "",
) -> None:
    """Accept a model's evaluated embedding space for open-set search (administrator;
    refused unless LFW View 2, BLUFR, per-group FMR and a validated evidence model are
    recorded for it). Stored with its numbers and audited."""
    from leadguard import models_gate
    from leadguard.backends import create_model
    from leadguard.backends.registry import resolve

    ws = open_ws(workspace)
    found = resolve(name)
    if not user:
        raise InputError("accepting a face model needs an administrator's login (--user)")
    account = casework.login_if(ws, user)
    space = create_model(ws.settings.model_copy(update={"face_model": found.name})).space
    with ws.session() as s:
        acc = models_gate.accept(s, space, found.name, account.username, account.role, note)
    out().print(
        f"accepted face model {found.name} (space {space.key}) for open-set search; "
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
    from leadguard.reembed import reembed

    ws = open_ws(workspace, workers=workers)
    console = out()
    try:
        with render.enroll_progress(console) as progress:
            report = reembed(ws, model, progress=progress, retry_failed=retry_failed)
    except KeyboardInterrupt:
        console.print("[yellow]interrupted: work committed so far is kept; re-run to resume[/]")
        raise typer.Exit(130) from None
    render.enroll_report(console, report)
    console.print(
        f"space {report.space_key} now holds the re-embedded gallery; the other space is kept. "
        "It searches open-set once accepted (leadguard models accept) and chosen "
        "(face_model setting)."
    )
