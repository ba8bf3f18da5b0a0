"""The ``leadguard`` command. Thin: parse, call one library function, render."""

from __future__ import annotations

import logging
import sys
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer

from leadguard import __version__
from leadguard.cli import (
    accounts,
    audit_cmds,
    casework,
    duplicates,
    eval_cmds,
    models,
    render,
    reports,
    serve,
    session,
)
from leadguard.cli import progress as progress_bars
from leadguard.cli.common import WorkspaceOpt, handles_errors, open_ctx
from leadguard.cli.common import out as _out
from leadguard.core.config import SETTINGS_FILE
from leadguard.core.errors import InputError
from leadguard.core.textsafe import utf8_name
from leadguard.services import evaluation
from leadguard.services.context import Context
from leadguard.storage.workspace import Workspace, resolve_path


class _Typer(typer.Typer):
    """``--json`` answers in JSON even when the command line itself is wrong (``--top-k 0``,
    an unknown option): a script reading stdout gets ``{"kind": "error", ...}``, not a
    usage box on stderr and nothing on stdout."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        argv = kwargs.get("args")
        if "--json" not in (sys.argv[1:] if argv is None else list(argv)):
            return super().__call__(*args, **kwargs)
        import json

        try:
            code = super().__call__(*args, **{**kwargs, "standalone_mode": False})
        except typer.Abort:
            sys.exit(1)
        except typer.TyperException as exc:  # the command line itself (click's UsageError)
            message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
            what = {"kind": "error", "error": "UsageError", "message": message}
            sys.stdout.write(json.dumps(what) + "\n")
            sys.exit(getattr(exc, "exit_code", 2))
        sys.exit(code if isinstance(code, int) else 0)


app = _Typer(
    help="LeadGuard face search: returns candidates for investigation, never verdicts.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    # docstrings are wrapped at 92 columns in the source: markdown joins a paragraph's
    # lines, so help reflows to the terminal (80 columns) instead of breaking mid-sentence
    rich_markup_mode="markdown",
)
gallery_app = typer.Typer(help="Inspect and maintain the enrolled gallery.", no_args_is_help=True)
index_app = typer.Typer(help="Check or rebuild the vector index.", no_args_is_help=True)
app.add_typer(gallery_app, name="gallery")
app.add_typer(index_app, name="index")
app.add_typer(eval_cmds.eval_app, name="eval")
app.add_typer(audit_cmds.audit_app, name="audit")
app.add_typer(casework.user_app, name="user")
app.add_typer(casework.case_app, name="case")
app.add_typer(casework.request_app, name="request")
app.add_typer(casework.review_app, name="review")
app.add_typer(casework.lead_app, name="lead")
app.add_typer(accounts.settings_app, name="settings")
app.command("login")(accounts.login)
app.command("logout")(accounts.logout)
app.command("passwd")(accounts.passwd)
app.add_typer(models.models_app, name="models")
gallery_app.command("reembed")(models.gallery_reembed)
gallery_app.command("duplicates")(duplicates.gallery_duplicates)
reports.register(app)
app.command("serve")(serve.serve)


@app.callback()
def main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log details.")] = False,
) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


@app.command()
def version() -> None:
    """Print the software version."""
    _out().print(f"leadguard {__version__}")


@app.command()
@handles_errors
def init(
    path: Annotated[Path | None, typer.Argument(help="Folder for the new workspace.")] = None,
    database_url: Annotated[
        str | None,
        typer.Option(
            envvar="LEADGUARD_DATABASE_URL",
            help="PostgreSQL database (postgresql://user@host/db), recorded in the workspace's "
            "settings file; default: the workspace's own SQLite file (docs/postgres.md).",
        ),
    ] = None,
    audit_key: Annotated[
        Path | None,
        typer.Option(
            "--audit-key",
            help="The audit key's file (absolute, outside the workspace; created if "
            "missing). Default: a new key in ~/.local/share/leadguard/audit-keys/.",
        ),
    ] = None,
    no_audit_key: Annotated[
        bool,
        typer.Option(
            "--no-audit-key",
            help="Leave the audit log unkeyed: whoever can write the database can then "
            "append entries unseen (docs/audit.md).",
        ),
    ] = False,
) -> None:
    """Create a workspace: settings file, database (migrated), index folder, and a key
    for its audit log's authentication codes (kept outside the workspace)."""
    from leadguard.services.audit_key import key_new_workspace, new_workspace_key
    from leadguard.services.settings import adopt_initial_policy

    if no_audit_key and audit_key is not None:
        raise InputError("give --audit-key FILE or --no-audit-key, not both")
    root = resolve_path(path)
    fresh = not (root / SETTINGS_FILE).exists()  # a new key checked before anything is made
    chosen = new_workspace_key(root, audit_key) if fresh and not no_audit_key else audit_key
    ws = Workspace.init(root, database_url=database_url)
    ctx = Context(ws)
    keyed = None if no_audit_key else key_new_workspace(ctx, audit_key, chosen)
    adopt_initial_policy(ctx)  # its policy as adopted, from the start
    _out().print(
        f"workspace ready at {ws.root} (settings: {ws.root / 'leadguard.toml'}; "
        f"database: {ws.database_label})"
    )
    audit_cmds.init_keying(_out(), keyed, ws.settings.audit_mac_key, no_audit_key)


