"""Report commands: the lead report, the disclosure packet and the transparency report
(docs/reports.md). Parse, call one service, print what was written with its SHA-256."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from leadguard.cli import session
from leadguard.cli.common import WorkspaceOpt, as_user, handles_errors, open_ctx, out
from leadguard.services.context import Actor, Context

if TYPE_CHECKING:
    from leadguard.services.reports import Written

report_app = typer.Typer(
    help="Documents built from stored records: lead report, transparency report.",
    no_args_is_help=True,
)
OutDir = Annotated[Path, typer.Option("--out", help="Folder to write the documents into.")]


def _print(written: Written) -> None:
    console = out()
    for f in written.files:
        console.print(f"{f.path}  sha256 {f.sha256}", highlight=False, soft_wrap=True)
    console.print(f"recorded in the audit log as entry {written.audit_seq}")


@report_app.command("lead")
@as_user("report.lead", "lead:{lead_id}")
def lead(
    ctx: Context,
    actor: Actor,
    lead_id: Annotated[int, typer.Argument(help="Lead id (see `leadguard lead list`).")],
    out_dir: OutDir,
    workspace: WorkspaceOpt = None,
) -> None:
    """The lead report of a released lead, as PDF and HTML."""
    from leadguard.services.reports import lead_report

    _print(lead_report(ctx, actor, lead_id, out_dir))


@report_app.command("transparency")
@handles_errors
def transparency(
    start: Annotated[str, typer.Option("--from", help="First day, YYYY-MM-DD.")],
    end: Annotated[str, typer.Option("--to", help="Last day, YYYY-MM-DD.")],
    out_dir: OutDir,
    workspace: WorkspaceOpt = None,
) -> None:
    """The public transparency report for a period, as PDF and HTML with plots."""
    from leadguard.services.reports import parse_period
    from leadguard.services.transparency import transparency_report

    ctx = open_ctx(workspace)
    a, b = parse_period(start, end)
    _print(transparency_report(ctx, session.actor(ctx), a, b, out_dir))


@as_user("case.disclose", "case:{case}")
def disclose(
    ctx: Context,
    actor: Actor,
    case: Annotated[str, typer.Argument(help="Case number.")],
    out_file: Annotated[Path, typer.Option("--out", help="The packet to write (.zip).")],
    workspace: WorkspaceOpt = None,
) -> None:
    """The defence disclosure packet of a case: one zip with a SHA-256 manifest."""
    from leadguard.services.disclosure import disclose as run

    _print(run(ctx, actor, case, out_file))


def register(app: typer.Typer) -> None:
    """The report commands, and the photo-array commands under `lead`."""
    from leadguard.cli import casework, corroboration, lineup

    app.add_typer(report_app, name="report")
    app.command("disclose")(disclose)
    lineup.register(casework.lead_app)
    corroboration.register(casework.lead_app, casework.case_app)
