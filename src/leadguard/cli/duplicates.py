"""`leadguard gallery duplicates`: probable duplicates (two subject ids, one face), listed for
the agency to resolve."""

from __future__ import annotations

import json
import math
from typing import Annotated

import typer
from rich.table import Table

from leadguard.cli import render, session
from leadguard.cli.common import JsonOpt, WorkspaceOpt, handles_errors, open_ctx, out

VERDICT_WORDS = {"same": "same person", "different": "different people"}


@handles_errors
def gallery_duplicates(
    workspace: WorkspaceOpt = None,
    resolve: Annotated[
        tuple[str, str] | None,
        typer.Option(help="Resolve this pair of subject ids (give --verdict and --note)."),
    ] = None,
    verdict: Annotated[
        str | None, typer.Option(help="same (same person) or different (different people).")
    ] = None,
    note: Annotated[str, typer.Option(help="How the pair was resolved (kept, audited).")] = "",
    json_out: JsonOpt = False,
) -> None:
    """List pairs of different subject ids whose faces score far above this gallery's
    stranger range (probably one person enrolled twice), and the figures that exclude them;
    with --resolve, record the agency's verdict on one pair (audited)."""
    from leadguard.services.gallery import probable_duplicates, resolve_duplicate

    ctx = open_ctx(workspace)
    actor = session.actor(ctx)
    console = out()
    if resolve is not None:
        if verdict not in VERDICT_WORDS:
            raise typer.BadParameter("--verdict: give same or different", param_hint="--verdict")
        d = resolve_duplicate(ctx, actor, resolve[0], resolve[1], VERDICT_WORDS[verdict], note)
        console.print(
            f"recorded: {render.safe(d.subject_a)} and {render.safe(d.subject_b)} are "
            f"{d.verdict} ({render.safe(d.note)}); "
            + (
                "their pairs are kept out of every stranger figure"
                if d.excluded
                else "their pairs count among the gallery's strangers again"
            )
        )
        return
    figures = probable_duplicates(ctx, actor)
    from leadguard.evidence.gallery_figures import source_line

    if json_out:
        rows = [
            {
                "subject_a": d.subject_a,
                "subject_b": d.subject_b,
                "score": d.score if math.isfinite(d.score) else None,
                "cutoff": d.cutoff if math.isfinite(d.cutoff) else None,
                "range": d.group,
                "expected_stranger_pairs_this_high": d.expected_strangers
                if math.isfinite(d.expected_strangers)
                else None,
                "verdict": d.verdict,
                "note": d.note,
                "excluded_from_stranger_figures": d.excluded,
            }
            for d in figures.duplicates
        ]
        payload = {"statement": source_line(figures), "complete": figures.complete, "pairs": rows}
        console.print_json(json.dumps(payload))
        return
    console.print(render.safe(source_line(figures)), soft_wrap=True)
    if not figures.duplicates:
        console.print("no probable duplicate: no pair of subject ids scores far above the range")
        return
    table = Table(title="Probable duplicates (two subject ids, one face?)", box=None)
    for col in ("subject A", "subject B", "score", "cutoff", "expected strangers", "verdict"):
        table.add_column(col)
    for d in figures.duplicates:
        e = d.expected_strangers
        table.add_row(
            render.safe(d.subject_a),
            render.safe(d.subject_b),
            f"{d.score:.4f}" if math.isfinite(d.score) else "below the kept pairs",
            f"{d.cutoff:.4f} ({render.safe(d.group)})" if math.isfinite(d.cutoff) else "-",
            f"{e:.1e}" if math.isfinite(e) else "-",
            render.safe(d.verdict + (f": {d.note}" if d.note else "")),
        )
    console.print(table)
    console.print(
        "expected strangers: how many pairs of different people this gallery's own stranger "
        "range puts that high; resolve each pair with --resolve A B --verdict same|different "
        "--note TEXT"
    )
