"""`leadguard eval tails`: per-group non-mated score tails of the workspace's model and a
second model on a labelled set of strangers (docs/models.md)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from leadguard.cli.common import WorkspaceOpt, handles_errors

RunEval = Callable[..., None]


def _fmt(r: dict[str, Any]) -> str:
    lo, hi = r["ci95"]
    return f"{r['count']}/{r['pairs']} = {r['fmr']:.2e} ({lo:.1e}-{hi:.1e})"


def summary(console: Console, metrics: dict[str, Any]) -> None:
    console.print(
        f"{metrics['images']} images with a template from both models; "
        f"{metrics['pairs_overall']:,} non-mated pairs; failures to acquire "
        f"{metrics['failures_to_acquire']}; {metrics['interval']}"
    )
    for level in metrics["levels"]:
        for name, res in level["models"].items():
            table = Table(
                title=f"{name}: threshold {res['threshold']:.4f} for overall FMR "
                f"{level['target_fmr']:g} ({level['note']})"
            )
            for col in ("group", "FMR within group (95 %)", "flagged", "without flagged"):
                table.add_column(col)
            for g, r in res["groups"].items():
                table.add_row(g, _fmt(r), str(r["flagged_same_person"]), _fmt(r["without_flagged"]))
            console.print(table)
            for label in ("with_flagged", "without_flagged"):
                s = res[label]
                ratio = s.get("worst_to_lowest_nonzero")
                console.print(
                    f"  {label}: worst {s.get('worst_group')} {s.get('worst_fmr', 0):.2e}, "
                    f"lowest non-zero {s.get('lowest_nonzero_group')}, ratio "
                    + ("-" if ratio is None else f"{ratio:.1f}")
                    + f"; no false match: {', '.join(s.get('groups_with_no_false_match', []))}"
                )


def register(eval_app: typer.Typer, run_eval: RunEval) -> None:
    @eval_app.command("tails")
    @handles_errors
    def eval_tails(
        manifest: Annotated[Path, typer.Argument(help="CSV: path,identity,sex,race[,age].")],
        other: Annotated[
            str, typer.Option("--other", help="Second registered model (flags repeats).")
        ],
        workspace: WorkspaceOpt = None,
        out: Annotated[Path | None, typer.Option(help="Report folder.")] = None,
        fmr: Annotated[
            list[float] | None, typer.Option("--fmr", help="Overall FMR targets (repeatable).")
        ] = None,
    ) -> None:
        """Per sex x race group FMR of both models at each one's threshold for overall FMR
        1e-3 and 1e-4; pairs the other model also matches are flagged, rates shown both ways."""
        from leadguard.services.evaluation import group_tails

        run_eval(
            workspace,
            "templates",
            lambda ctx, actor, progress: group_tails(
                ctx, actor, manifest, other, out, fmr, progress
            ),
            summary,
        )
