"""Corroboration as a structured record, with the independence questions asked every time.

The Detroit settlement (Williams v. City of Detroit, 2024) forbids an arrest or a lineup on a
face search lead without independent, reliable evidence linking the person to the offence,
and names what is not independent: an identification by a witness shown the candidate's
photo or a lineup built from the search; another face recognition or face comparison
result, by any system or person; a witness who knows the person only from the same
recording. Evidence that only places the person somewhere does not link them to the
offence. Each rule below names itself in its refusal."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from leadguard.audit import log as audit
from leadguard.core.errors import InputError
from leadguard.services.casework.lead_state import (
    corroboration_dicts,
    get_lead,
    lead_object,
    refuse_if_final,
)
from leadguard.services.casework.policy import PolicyRefused
from leadguard.services.casework.review import blind_to_lead
from leadguard.services.casework.service import check_case, policy
from leadguard.services.context import Actor, Context, current_user, refusals
from leadguard.storage.tables import (
    Case,
    Corroboration,
    ExternalSearch,
    Lead,
    LineupShowing,
    SearchLog,
    SearchRequest,
)

KINDS = (
    "physical_evidence",
    "documents_or_records",
    "witness_knows_person",
    "eyewitness_identification_before_search",
    "admission",
    "other",
)
WITNESS_KINDS = ("witness_knows_person", "eyewitness_identification_before_search")
LINKS = ("offence", "presence_only")

# wording of a face search, a face comparison or an identification that followed one
FACE_SEARCH_WORDING = (
    r"clearview",
    r"face ?recogni[sz]",
    r"facial (recogni|compar|match|analy|identif|biometric|search)",
    r"face (search|match|comparison|compar)",
    r"\bfrt?\b",
    r"\bfr (hit|match|result|lead)",
    r"dataworks",
    r"rekognition",
    r"neoface",
    r"idemia",
    r"cognitec",
    r"pimeyes",
    r"compared (the |his |her |their )?(photos?|pictures?|images?|faces?)",
    r"(photo|picture|image|face)s? compar",
    r"same (person|man|woman|guy|individual|face)",
    r"looks? (just )?like",
    r"resembl",
    r"likeness",
    r"look-?alike",
    r"\bmatch(ed|es|ing)?\b",
    r"(photo|picture) ?(array|lineup|line-up|spread)",
    r"\b(array|lineup|line-up|six-?pack|show-?up)\b",
    r"identified (him|her|them)? ?(from|in|on) (the |a )?(array|lineup|line-up|photo)",
)
# a match of a non-face trace is forensic evidence, not a face comparison
FORENSIC_MATCH = re.compile(r"finger ?print|latent|palm ?print|\bdna\b|ballistic|shoe ?print")
RECORDING_ONLY = re.compile(r"video|footage|recording|cctv|surveillance|camera")


@dataclass(frozen=True)
class Evidence:
    """One piece of corroborating evidence, as the investigator records it. The three
    questions (``face_comparison_involved``, ``witness_shown_candidate``, ``links_to``) have
    no default: ``None`` is refused as unanswered."""

    kind: str  # one of KINDS
    description: str  # what it is, in the recorder's words (screened)
    how_obtained: str  # how it was obtained (screened)
    obtained_by: str
    obtained_on: date
    face_comparison_involved: bool | None  # any face recognition or face comparison?
    witness_shown_candidate: bool | None  # shown the candidate's photo or a derived array?
    links_to: str | None  # "offence" or "presence_only"
    witness: str = ""  # who, for the witness kinds (as named at any photo-array showing)
    witness_relationship: str = ""  # how a witness knows the person
    identified_on: date | None = None  # when an eyewitness identification was made


def face_search_wording(text: str) -> str | None:
    """The first face-search or face-comparison phrase in ``text``, or None."""
    low = text.lower()
    for pattern in FACE_SEARCH_WORDING:
        m = re.search(pattern, low)
        if m is None:
            continue
        if pattern.startswith(r"\bmatch") and FORENSIC_MATCH.search(low):
            continue
        return m.group(0)
    return None


def first_search_date(s: Session, case: Case) -> date | None:
    """The date of the case's first face search: any request of the case searched in
    LeadGuard, or any face search run outside LeadGuard recorded under the case (a
    retailer's system, another agency), whichever came first."""
    q = (
        select(SearchLog.created_at)
        .join(SearchRequest, SearchRequest.search_id == SearchLog.id)
        .where(SearchRequest.case_id == case.id)
        .order_by(SearchLog.created_at)
        .limit(1)
    )
    first = s.scalars(q).first()
    outside = s.scalars(
        select(ExternalSearch.run_on)
        .where(ExternalSearch.case_id == case.id)
        .order_by(ExternalSearch.run_on)
        .limit(1)
    ).first()
    dates = [d for d in (first.date() if first else None, outside) if d is not None]
    return min(dates) if dates else None


def _shown_an_array(s: Session, case: Case, witness: str) -> LineupShowing | None:
    q = (
        select(LineupShowing)
        .join(Lead, Lead.id == LineupShowing.lead_id)
        .join(SearchRequest, SearchRequest.id == Lead.request_id)
        .where(SearchRequest.case_id == case.id)
    )
    key = witness.strip().lower()
    return next((w for w in s.scalars(q) if w.witness.strip().lower() == key), None)


def _answered(ev: Evidence) -> None:
    if ev.kind not in KINDS:
        raise InputError(f"corroboration kind {ev.kind!r} is not one of {', '.join(KINDS)}")
    for name in ("face_comparison_involved", "witness_shown_candidate"):
        if not isinstance(getattr(ev, name), bool):
            raise InputError(f"corroboration: answer {name} (yes or no); it is asked every time")
    if ev.links_to not in LINKS:
        raise InputError(
            "corroboration: answer links_to: 'offence' (links the person to the offence) or "
            "'presence_only' (only places them somewhere)"
        )
    for name in ("description", "how_obtained", "obtained_by"):
        if not str(getattr(ev, name)).strip():
            raise InputError(f"corroboration needs {name}")


def check_evidence(s: Session, case: Case, ev: Evidence) -> None:
    """Refuse evidence that is not independent of the face search, naming the rule."""
    _answered(ev)
    if ev.face_comparison_involved:
        raise PolicyRefused(
            "not_face_comparison",
            "evidence that involved face recognition or a face comparison, by any system or "
            "person, is not independent of the face search",
        )
    if ev.witness_shown_candidate:
        raise PolicyRefused(
            "witness_not_shown_candidate",
            "a witness shown the candidate's photo, or a lineup, array or show-up built from "
            "this search, is not independent of it",
        )
    for name in ("description", "how_obtained", "witness_relationship"):
        hit = face_search_wording(str(getattr(ev, name)))
        if hit:
            raise PolicyRefused(
                "face_search_wording",
                f"{name} says {hit!r}: a face search, a face comparison, a resemblance or an "
                "identification from a lineup or array is not independent corroboration",
            )
    today = date.today()
    if ev.obtained_on > today:
        raise InputError(f"obtained_on {ev.obtained_on}: a date in the future")
    if ev.obtained_on < case.incident_date:
        raise InputError(
            f"obtained_on {ev.obtained_on}: before the incident ({case.incident_date})"
        )
    if ev.kind in WITNESS_KINDS:
        _check_witness(s, case, ev)


def _check_witness(s: Session, case: Case, ev: Evidence) -> None:
    if not ev.witness.strip():
        raise InputError(f"{ev.kind} needs the witness (as named at any photo-array showing)")
    shown = _shown_an_array(s, case, ev.witness)
    if shown is not None:
        raise PolicyRefused(
            "array_pick_never_corroborates",
            f"{ev.witness} viewed a LeadGuard photo array for this case (showing {shown.id}): "
            "an identification that followed the face search is never corroboration",
        )
    if ev.kind == "witness_knows_person":
        rel = ev.witness_relationship.strip()
        if not rel:
            raise InputError("witness_knows_person needs how the witness knows the person")
        if RECORDING_ONLY.search(rel.lower()):
            raise PolicyRefused(
                "knows_person_not_from_recording",
                f"{rel!r}: a witness who knows the person only from the recording is not "
                "independent",
            )
        return
    if ev.identified_on is None:
        raise InputError(f"{ev.kind} needs the date the identification was made")
    if ev.identified_on > date.today() or ev.identified_on < case.incident_date:
        raise InputError(f"identified_on {ev.identified_on}: not between the incident and today")
    first = first_search_date(s, case)
    if first is not None and ev.identified_on >= first:
        raise PolicyRefused(
            "eyewitness_before_search",
            f"an identification made on {ev.identified_on} was not made before the case's "
            f"first face search ({first}): it cannot be an independent identification",
        )


def corroborate(ctx: Context, actor: Actor, lead_id: int, ev: Evidence) -> dict[str, Any]:
    """Record ``ev`` for the lead, or refuse it naming the rule. Presence-only evidence is
    recorded with ``counts: false``: alone it allows no lineup and no "suspect identified".
    Returns the record as ``LeadInfo.corroboration`` lists it."""
    obj = lead_object(ctx, lead_id)
    with refusals(ctx, actor, "lead.corroborate", obj), ctx.session() as s:
        lead, case = get_lead(s, lead_id)
        user = current_user(s, actor)
        check_case(s, user, "lead.corroborate", case)
        blind_to_lead(s, user, lead, case, policy(ctx, observe=False))
        refuse_if_final(s, lead, "corroboration")
        check_evidence(s, case, ev)
        row = Corroboration(
            lead_id=lead.id,
            kind=ev.kind,
            description=ev.description.strip(),
            how_obtained=ev.how_obtained.strip(),
            obtained_by=ev.obtained_by.strip(),
            obtained_on=ev.obtained_on,
            face_comparison_involved=False,
            witness_shown_candidate=False,
            links_to=ev.links_to,
            witness=ev.witness.strip() or None,
            witness_relationship=ev.witness_relationship.strip() or None,
            identified_on=ev.identified_on,
            counts=ev.links_to == "offence",
            recorded_by=actor.username,
        )
        s.add(row)
        s.flush()
        item = next(d for d in corroboration_dicts(s, lead) if d.get("id") == row.id)
        audit.append(s, "lead.corroborate", obj, item, actor=actor.username, records=[row])
        return item
