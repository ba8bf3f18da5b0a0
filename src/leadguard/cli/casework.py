"""Casework commands: thin wrappers over ``leadguard.casework``. Every command but the
first account's creation acts as a LeadGuard user: ``--user`` (or ``LEADGUARD_USER``) and
the password from ``LEADGUARD_PASSWORD`` or a prompt."""

from __future__ import annotations

import json
import os
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer

from leadguard.cli.common import WorkspaceOpt, handles_errors, open_ws, out
from leadguard.errors import InputError
from leadguard.workspace import Workspace

user_app = typer.Typer(help="Accounts and roles.", no_args_is_help=True)
case_app = typer.Typer(help="Cases and their status.", no_args_is_help=True)
request_app = typer.Typer(help="Search requests: create, approve, run.", no_args_is_help=True)
review_app = typer.Typer(help="Blind, independent two-examiner review.", no_args_is_help=True)
lead_app = typer.Typer(
    help="Leads: release, corroboration, lineups, outcomes.", no_args_is_help=True
)

UserOpt = Annotated[
    str | None, typer.Option("--user", envvar="LEADGUARD_USER", help="Acting user.")
]


def _login(ws: Workspace, user: str | None) -> Any:
    from leadguard.casework.service import login

    if not user:
        raise InputError("name the acting user with --user (or LEADGUARD_USER)")
    password = os.environ.get("LEADGUARD_PASSWORD") or typer.prompt(
        f"password for {user}", hide_input=True
    )
    return login(ws, user, password)


def login_if(ws: Workspace, user: str | None) -> Any:
    """Log in when a user is named (workspace-wide commands check the role)."""
    return _login(ws, user) if user else None