@app.command()
@handles_errors
def enroll(
    source: Annotated[Path, typer.Argument(help="Folder of SUBJECT/IMAGE files, or a CSV.")],
    workspace: WorkspaceOpt = None,
    multiple_faces: Annotated[
        str | None,
        typer.Option(help="Images with several faces: 'reject' (default) or 'central'."),
    ] = None,
    workers: Annotated[int | None, typer.Option(help="Worker processes (0 = all cores).")] = None,
    retry_failed: Annotated[
        bool,
        typer.Option(
            help="Try again images that failed in an earlier run (clears the recorded failures"
            " of the space first, audited)."
        ),
    ] = False,
) -> None:
    """Enroll a gallery. Idempotent and resumable: re-running enrolls only what is missing."""
    from leadguard.services.gallery import enroll as run_enroll

    ctx = open_ctx(workspace, multiple_faces=multiple_faces, workers=workers)
    actor = session.actor(ctx)
    console = _out()
    try:
        with progress_bars.enroll_progress(console) as progress:
            report = run_enroll(ctx, actor, source, progress=progress, retry_failed=retry_failed)
    except KeyboardInterrupt:
        console.print("[yellow]interrupted: work committed so far is kept; re-run to resume[/]")
        raise typer.Exit(130) from None
    render.enroll_report(console, report)


