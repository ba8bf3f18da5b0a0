"""Lead commands for corroboration and adjudication: parse, call one service, render."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from leadguard.cli.common import JsonOpt, WorkspaceOpt, as_user, out, read_json
from leadguard.core.errors import InputError
from leadguard.services.context import Actor, Context

YES_NO = ("yes", "no")


def _yes(value: str, option: str) -> bool:
    if value.lower() not in YES_NO:
        raise InputError(f"{option} {value!r}: answer yes or no")
    return value.lower() == "yes"


@as_user("lead.corroborate")
def corroborate(
    ctx: Context,
    actor: Actor,
    lead_id: Annotated[int, typer.Argument()],
    kind: Annotated[
        str,
        typer.Option(help="The kind of evidence: one of the kinds listed above."),
    ],
    what: Annotated[str, typer.Option(help="What the evidence is.")],
    how: Annotated[str, typer.Option("--how", help="How it was obtained.")],
    obtained_by: Annotated[str, typer.Option(help="Who obtained it.")],
    obtained_on: Annotated[str, typer.Option(help="YYYY-MM-DD (not before the incident).")],
    face_comparison: Annotated[
        str,
        typer.Option(
            "--face-comparison",
            help="yes/no: was any face recognition or face comparison (by any system or "
            "person) involved?",
        ),
    ],
    witness_shown_candidate: Annotated[
        str,
        typer.Option(
            "--witness-shown-candidate",
            help="yes/no: was a witness shown the candidate's photo, or a lineup or array "
            "built from this search?",
        ),
    ],
    links_to: Annotated[
        str,
        typer.Option(
            "--links-to",
            help="offence (links the person to the offence) or presence_only (only places "
            "them somewhere)",
        ),
    ],
    witness: Annotated[str, typer.Option(help="The witness, for the witness kinds.")] = "",
    relationship: Annotated[
        str, typer.Option(help="How the witness knows the person (witness_knows_person).")
    ] = "",
    identified_on: Annotated[
        str, typer.Option(help="YYYY-MM-DD: when an eyewitness identification was made.")
    ] = "",
    workspace: WorkspaceOpt = None,
) -> None:
    """Record corroborating evidence for a lead, answering the independence questions.
    Refused, with the rule named, when it is not independent of the face search.

    Kinds (--kind): physical_evidence, documents_or_records, witness_knows_person,
    eyewitness_identification_before_search, admission, other."""
    from leadguard.cli.casework import parse_date
    from leadguard.services.casework.corroboration import Evidence
    from leadguard.services.casework.corroboration import corroborate as record

    ev = Evidence(
        kind=kind,
        description=what,
        how_obtained=how,
        obtained_by=obtained_by,
        obtained_on=parse_date(obtained_on, "--obtained-on"),
        face_comparison_involved=_yes(face_comparison, "--face-comparison"),
        witness_shown_candidate=_yes(witness_shown_candidate, "--witness-shown-candidate"),
        links_to=links_to,
        witness=witness,
        witness_relationship=relationship,
        identified_on=parse_date(identified_on, "--identified-on") if identified_on else None,
    )
    item = record(ctx, actor, lead_id, ev)
    if item["counts"]:
        out().print(f"corroboration {item['id']} recorded for lead {lead_id}")
    else:
        out().print(
            f"corroboration {item['id']} recorded for lead {lead_id}: presence only; it does "
            "not by itself allow a photo lineup or 'suspect identified'"
        )


@as_user("lead.adjudicate")
def brief(
    ctx: Context,
    actor: Actor,
    request_id: Annotated[int, typer.Argument()],
    subject: Annotated[str, typer.Argument()],
    workspace: WorkspaceOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Every examiner's feature notes and exculpatory checks on a candidate, and the
    inconsistencies an adjudication must answer (supervisor; read before adjudicating)."""
    from leadguard.cli import views
    from leadguard.services.casework.leads import adjudication_brief

    b = adjudication_brief(ctx, actor, request_id, subject)
    views.show(out(), b, json_out, views.brief)


@as_user("lead.adjudicate")
def adjudicate(
    ctx: Context,
    actor: Actor,
    request_id: Annotated[int, typer.Argument()],
    subject: Annotated[str, typer.Argument()],
    note: Annotated[str, typer.Option(help="The reasons.")],
    release_lead: Annotated[bool, typer.Option("--release/--no-release")] = False,
    answers: Annotated[
        Path | None,
        typer.Option(
            "--answers", help="JSON: each inconsistency (check name) -> the written answer."
        ),
    ] = None,
    workspace: WorkspaceOpt = None,
) -> None:
    """Settle a candidate the reviews leave open (supervisor), after `lead brief`. Every
    inconsistency must be answered in writing; an exclusion is final; a release is
    reversed only on an independent third review; every ruling stays on record."""
    from leadguard.services.casework.leads import adjudicate as rule

    written: dict[str, str] = {}
    if answers is not None:
        written = read_json(answers, "answers")
        if not isinstance(written, dict) or not all(isinstance(v, str) for v in written.values()):
            raise InputError(f"{answers}: must map each check name to a written answer")
    lead = rule(ctx, actor, request_id, subject, release_lead, note, written)
    out().print(f"adjudicated: {'lead ' + str(lead.id) + ' released' if lead else 'not released'}")


@as_user("case.fact", "case:{number}")
def fact(
    ctx: Context,
    actor: Actor,
    number: Annotated[str, typer.Argument(help="Case number.")],
    name: Annotated[str, typer.Argument(help="A short name, e.g. pregnancy.")],
    text: Annotated[str, typer.Argument(help="The fact, e.g. 'not visibly pregnant'.")],
    workspace: WorkspaceOpt = None,
) -> None:
    """Record a fact about the person sought: every possible lead needs a check of it."""
    from leadguard.services.casework.service import record_fact

    record_fact(ctx, actor, number, name, text)
    out().print(f"case {number}: fact {name!r} recorded")


def register(lead_app: typer.Typer, case_app: typer.Typer) -> None:
    lead_app.command("corroborate")(corroborate)
    lead_app.command("brief")(brief)
    lead_app.command("adjudicate")(adjudicate)
    case_app.command("fact")(fact)