def _date(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise InputError(f"{option} {text!r}: not a date in the form YYYY-MM-DD") from exc


def _json(data: Any) -> None:
    out().print_json(json.dumps(data, default=str))


@user_app.command("add")
@handles_errors
def user_add(
    username: Annotated[str, typer.Argument()],
    role: Annotated[str, typer.Option(help="examiner, reviewer, supervisor, auditor or admin")],
    unit: Annotated[str, typer.Option(help="Unit (supervisors oversee their unit).")] = "",
    workspace: WorkspaceOpt = None,
    user: UserOpt = None,
) -> None:
    """Add an account (an admin's login, except for a workspace's first account)."""
    from leadguard.casework.service import add_user

    ws = open_ws(workspace)
    actor = _login(ws, user) if user else None
    password = os.environ.get("LEADGUARD_NEW_PASSWORD") or typer.prompt(
        f"new password for {username}", hide_input=True, confirmation_prompt=True
    )
    add_user(ws, actor, username, password, role, unit)
    out().print(f"user {username} added as {role}")


@user_app.command("deactivate")
@handles_errors
def user_deactivate(
    username: Annotated[str, typer.Argument()],
    workspace: WorkspaceOpt = None,
    user: UserOpt = None,
) -> None:
    """Deactivate an account (admin); it can no longer log in or act."""
    from leadguard.casework.service import deactivate_user

    ws = open_ws(workspace)
    deactivate_user(ws, _login(ws, user), username)
    out().print(f"user {username} deactivated")


@case_app.command("open")
@handles_errors
def case_open(
    number: Annotated[str, typer.Argument()],
    offence: Annotated[str, typer.Option(help="Must be on the policy's eligible list.")],
    incident_date: Annotated[str, typer.Option(help="YYYY-MM-DD")],
    description: Annotated[str, typer.Option(help="What happened, and the person sought.")],
    officer: Annotated[str, typer.Option(help="Requesting officer.")],
    authority: Annotated[str, typer.Option(help="Legal authority for the search.")],
    attributes: Annotated[
        str, typer.Option(help='JSON, e.g. {"age": "16-19", "sex": "M", "tattoo": "left hand"}')
    ] = "{}",
    unit: Annotated[str | None, typer.Option(help="Unit (default: yours).")] = None,
    workspace: WorkspaceOpt = None,
    user: UserOpt = None,
) -> None:
    """Open a case (refused for an offence the policy does not allow)."""
    from leadguard.casework.service import open_case

    try:
        attrs = json.loads(attributes)
    except json.JSONDecodeError as exc:
        raise InputError(f"--attributes: not valid JSON ({exc})") from exc
    ws = open_ws(workspace)
    actor = _login(ws, user)
    d = _date(incident_date, "--incident-date")
    open_case(ws, actor, number, offence, d, description, attrs, officer, authority, unit)
    out().print(f"case {number} opened")


@case_app.command("assign")
@handles_errors
def case_assign(
    number: Annotated[str, typer.Argument()],
    username: Annotated[str, typer.Argument()],
    workspace: WorkspaceOpt = None,
    user: UserOpt = None,
) -> None:
    """Assign a user to a case."""
    from leadguard.casework.service import assign

    ws = open_ws(workspace)
    assign(ws, _login(ws, user), number, username)
    out().print(f"{username} assigned to case {number}")


@case_app.command("suspect")
@handles_errors
def case_suspect(
    number: Annotated[str, typer.Argument()],
    lead: Annotated[int, typer.Option(help="The corroborated lead.")],
    workspace: WorkspaceOpt = None,
    user: UserOpt = None,
) -> None:
    """Move a case to "suspect identified" (needs corroboration of the lead on record)."""
    from leadguard.casework.leads import suspect_identified

    ws = open_ws(workspace)
    suspect_identified(ws, _login(ws, user), number, lead)
    out().print(f"case {number}: suspect identified (lead {lead})")


@request_app.command("add")
@handles_errors
def request_add(
    number: Annotated[str, typer.Argument(help="Case number.")],
    probe: Annotated[Path, typer.Argument(help="The probe image.")],
    source_type: Annotated[str, typer.Option("--source-type", help="Where the probe came from.")],
    purpose: Annotated[str, typer.Option(help="Why this search is needed.")],
    workspace: WorkspaceOpt = None,
    user: UserOpt = None,
) -> None:
    """Request a search under a case."""
    from leadguard.casework.service import request_search

    ws = open_ws(workspace)
    rid = request_search(ws, _login(ws, user), number, probe, source_type, purpose)
    out().print(f"search request {rid} created")


@request_app.command("approve")
@handles_errors
def request_approve(
    request_id: Annotated[int, typer.Argument()],
    workspace: WorkspaceOpt = None,
    user: UserOpt = None,
) -> None:
    """Approve a search request (supervisor)."""
    from leadguard.casework.service import approve

    ws = open_ws(workspace)
    approve(ws, _login(ws, user), request_id)
    out().print(f"search request {request_id} approved")


@request_app.command("run")
@handles_errors
def request_run(
    request_id: Annotated[int, typer.Argument()],
    workspace: WorkspaceOpt = None,
    user: UserOpt = None,
) -> None:
    """Run an approved request's search. The list goes to blind review; it is not shown."""
    from leadguard.casework.service import run_search

    ws = open_ws(workspace)
    result = run_search(ws, _login(ws, user), request_id)
    out().print(
        f"search {result.search_id} done ({result.outcome}, {len(result.candidates)} "
        "candidate(s)); the list is now with the examiners for blind review"
    )


@review_app.command("packet")
@handles_errors
def review_packet(
    request_id: Annotated[int, typer.Argument()],
    workspace: WorkspaceOpt = None,
    user: UserOpt = None,
) -> None:
    """Your blind packet: probe, incident description, candidates in your own order."""
    from leadguard.casework.service import blind_packet

    ws = open_ws(workspace)
    _json(blind_packet(ws, _login(ws, user), request_id))


@review_app.command("submit")
@handles_errors
def review_submit(
    request_id: Annotated[int, typer.Argument()],
    file: Annotated[Path, typer.Option("--file", help="JSON: decisions per candidate.")],
    workspace: WorkspaceOpt = None,
    user: UserOpt = None,
) -> None:
    """Submit your decisions (exclusion / inconclusive / possible_lead per candidate)."""
    from leadguard.casework.service import submit_review

    try:
        decisions = json.loads(file.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"{file}: cannot read the decisions ({exc})") from exc
    ws = open_ws(workspace)
    submit_review(ws, _login(ws, user), request_id, decisions)
    out().print(f"review of request {request_id} submitted")


@review_app.command("reveal")
@handles_errors
def review_reveal(
    request_id: Annotated[int, typer.Argument()],
    workspace: WorkspaceOpt = None,
    user: UserOpt = None,
) -> None:
    """Scores, ranks and every examiner's decisions, once all reviews are in."""
    from leadguard.casework.service import reveal

    ws = open_ws(workspace)
    _json(reveal(ws, _login(ws, user), request_id))


@lead_app.command("release")
@handles_errors
def lead_release(
    request_id: Annotated[int, typer.Argument()],
    subject: Annotated[str, typer.Argument()],
    workspace: WorkspaceOpt = None,
    user: UserOpt = None,
) -> None:
    """Release a lead that the examiners concur on (supervisor)."""
    from leadguard.casework.leads import release

    ws = open_ws(workspace)
    lead = release(ws, _login(ws, user), request_id, subject)
    out().print(f"lead {lead.id} released: {subject} (an investigative lead only)")


@lead_app.command("adjudicate")
@handles_errors
def lead_adjudicate(
    request_id: Annotated[int, typer.Argument()],
    subject: Annotated[str, typer.Argument()],
    note: Annotated[str, typer.Option(help="The reasons.")],
    release_lead: Annotated[bool, typer.Option("--release/--no-release")] = False,
    workspace: WorkspaceOpt = None,
    user: UserOpt = None,
) -> None:
    """Settle the examiners' disagreement on a candidate (supervisor); kept on record."""
    from leadguard.casework.leads import adjudicate

    ws = open_ws(workspace)
    lead = adjudicate(ws, _login(ws, user), request_id, subject, release_lead, note)
    out().print(f"adjudicated: {'lead ' + str(lead.id) + ' released' if lead else 'not released'}")


@lead_app.command("corroborate")
@handles_errors
def lead_corroborate(
    lead_id: Annotated[int, typer.Argument()],
    what: Annotated[str, typer.Option(help="The independent evidence.")],
    obtained_by: Annotated[str, typer.Option(help="Who obtained it.")],
    obtained_on: Annotated[str, typer.Option(help="YYYY-MM-DD")],
    workspace: WorkspaceOpt = None,
    user: UserOpt = None,
) -> None:
    """Record independent corroborating evidence for a lead."""
    from leadguard.casework.leads import corroborate

    ws = open_ws(workspace)
    corroborate(
        ws, _login(ws, user), lead_id, what, obtained_by, _date(obtained_on, "--obtained-on")
    )
    out().print(f"corroboration recorded for lead {lead_id}")


@lead_app.command("lineup")
@handles_errors
def lead_lineup(
    lead_id: Annotated[int, typer.Argument()],
    workspace: WorkspaceOpt = None,
    user: UserOpt = None,
) -> None:
    """Record a photo lineup for a lead (needs corroboration on record)."""
    from leadguard.casework.leads import record_lineup

    ws = open_ws(workspace)
    record_lineup(ws, _login(ws, user), lead_id)
    out().print(f"lineup recorded for lead {lead_id}")


@lead_app.command("outcome")
@handles_errors
def lead_outcome(
    lead_id: Annotated[int, typer.Argument()],
    outcome: Annotated[str, typer.Option(help="corroborated, refuted or no_further_action")],
    details: Annotated[str, typer.Option(help="What happened.")] = "",
    workspace: WorkspaceOpt = None,
    user: UserOpt = None,
) -> None:
    """Record how a released lead ended."""
    from leadguard.casework.leads import record_outcome

    ws = open_ws(workspace)
    record_outcome(ws, _login(ws, user), lead_id, outcome, details)
    out().print(f"lead {lead_id}: {outcome}")


@lead_app.command("stats")
@handles_errors
def lead_stats(workspace: WorkspaceOpt = None, user: UserOpt = None) -> None:
    """Released leads and their outcomes by the candidate's demographic group."""
    from leadguard.casework.leads import outcome_stats

    ws = open_ws(workspace)
    _json(outcome_stats(ws, _login(ws, user)))
