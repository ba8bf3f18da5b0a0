"""Casework commands: parse, call one service, render. Each acts as the user logged in with
``leadguard login`` (a token kept for this workspace); no password or user comes from an
environment variable."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer

from leadguard.cli import session, views
from leadguard.cli.common import (
    JsonOpt,
    WorkspaceOpt,
    as_user,
    handles_errors,
    open_ctx,
    out,
    read_json,
)
from leadguard.core.errors import InputError
from leadguard.services.context import Actor, Context

user_app = typer.Typer(help="Accounts and roles.", no_args_is_help=True)
case_app = typer.Typer(help="Cases and their status.", no_args_is_help=True)
request_app = typer.Typer(help="Search requests: create, approve, run.", no_args_is_help=True)
review_app = typer.Typer(help="Blind, independent two-examiner review.", no_args_is_help=True)
lead_app = typer.Typer(
    help="Leads: release, corroboration, lineups, outcomes.", no_args_is_help=True
)


def parse_date(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise InputError(f"{option} {text!r}: not a date in the form YYYY-MM-DD") from exc


def _json_object(text: str, option: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{option}: not valid JSON ({exc})") from exc
    except RecursionError:
        raise InputError(f"{option}: not a JSON object (nested too deeply)") from None
    if not isinstance(value, dict):
        raise InputError(f"{option}: must be a JSON object (name -> value)")
    return value


@user_app.command("add")
@handles_errors
def user_add(
    username: Annotated[str, typer.Argument()],
    role: Annotated[str, typer.Option(help="examiner, reviewer, supervisor, auditor or admin")],
    unit: Annotated[str, typer.Option(help="Unit (supervisors oversee their unit).")] = "",
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the new password from stdin.")
    ] = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """Add an account (an admin's login, except for a workspace's first account)."""
    from leadguard.cli.accounts import read_password
    from leadguard.services.accounts import add_user

    ctx = open_ctx(workspace)
    actor = session.actor(ctx)
    password = read_password(f"new password for {username}", password_stdin, confirm=True)
    add_user(ctx, actor, username, password, role, unit)
    out().print(f"user {username} added as {role}")


@user_app.command("deactivate")
@as_user("user.deactivate")
def user_deactivate(
    ctx: Context,
    actor: Actor,
    username: Annotated[str, typer.Argument()],
    workspace: WorkspaceOpt = None,
) -> None:
    """Deactivate an account (admin): it can no longer log in or act; its logins are revoked."""
    from leadguard.services.accounts import deactivate_user

    deactivate_user(ctx, actor, username)
    out().print(f"user {username} deactivated")


@user_app.command("list")
@as_user("user.list")
def user_list(
    ctx: Context, actor: Actor, workspace: WorkspaceOpt = None, json_out: JsonOpt = False
) -> None:
    """The accounts, their roles and whether they are active or locked."""
    from leadguard.services.accounts import list_users

    views.show(out(), list_users(ctx, actor), json_out, views.users)


@case_app.command("open")
@as_user("case.open", "case:{number}")
def case_open(
    ctx: Context,
    actor: Actor,
    number: Annotated[str, typer.Argument()],
    offence: Annotated[str, typer.Option(help="Must be on the policy's eligible list.")],
    incident_date: Annotated[str, typer.Option(help="YYYY-MM-DD")],
    description: Annotated[str, typer.Option(help="What happened, and the person sought.")],
    officer: Annotated[str, typer.Option(help="Requesting officer.")],
    authority: Annotated[str, typer.Option(help="Legal authority for the search.")],
    attributes: Annotated[
        str, typer.Option(help='JSON, e.g. {"age": "16-19", "sex": "M", "tattoo": "left hand"}')
    ] = "{}",
    unit: Annotated[str | None, typer.Option(help="Unit: yours (the only one allowed).")] = None,
    facts: Annotated[
        str,
        typer.Option(
            help='JSON: other facts about the person sought, e.g. {"pregnancy": "not visibly '
            'pregnant"}; each needs a check in every possible lead'
        ),
    ] = "{}",
    workspace: WorkspaceOpt = None,
) -> None:
    """Open a case (refused for an offence the policy does not allow)."""
    from leadguard.services.casework.service import open_case

    attrs, known = _json_object(attributes, "--attributes"), _json_object(facts, "--facts")
    d = parse_date(incident_date, "--incident-date")
    open_case(ctx, actor, number, offence, d, description, attrs, officer, authority, unit, known)
    out().print(f"case {number} opened")


@case_app.command("assign")
@as_user("case.assign", "case:{number}")
def case_assign(
    ctx: Context,
    actor: Actor,
    number: Annotated[str, typer.Argument()],
    username: Annotated[str, typer.Argument()],
    workspace: WorkspaceOpt = None,
) -> None:
    """Assign a user to a case."""
    from leadguard.services.casework.service import assign

    assign(ctx, actor, number, username)
    out().print(f"{username} assigned to case {number}")


@case_app.command("suspect")
@as_user("case.suspect", "case:{number}")
def case_suspect(
    ctx: Context,
    actor: Actor,
    number: Annotated[str, typer.Argument()],
    lead: Annotated[int, typer.Option(help="The corroborated lead.")],
    workspace: WorkspaceOpt = None,
) -> None:
    """Move a case to "suspect identified" (needs corroboration of the lead on record)."""
    from leadguard.services.casework.leads import suspect_identified

    suspect_identified(ctx, actor, number, lead)
    out().print(f"case {number}: suspect identified (lead {lead})")


@case_app.command("external-search")
@as_user("external.record", "case:{number}")
def case_external_search(
    ctx: Context,
    actor: Actor,
    number: Annotated[str, typer.Argument()],
    run_by: Annotated[str, typer.Option(help="Who ran it (person and organisation).")],
    system: Annotated[str, typer.Option(help="Which system, database or service.")],
    run_on: Annotated[str, typer.Option(help="When it was run, YYYY-MM-DD.")],
    candidate: Annotated[str, typer.Option(help="The person it named, as reported.")],
    how_received: Annotated[str, typer.Option(help="How the result reached the case.")],
    probe: Annotated[Path | None, typer.Option(help="The probe it used, if available.")] = None,
    source_type: Annotated[
        str | None, typer.Option("--source-type", help="The probe's source type.")
    ] = None,
    notes: Annotated[str, typer.Option(help="Anything else known about it.")] = "",
    workspace: WorkspaceOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Record a face search run outside LeadGuard: never a lead, never corroboration."""
    from leadguard.services.casework.external import record_external_search

    d = parse_date(run_on, "--run-on")
    rec = record_external_search(
        ctx, actor, number, run_by, system, d, candidate, how_received, probe, source_type, notes
    )
    if json_out:
        views.as_json(out(), rec)
        return
    out().print(f"external search {rec.id} recorded under case {number}: {rec.notice}")


