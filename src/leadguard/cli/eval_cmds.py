"""`leadguard eval`: accuracy, evidence, quality and group-tail evaluations, each through one
service of ``services.evaluation`` (an admin's in a workspace with accounts), each storing an
accuracy record and a report."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from leadguard.cli import eval_tails, render, session
from leadguard.cli import progress as progress_bars
from leadguard.cli.common import WorkspaceOpt, handles_errors, open_ctx
from leadguard.cli.common import out as _out
from leadguard.services import evaluation
from leadguard.services.context import Actor, Context

eval_app = typer.Typer(
    help="Measure accuracy (NIST terms) and store accuracy records.", no_args_is_help=True
)


OutOpt = Annotated[
    Path | None,
    typer.Option("--out", help="Report folder (default: a new one in the workspace's reports)."),
]


def _run_eval(
    workspace: Path | None,
    label: str,
    run: Callable[[Context, Actor | None, Callable[[int, int], None]], Any],
    summary: Callable[[Console, dict[str, Any]], None],
) -> None:
    """An evaluation command: one service of ``services.evaluation`` with a progress bar,
    then the summary and where the report and record went."""
    ctx = open_ctx(workspace)
    actor = session.actor(ctx)
    with progress_bars.task_progress(_out(), label) as progress:
        result = run(ctx, actor, progress)
    summary(_out(), result.metrics)
    _eval_done(result)


def _eval_done(result: Any) -> None:
    console = _out()
    console.print(
        f"accuracy record {result.record_id} stored; report: {result.report_dir / 'report.html'}"
    )


@eval_app.command("verify")
@handles_errors
def eval_verify(
    protocol: Annotated[str, typer.Option(help="Verification protocol.")] = "lfw-pairs",
    data: Annotated[Path, typer.Option(help="LFW folder.")] = Path("../shared/datasets/lfw"),
    workspace: WorkspaceOpt = None,
    out: OutOpt = None,
) -> None:
    """LFW View 2: 10-fold accuracy, ROC/DET, EER, FNMR at FMR 1e-2/1e-3/1e-4."""
    if protocol != "lfw-pairs":
        raise typer.BadParameter("only lfw-pairs is available", param_hint="--protocol")
    _run_eval(
        workspace,
        "templates",
        lambda ctx, actor, progress: evaluation.verify_lfw(ctx, actor, data, out, progress),
        render.verification_summary,
    )


@eval_app.command("identify")
@handles_errors
def eval_identify(
    protocol: Annotated[str, typer.Option(help="Identification protocol.")] = "blufr",
    data: Annotated[Path, typer.Option(help="LFW folder.")] = Path("../shared/datasets/lfw"),
    splits: Annotated[
        list[int] | None, typer.Option("--split", help="Only these splits (repeatable).")
    ] = None,
    workspace: WorkspaceOpt = None,
    out: OutOpt = None,
) -> None:
    """BLUFR open-set 1:N: CMC rank 1/5/20 and FNIR at FPIR 0.01/0.001 over the splits."""
    if protocol != "blufr":
        raise typer.BadParameter("only blufr is available", param_hint="--protocol")
    _run_eval(
        workspace,
        "templates",
        lambda ctx, actor, progress: evaluation.identify_blufr(
            ctx, actor, data, out, splits or None, progress
        ),
        render.identification_summary,
    )


@eval_app.command("manifest")
@handles_errors
def eval_manifest(
    manifest: Annotated[Path, typer.Argument(help="CSV: path,identity[,sex,race,age].")],
    workspace: WorkspaceOpt = None,
    out: OutOpt = None,
    nonmated: Annotated[int, typer.Option(help="Random non-mated pairs.")] = 20000,
    within_group: Annotated[int, typer.Option(help="Non-mated pairs inside each group.")] = 5000,
    fmr: Annotated[float, typer.Option(help="Overall FMR that fixes the threshold.")] = 1e-3,
    seed: Annotated[int, typer.Option(help="Seed for the non-mated sample.")] = 0,
) -> None:
    """All mated pairs, seeded non-mated pairs, per-group FMR/FNMR at one threshold."""
    _run_eval(
        workspace,
        "templates",
        lambda ctx, actor, progress: evaluation.evaluate_manifest(
            ctx, actor, manifest, out, nonmated, within_group, fmr, seed, progress
        ),
        render.verification_summary,
    )


@eval_app.command("evidence")
@handles_errors
def eval_evidence(
    manifest: Annotated[
        Path | None, typer.Argument(help="CSV: path,identity[,sex,race,age].")
    ] = None,
    workspace: WorkspaceOpt = None,
    out: OutOpt = None,
    blufr: Annotated[
        Path | None, typer.Option(help="LFW folder with protocols/blufr: also validate on BLUFR.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the identity split and samples.")] = 0,
    bootstraps: Annotated[int, typer.Option(min=2, help="Bootstrap refits for intervals.")] = 200,
    repeats: Annotated[int, typer.Option(min=1, help="Gallery draws per validation size.")] = 20,
    gallery: Annotated[
        bool, typer.Option(help="Fit on the workspace's own enrolled gallery (no manifest).")
    ] = False,
    searches: Annotated[
        bool,
        typer.Option(
            help="Fit nothing: run open-set searches of the manifest's people (BLUFR with "
            "--blufr, else each photo against the others) and compare the per-search fit with "
            "the gallery-size threshold."
        ),
    ] = False,
    flag_with: Annotated[
        str | None,
        typer.Option(
            help="With --searches, no --blufr: a second face model (e.g. dlib-resnet) whose "
            "own 1-in-10,000 stranger score on a top hit flags a probable same person."
        ),
    ] = None,
) -> None:
    """Fit the evidence model (FMR by score, by group; open-set thresholds; likelihood ratios)
    on half of the people in a labelled dataset (or the gallery) and validate on the rest."""
    if (manifest is None) == (not gallery):
        raise typer.BadParameter("give a manifest, or --gallery, but not both")
    if searches and manifest is None:
        raise typer.BadParameter("--searches needs a manifest")
    if flag_with is not None and not searches:
        raise typer.BadParameter("--flag-with needs --searches")
    if searches:
        assert manifest is not None
        _run_eval(
            workspace,
            "templates",
            lambda ctx, actor, progress: evaluation.check_searches(
                ctx, actor, manifest, blufr, out, seed, progress, flag_with
            ),
            render.search_check_summary,
        )
        return
    _run_eval(
        workspace,
        "templates",
        lambda ctx, actor, progress: evaluation.fit_evidence(
            ctx, actor, manifest, blufr, out, seed, bootstraps, repeats, progress
        ),
        render.evidence_summary,
    )


@eval_app.command("quality")
@handles_errors
def eval_quality(
    data: Annotated[Path, typer.Option(help="LFW folder (images/, manifest.csv, protocols/).")],
    workspace: WorkspaceOpt = None,
    out: OutOpt = None,
    people: Annotated[int, typer.Option(min=2, help="Held-out people for degradations.")] = 150,
    seed: Annotated[int, typer.Option(help="Seed of the identity split and samples.")] = 0,
) -> None:
    """Quality measures on LFW View 2: unified score, error-versus-discard, controlled
    degradations, and a policy file with the floors and bands they support."""
    _run_eval(
        workspace,
        "quality measures",
        lambda ctx, actor, progress: evaluation.quality_study(
            ctx, actor, data, out, seed, people, progress
        ),
        render.quality_study,
    )


eval_tails.register(eval_app, _run_eval)


@eval_app.command("clear-cache")
@handles_errors
def eval_clear_cache(
    space: Annotated[
        str | None,
        typer.Option(help="Embedding space key (default: the workspace's face model's)."),
    ] = None,
    workspace: WorkspaceOpt = None,
) -> None:
    """Discard a space's cached evaluation templates (audited); the next evaluation
    computes them again. The remedy where an evaluation refuses a changed cache."""
    ctx = open_ctx(workspace)
    key, n = evaluation.clear_cache(ctx, session.actor(ctx), space)
    _out().print(f"evaluation cache of space {key}: {n} cached templates discarded (audited)")


@eval_app.command("records")
@handles_errors
def eval_records(workspace: WorkspaceOpt = None) -> None:
    """List the accuracy records stored in the workspace."""
    from leadguard.services.gallery import accuracy_records

    ctx = open_ctx(workspace)
    rows = [
        (r.id, r.created_at, r.protocol, r.space_key, r.dataset, r.report_dir)
        for r in accuracy_records(ctx, session.actor(ctx))
    ]
    render.records(_out(), rows)
