"""The one place where the replays call LeadGuard's casework services.

Written against the casework API with structured corroboration, exculpatory checks that
must be explained and the witness type at every showing (``casework.corroboration``,
``casework.checks``); on a tree without them it falls back to the older calls (free-text
corroboration, no witness type), so that the same replays show what those rules add."""

from __future__ import annotations

import importlib.util
from datetime import date
from pathlib import Path
from typing import Any

from leadguard.services.casework import external, leads, lineup, review
from leadguard.services.casework import service as cw
from leadguard.services.casework.blind import letters_of
from leadguard.services.context import Actor, Context

STRUCTURED = importlib.util.find_spec("leadguard.services.casework.corroboration") is not None
PHOTO_AGE = "gallery_photo_age"


def eligible_offences(ctx: Context) -> tuple[str, ...]:
    return tuple(cw.policy(ctx, observe=False).eligible_offences)


def open_case(
    ctx: Context,
    actor: Actor,
    number: str,
    offence: str,
    incident: date,
    description: str,
    attributes: dict[str, Any],
) -> None:
    cw.open_case(
        ctx, actor, number, offence, incident, description, attributes, "Det. (replay)", "replay"
    )


def assign(ctx: Context, actor: Actor, number: str, user: str) -> None:
    cw.assign(ctx, actor, number, user)


def record_external(
    ctx: Context, actor: Actor, number: str, system: str, on: date, candidate: str
) -> None:
    external.record_external_search(
        ctx, actor, number, "loss prevention (replay)", system, on, candidate, "passed to police"
    )


def request(
    ctx: Context, actor: Actor, number: str, probe: Path, source_type: str, edits: tuple[Any, ...]
) -> int:
    return cw.request_search(ctx, actor, number, probe, source_type, "identify", None, edits).id


def approve(ctx: Context, actor: Actor, request_id: int) -> None:
    cw.approve(ctx, actor, request_id)


def run(ctx: Context, actor: Actor, request_id: int) -> int:
    return cw.run_search(ctx, actor, request_id).candidates


def packet_subjects(ctx: Context, actor: Actor, request_id: int) -> list[str]:
    """The subjects behind the examiner's packet, in its order. The packet names candidates
    by letter only; the replay's script (like the demo's) maps them back through
    ``blind.letters_of``, which no shell exposes."""
    packet = review.blind_packet(ctx, actor, request_id)
    by_letter = {k: subj for subj, k in letters_of(ctx, request_id, actor.id).items()}
    return [by_letter[c.letter] for c in packet.candidates]


def checks(
    attributes: dict[str, Any], against: dict[str, str], explain: str | None
) -> list[dict[str, Any]]:
    """One check per described attribute and of the gallery photo's age; the attributes in
    ``against`` (name -> the fact) are "not consistent", explained only if ``explain``."""
    names = [k for k, v in attributes.items() if str(v).strip()] + [PHOTO_AGE]
    names += [n for n in against if n not in names]
    out = []
    for n in dict.fromkeys(names):
        if n in against:
            c: dict[str, Any] = {"attribute": n, "consistent": False, "note": against[n]}
            if explain:
                c["explanation"] = explain
        else:
            c = {"attribute": n, "consistent": True, "note": ""}
        out.append(c)
    return out


def submit_review(
    ctx: Context,
    actor: Actor,
    request_id: int,
    target: str,
    attributes: dict[str, Any],
    against: dict[str, str],
    explain: str | None,
) -> None:
    subjects = packet_subjects(ctx, actor, request_id)
    letter = letters_of(ctx, request_id, actor.id)
    decisions = {
        letter[s]: {
            "decision": "possible_lead" if s == target else "exclusion",
            "confidence": 4 if s == target else 3,
            "features": {"nose": "similar bridge", "eyebrows": "similar arch"},
            "exculpatory": checks(attributes, against if s == target else {}, explain),
        }
        for s in subjects
    }
    review.submit_review(ctx, actor, request_id, decisions)


def release(ctx: Context, actor: Actor, request_id: int, subject: str) -> int:
    return leads.release(ctx, actor, request_id, subject).id


def adjudicate_release(
    ctx: Context, actor: Actor, request_id: int, subject: str, answer: str
) -> int:
    """A supervisor's ruling that releases the lead, after reading the examiners' notes and
    checks, with ``answer`` written for each inconsistency the ruling must answer."""
    brief = leads.adjudication_brief(ctx, actor, request_id, subject)
    answers = {k: answer for k in brief.to_answer}
    lead = leads.adjudicate(ctx, actor, request_id, subject, True, answer, answers)
    assert lead is not None
    return lead.id


def build_array(ctx: Context, actor: Actor, lead_id: int, sex: str | None, out: Path) -> None:
    lineup.build_array(ctx, actor, lead_id, {"sex": sex or "M"}, out)


def show_array(
    ctx: Context, actor: Actor, lead_id: int, administrator: str, witness_type: str, note: str
) -> None:
    decisions = [
        {
            "position": i,
            "decision": "the_person" if i == 1 else "not_the_person",
            "confidence": "sure",
        }
        for i in range(1, 7)
    ]
    instruction = "the person may not be present in the array"
    if STRUCTURED:
        lineup.record_administration(
            ctx,
            actor,
            lead_id,
            administrator,
            instruction,
            decisions,
            "the witness",
            witness_type,
            note,
        )
    else:
        lineup.record_administration(ctx, actor, lead_id, administrator, instruction, decisions)


def corroborate(
    ctx: Context,
    actor: Actor,
    lead_id: int,
    text: str,
    face_comparison: bool,
    shown_array: bool,
    presence_only: bool,
    on: date,
) -> None:
    if not STRUCTURED:
        leads.corroborate(ctx, actor, lead_id, "other_independent", text, "Det. (replay)", on)
        return
    from leadguard.services.casework import corroboration as co

    kind = (
        "eyewitness_identification_before_search"
        if shown_array
        else "documents_or_records"
        if presence_only
        else "other"
    )
    ev = co.Evidence(
        kind=kind,
        description=text,
        how_obtained=text,
        obtained_by="Det. (replay)",
        obtained_on=on,
        face_comparison_involved=face_comparison,
        witness_shown_candidate=shown_array,
        links_to="presence_only" if presence_only else "offence",
        witness="the witness" if shown_array else "",
        identified_on=on if shown_array else None,
    )
    co.corroborate(ctx, actor, lead_id, ev)


def suspect(ctx: Context, actor: Actor, number: str, lead_id: int) -> None:
    leads.suspect_identified(ctx, actor, number, lead_id)


def outcome(ctx: Context, actor: Actor, lead_id: int, what: str, details: str) -> None:
    leads.record_outcome(ctx, actor, lead_id, what, details)