@case_app.command("external-searches")
@as_user("case.view", "case:{number}")
def case_external_searches(
    ctx: Context,
    actor: Actor,
    number: Annotated[str, typer.Argument()],
    workspace: WorkspaceOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """The face searches run outside LeadGuard that are recorded under a case."""
    from leadguard.services.casework.external import list_external_searches

    rows = list_external_searches(ctx, actor, number)
    views.show(out(), rows, json_out, views.external_searches)


@case_app.command("list")
@as_user("case.list")
def case_list(
    ctx: Context, actor: Actor, workspace: WorkspaceOpt = None, json_out: JsonOpt = False
) -> None:
    """The cases you may see."""
    from leadguard.services.casework.views import list_cases

    views.show(out(), list_cases(ctx, actor), json_out, views.cases)


@case_app.command("show")
@as_user("case.view", "case:{number}")
def case_show(
    ctx: Context,
    actor: Actor,
    number: Annotated[str, typer.Argument()],
    workspace: WorkspaceOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """A case with its requests and leads."""
    from leadguard.services.casework.views import show_case

    detail = show_case(ctx, actor, number)
    views.show(out(), detail, json_out, views.case_detail)


@request_app.command("add")
@as_user("request.create", "case:{number}")
def request_add(
    ctx: Context,
    actor: Actor,
    number: Annotated[str, typer.Argument(help="Case number.")],
    probe: Annotated[Path, typer.Argument(help="The probe image (stored as received).")],
    source_type: Annotated[
        str,
        typer.Option(
            "--source-type",
            help="Where the probe came from: surveillance_still, video_frame, phone_photo, "
            "social_media, booking_photo, other; screen_photo/ORIGINAL or print_photo/ORIGINAL "
            "for a photo of a screen or a print.",
        ),
    ],
    purpose: Annotated[str, typer.Option(help="Why this search is needed.")],
    face: Annotated[
        int | None, typer.Option("--face", min=0, help="Which face (when the probe has several).")
    ] = None,
    edit: Annotated[
        list[str] | None,
        typer.Option("--edit", help="An edit LeadGuard applies and records (as in search)."),
    ] = None,
    workspace: WorkspaceOpt = None,
) -> None:
    """Request a search under a case; the probe's bytes are stored with the request."""
    from leadguard.quality.provenance import Edit
    from leadguard.services.casework.service import request_search

    edits = tuple(Edit.parse(e) for e in edit or [])
    req = request_search(ctx, actor, number, probe, source_type, purpose, face, edits)
    out().print(f"search request {req.id} created (probe sha256 {req.probe_sha256})")


@request_app.command("approve")
@as_user("request.approve")
def request_approve(
    ctx: Context,
    actor: Actor,
    request_id: Annotated[int, typer.Argument()],
    workspace: WorkspaceOpt = None,
) -> None:
    """Approve a search request (supervisor); the approval names the stored probe's hash."""
    from leadguard.services.casework.service import approve

    req = approve(ctx, actor, request_id)
    out().print(f"search request {request_id} approved (probe sha256 {req.probe_sha256})")


@request_app.command("run")
@as_user("search.run")
def request_run(
    ctx: Context,
    actor: Actor,
    request_id: Annotated[int, typer.Argument()],
    workspace: WorkspaceOpt = None,
) -> None:
    """Run an approved request's search on its stored probe. The list goes to blind review;
    it is not shown."""
    from leadguard.services.casework.service import run_search

    run = run_search(ctx, actor, request_id)
    out().print(
        f"search {run.search_id} done ({run.outcome}, {run.candidates} candidate(s)); the list "
        "is now with the examiners for blind review"
    )


@request_app.command("list")
@as_user("request.list")
def request_list(
    ctx: Context,
    actor: Actor,
    pending: Annotated[
        bool, typer.Option("--pending", help="Only those awaiting approval.")
    ] = False,
    workspace: WorkspaceOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Search requests on the cases you may see."""
    from leadguard.services.casework.views import list_requests

    rows = list_requests(ctx, actor, pending)
    views.show(out(), rows, json_out, views.requests)


@review_app.command("packet")
@as_user("review.packet")
def review_packet(
    ctx: Context,
    actor: Actor,
    request_id: Annotated[int, typer.Argument()],
    workspace: WorkspaceOpt = None,
    json_out: JsonOpt = False,
    images: Annotated[
        Path | None,
        typer.Option("--images", help="Folder to write the probe and candidate-A, -B, ... to."),
    ] = None,
) -> None:
    """Your blind packet: probe, incident description, candidates by letter in your own
    order (no name, record id, score or rank)."""
    from leadguard.services.casework.review import blind_packet
    from leadguard.services.files import candidate_image, probe_image

    p = blind_packet(ctx, actor, request_id)
    views.show(out(), p, json_out, views.packet)
    if images is not None:
        if images.exists() and not images.is_dir():
            raise InputError(f"--images {images}: exists and is not a folder")
        images.mkdir(parents=True, exist_ok=True)
        probe = probe_image(ctx, actor, request_id)
        (images / f"probe{_suffix(probe.media_type)}").write_bytes(probe.data)
        for c in p.candidates:
            f = candidate_image(ctx, actor, request_id, letter=c.letter)
            (images / f"candidate-{c.letter}{_suffix(f.media_type)}").write_bytes(f.data)
        out().print(f"probe and {len(p.candidates)} candidate image(s) written to {images}")


def _suffix(media_type: str) -> str:
    return {"image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp"}.get(media_type, "")


@review_app.command("submit")
@as_user("review.submit")
def review_submit(
    ctx: Context,
    actor: Actor,
    request_id: Annotated[int, typer.Argument()],
    file: Annotated[
        Path, typer.Option("--file", help="JSON: decisions per candidate letter (A, B, ...).")
    ],
    workspace: WorkspaceOpt = None,
) -> None:
    """Submit your decisions by the letters of your packet (exclusion / inconclusive /
    possible_lead per candidate; a possible_lead needs FISWG feature notes and a check of
    every described attribute, known fact and the gallery photo's age, with each
    inconsistency explained)."""
    from leadguard.services.casework.review import submit_review

    decisions = read_json(file, "decisions")
    submit_review(ctx, actor, request_id, decisions)
    out().print(f"review of request {request_id} submitted")


@review_app.command("reveal")
@as_user("review.reveal")
def review_reveal(
    ctx: Context,
    actor: Actor,
    request_id: Annotated[int, typer.Argument()],
    workspace: WorkspaceOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Scores, ranks and every examiner's decisions, once all reviews are in."""
    from leadguard.services.casework.review import reveal

    r = reveal(ctx, actor, request_id)
    views.show(out(), r, json_out, views.reveal)


@review_app.command("queue")
@as_user("review.queue")
def review_queue(
    ctx: Context, actor: Actor, workspace: WorkspaceOpt = None, json_out: JsonOpt = False
) -> None:
    """My pending reviews."""
    from leadguard.services.casework.review import queue

    views.show(out(), queue(ctx, actor), json_out, views.queue)


@lead_app.command("release")
@as_user("lead.release")
def lead_release(
    ctx: Context,
    actor: Actor,
    request_id: Annotated[int, typer.Argument()],
    subject: Annotated[str, typer.Argument()],
    workspace: WorkspaceOpt = None,
) -> None:
    """Release a lead that the examiners concur on (supervisor)."""
    from leadguard.services.casework.leads import release

    lead = release(ctx, actor, request_id, subject)
    out().print(f"lead {lead.id} released: {subject} (an investigative lead only)")


@lead_app.command("outcome")
@as_user("lead.outcome")
def lead_outcome(
    ctx: Context,
    actor: Actor,
    lead_id: Annotated[int, typer.Argument()],
    outcome: Annotated[str, typer.Option(help="corroborated, refuted or no_further_action")],
    details: Annotated[str, typer.Option(help="What happened.")] = "",
    workspace: WorkspaceOpt = None,
) -> None:
    """Add to a released lead's outcome history."""
    from leadguard.services.casework.leads import record_outcome

    record_outcome(ctx, actor, lead_id, outcome, details)
    out().print(f"lead {lead_id}: {outcome}")


@lead_app.command("list")
@as_user("lead.list")
def lead_list(
    ctx: Context, actor: Actor, workspace: WorkspaceOpt = None, json_out: JsonOpt = False
) -> None:
    """Leads on the cases you may see."""
    from leadguard.services.casework.views import list_leads

    views.show(out(), list_leads(ctx, actor), json_out, views.leads)


@lead_app.command("stats")
@as_user("lead.stats")
def lead_stats(ctx: Context, actor: Actor, workspace: WorkspaceOpt = None) -> None:
    """Released leads and their outcomes by the candidate's demographic group."""
    from leadguard.services.casework.leads import outcome_stats

    stats: Any = outcome_stats(ctx, actor)
    views.as_json(out(), stats)