@app.command()
@handles_errors
def search(
    probe: Annotated[Path, typer.Argument(help="The probe image.")],
    workspace: WorkspaceOpt = None,
    top_k: Annotated[int | None, typer.Option("--top-k", min=1, help="Candidates to list.")] = None,
    face: Annotated[
        int | None, typer.Option("--face", min=0, help="Which face (when the probe has several).")
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    investigation: Annotated[
        bool,
        typer.Option(
            "--investigation",
            help="Fixed-length list with no threshold (length: --top-k or the "
            "investigation_length setting); it is labelled as such.",
        ),
    ] = False,
    incident_date: Annotated[
        str | None,
        typer.Option("--incident-date", help="YYYY-MM-DD: states each gallery photo's age."),
    ] = None,
    source_type: Annotated[
        str | None,
        typer.Option(
            "--source-type",
            help="Where the probe came from (required): surveillance_still, video_frame, "
            "phone_photo, social_media, booking_photo, other; a photo of a screen or a print "
            "of one: screen_photo/ORIGINAL, print_photo/ORIGINAL.",
        ),
    ] = None,
    edit: Annotated[
        list[str] | None,
        typer.Option(
            "--edit",
            help="An edit LeadGuard applies and records, in order: crop:L,T,R,B rotate:DEG "
            "resize:SCALE brightness:F contrast:F deblur:RADIUS,PERCENT (repeatable).",
        ),
    ] = None,
    urgent: Annotated[
        bool, typer.Option("--urgent", help="Supervisor's urgent override (audited, flagged).")
    ] = False,
    case: Annotated[str | None, typer.Option("--case", help="The case (with --urgent).")] = None,
    reason: Annotated[
        str | None, typer.Option("--reason", help="Written reason (with --urgent).")
    ] = None,
    probe_sex: Annotated[
        str | None, typer.Option(help="The probe person's sex, if known (groups statements).")
    ] = None,
    probe_race: Annotated[
        str | None, typer.Option(help="The probe person's race, if known.")
    ] = None,
) -> None:
    """Search the gallery with a probe image (candidates, never a match).

    Open-set by default: only candidates at or above the threshold measured for this gallery
    size, each with what its score is worth. In a workspace with accounts only a supervisor's
    --urgent override runs here (audited, flagged for review); every other search runs from an
    approved request (`request run`)."""
    from leadguard.quality.provenance import Edit
    from leadguard.services.search import Override, SearchRequest
    from leadguard.services.search import search as run_search

    if urgent and (not case or not reason):
        raise InputError("--urgent needs the case (--case) and a written reason (--reason)")
    if source_type is None:
        raise InputError(
            f"{probe}: declare where the probe came from with --source-type (surveillance_still, "
            "video_frame, phone_photo, social_media, booking_photo or other)"
        )
    edits = tuple(Edit.parse(e) for e in edit or [])
    probe = utf8_name(probe)
    ctx = open_ctx(workspace)
    length = (top_k or ctx.settings.investigation_length) if investigation else None
    request = SearchRequest(
        probe,
        source_type,
        top_k=top_k,
        face=face,
        investigation=length,
        incident_date=_parse_date(incident_date, "--incident-date"),
        edits=edits,
        probe_sex=probe_sex,
        probe_race=probe_race,
    )
    override = Override(case or "", reason or "") if urgent else None
    result = run_search(ctx, session.actor(ctx), request, override)
    render.candidate_list(_out(), result, as_json=json_out)


def _parse_date(text: str | None, option: str) -> date | None:
    if text is None:
        return None
    try:
        when = date.fromisoformat(text)
    except ValueError as exc:
        raise InputError(f"{option} {text!r}: not a date in the form YYYY-MM-DD") from exc
    if not date(1900, 1, 1) <= when <= date.today():
        raise InputError(f"{option} {text!r}: must be between 1900-01-01 and today")
    return when


@app.command()
@handles_errors
def searches(
    workspace: WorkspaceOpt = None,
    last: Annotated[
        int, typer.Option(min=1, max=1_000_000, help="How many of the latest searches.")
    ] = 20,
) -> None:
    """The search log: every search, including those that returned no candidate."""
    from leadguard.services.gallery import search_log

    ctx = open_ctx(workspace)
    table = [
        (
            r.id,
            r.created_at.strftime("%Y-%m-%d %H:%M"),
            r.mode,
            r.outcome,
            r.candidates,
            r.gallery_templates,
            None if r.threshold is None else f"{r.threshold:.4f}",
            r.probe_name,
            r.refused,
        )
        for r in search_log(ctx, session.actor(ctx), last)
    ]
    render.search_log(_out(), table)


@gallery_app.command("stats")
@handles_errors
def gallery_stats(workspace: WorkspaceOpt = None) -> None:
    """Counts of subjects, images, faces, templates per embedding space, and failures."""
    from leadguard.services.gallery import current_space, gallery_stats

    ctx = open_ctx(workspace)
    result = gallery_stats(ctx, session.actor(ctx))
    render.gallery_stats(_out(), result, current_space(ctx).key)


@gallery_app.command("remove")
@handles_errors
def gallery_remove(
    subject: Annotated[str, typer.Argument(help="The subject id to remove.")],
    workspace: WorkspaceOpt = None,
) -> None:
    """Remove a subject: database rows and their templates in every index."""
    from leadguard.services.gallery import remove_subject

    ctx = open_ctx(workspace)
    n = remove_subject(ctx, session.actor(ctx), subject)
    _out().print(
        f"removed subject {render.safe(repr(subject))} and {n} template(s) from the database "
        "and index"
    )


@gallery_app.command("expunge")
@handles_errors
def gallery_expunge(
    subject: Annotated[str, typer.Argument(help="The subject id to expunge.")],
    order: Annotated[str, typer.Option("--order", help="Reference of the court order.")],
    workspace: WorkspaceOpt = None,
) -> None:
    """Remove a subject under a court order (database, indexes, cached templates), log it
    with the order, and check that nothing of it remains searchable (exit 1 if not)."""
    from leadguard.services.gallery import expunge_subject

    ctx = open_ctx(workspace)
    result = expunge_subject(ctx, session.actor(ctx), subject, order)
    render.expungement(_out(), result)
    if not result.verified:
        raise typer.Exit(1)


@gallery_app.command("check")
@handles_errors
def gallery_check(workspace: WorkspaceOpt = None) -> None:
    """Check the index against the database and every template's look-alike counts against
    counts recomputed from the database (exit status 1 if either disagrees)."""
    from leadguard.services.gallery import check_gallery

    ctx = open_ctx(workspace)
    result = check_gallery(ctx, session.actor(ctx))
    render.index_check(_out(), result.index)
    render.lookalike_check(_out(), result.lookalikes)
    if not result.consistent:
        raise typer.Exit(1)


@gallery_app.command("rebuild")
@handles_errors
def gallery_rebuild(workspace: WorkspaceOpt = None) -> None:
    """Recompute every template's look-alike counts from the database (an exact scan of all
    pairs of the current space)."""
    from leadguard.services.gallery import rebuild_lookalikes

    ctx = open_ctx(workspace)
    n, key = rebuild_lookalikes(ctx, session.actor(ctx))
    _out().print(f"look-alike counts rebuilt: {n} templates in space {key}")


@index_app.command("check")
@handles_errors
def index_check(workspace: WorkspaceOpt = None) -> None:
    """Say whether the index agrees with the database (exit status 1 if not)."""
    from leadguard.services.gallery import check_index

    ctx = open_ctx(workspace)
    result = check_index(ctx, session.actor(ctx))
    render.index_check(_out(), result)
    if not result.consistent:
        raise typer.Exit(1)


@index_app.command("rebuild")
@handles_errors
def index_rebuild(workspace: WorkspaceOpt = None) -> None:
    """Rebuild the current space's index from the database."""
    from leadguard.services.gallery import rebuild_index

    ctx = open_ctx(workspace)
    n, key = rebuild_index(ctx, session.actor(ctx))
    _out().print(f"index rebuilt: {n} templates in space {key}")


@app.command()
@handles_errors
def demo(
    workspace: WorkspaceOpt = None,
    source: Annotated[
        Path | None,
        typer.Option(help="LFW folder, a manifest, or a folder of SUBJECT/IMAGE photos."),
    ] = None,
    full: Annotated[bool, typer.Option(help="Enroll the whole source, not a part.")] = False,
    subjects: Annotated[int, typer.Option(help="Identities to enroll (not with --full).")] = 150,
) -> None:
    """Set up a workspace, enroll a gallery and run two probe searches."""
    from leadguard.cli.demo import run_demo

    root = resolve_path(workspace)
    run_demo(root, _out(), source=source, full=full, subjects=subjects)


@app.command()
@handles_errors
def quality(
    image: Annotated[Path, typer.Argument(help="The image to measure.")],
    workspace: WorkspaceOpt = None,
    face: Annotated[int | None, typer.Option("--face", min=0, help="Which face.")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Every quality measure of the face, the unified score and the gate's verdict."""
    image = utf8_name(image)
    ctx = open_ctx(workspace)
    verdict = evaluation.measure_quality(ctx, session.actor(ctx), image, face)
    render.quality_verdict(_out(), str(image), verdict, as_json=json_out)
