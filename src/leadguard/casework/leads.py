"""Leads: release by concurring examiners or adjudication (final; reversed only on an
independent third review), corroboration from a fixed list of independent kinds, the rules
that keep a face search from becoming an identification, outcomes as a history."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from leadguard import audit
from leadguard.casework.authz import authorize
from leadguard.casework.policy import CaseworkPolicy, PolicyRefused
from leadguard.casework.review import blind_to_lead, reviews_of
from leadguard.casework.service import (
    OUTCOMES,
    check_case,
    get_request,
    policy,
    request_object,
)
from leadguard.errors import InputError
from leadguard.services.context import Actor, Context, current_user, refusals
from leadguard.storage.models import Case, Lead, SearchRequest, Subject, User

# independent evidence that can link a candidate to an offence; never another look at a face
CORROBORATION = (
    "alibi_checked",
    "physical_or_forensic",
    "phone_or_location",
    "independent_witness_knows_person",
    "admission",
    "other_independent",
)
FACE_WORDS = ("looks like", "resembl", "face search", "facial", "likeness", "lookalike")


@dataclass(frozen=True)
class LeadInfo:
    id: int
    case: str
    request: int
    subject: str
    basis: str
    released_by: str
    released_at: datetime
    corroboration: tuple[dict[str, Any], ...]
    lineup_recorded: bool
    outcome: str | None
    outcomes: tuple[dict[str, Any], ...]


def lead_info(s: Session, lead: Lead, number: str) -> LeadInfo:
    user = s.get(User, lead.released_by)
    return LeadInfo(
        lead.id,
        number,
        lead.request_id,
        lead.subject,
        lead.basis,
        user.username if user else "?",
        lead.released_at,
        tuple(lead.corroboration or ()),
        lead.lineup_recorded,
        lead.outcome,
        tuple(lead.outcomes or ()),
    )


def _decisions(s: Session, req: SearchRequest, subject: str, pol: CaseworkPolicy) -> list[str]:
    reviews = reviews_of(s, req)[: pol.examiners_required]
    if len(reviews) < pol.examiners_required:
        raise PolicyRefused(
            "examiners_required",
            f"{len(reviews)} of {pol.examiners_required} independent reviews submitted",
        )
    out = []
    for r in reviews:
        d = r.decisions.get(subject)
        if d is None:
            raise InputError(f"{subject!r} is not a candidate of request {req.id}")
        out.append(d["decision"])
    return out


def _not_a_party(s: Session, user: User, req: SearchRequest) -> None:
    """No single account takes a case from request to released lead."""
    reviewers = {r.examiner_id for r in reviews_of(s, req)}
    if user.id in reviewers | {req.requested_by, req.searched_by}:
        raise PolicyRefused(
            "separation_of_duties",
            "the requester, searcher or a reviewer of a search may not release its leads",
        )


def _new_lead(
    s: Session,
    actor: Actor,
    req: SearchRequest,
    case: Case,
    subject: str,
    basis: str,
    adjudication: dict[str, Any] | None,
) -> LeadInfo:
    q = select(Lead).where(Lead.request_id == req.id, Lead.subject == subject)
    if s.scalars(q).first() is not None:
        raise InputError(f"{subject!r} has already been released as a lead of request {req.id}")
    lead = Lead(
        request_id=req.id,
        subject=subject,
        released_by=actor.id,
        basis=basis,
        adjudication=adjudication,
        corroboration=[],
        outcomes=[],
    )
    s.add(lead)
    s.flush()
    audit.append(
        s,
        "lead.release",
        f"case:{case.number}/lead:{lead.id}",
        {"subject": subject, "basis": basis, "request": req.id},
        actor=actor.username,
        records=[lead],
    )
    return lead_info(s, lead, case.number)


def release(ctx: Context, actor: Actor, request_id: int, subject: str) -> LeadInfo:
    """A lead leaves the unit only when every required examiner said "possible lead"."""
    pol = policy(ctx)
    obj = request_object(None, request_id, ctx)
    with refusals(ctx, actor, "lead.release", obj), ctx.session() as s:
        req, case = get_request(s, request_id)
        user = current_user(s, actor)
        check_case(s, user, "lead.release", case)
        _not_a_party(s, user, req)
        decisions = _decisions(s, req, subject, pol)
        if any(d != "possible_lead" for d in decisions):
            raise PolicyRefused(
                "two_concurring_examiners",
                f"the examiners' decisions on {subject!r} are {decisions}: release needs "
                f"{pol.examiners_required} concurring 'possible_lead' decisions (a supervisor "
                "may adjudicate a disagreement)",
            )
        return _new_lead(s, actor, req, case, subject, "concurring", None)


def adjudicate(
    ctx: Context, actor: Actor, request_id: int, subject: str, release_lead: bool, note: str
) -> LeadInfo | None:
    """A supervisor settles a disagreement; the ruling is final. A later ruling on the same
    candidate (a reversal) needs an independent third review submitted after the first
    ruling, by an examiner who was not one of the first; both stay on record."""
    pol = policy(ctx)
    obj = request_object(None, request_id, ctx)
    with refusals(ctx, actor, "lead.adjudicate", obj), ctx.session() as s:
        if not note.strip():
            raise InputError("an adjudication needs its reasons (--note)")
        req, case = get_request(s, request_id)
        user = current_user(s, actor)
        check_case(s, user, "lead.adjudicate", case)
        _not_a_party(s, user, req)
        decisions = _decisions(s, req, subject, pol)
        if len(set(decisions)) == 1:
            raise InputError(
                f"the examiners agree on {subject!r} ({decisions[0]}): nothing to adjudicate"
            )
        earlier = [a for a in req.adjudications or () if a.get("subject") == subject]
        ruling: dict[str, Any] = {
            "subject": subject,
            "decisions": decisions,
            "release": release_lead,
            "note": note,
            "by": actor.username,
            "on": date.today().isoformat(),
        }
        if earlier:
            third = _third_review(s, req, subject, pol, earlier[-1])
            if third is None:
                raise PolicyRefused(
                    "adjudication_final",
                    f"{subject!r} was adjudicated on {earlier[-1]['on']} by {earlier[-1]['by']}; "
                    "a reversal needs an independent third review submitted after that ruling",
                )
            ruling["reverses"] = len(earlier)
            ruling["third_review"] = third
        req.adjudications = [*(req.adjudications or []), ruling]
        audit.append(s, "lead.adjudicate", obj, ruling, actor=actor.username, records=[req])
        return (
            _new_lead(s, actor, req, case, subject, "adjudicated", ruling) if release_lead else None
        )


def _third_review(
    s: Session, req: SearchRequest, subject: str, pol: CaseworkPolicy, ruling: dict[str, Any]
) -> dict[str, Any] | None:
    reviews = reviews_of(s, req)
    for r in reviews[pol.examiners_required :]:
        if r.submitted_at.date().isoformat() >= ruling["on"] and subject in r.decisions:
            examiner = s.get(User, r.examiner_id)
            return {
                "examiner": examiner.username if examiner else "?",
                "decision": r.decisions[subject]["decision"],
            }
    return None


def _lead(s: Session, lead_id: int) -> tuple[Lead, Case]:
    lead = s.get(Lead, lead_id)
    if lead is None:
        raise InputError(f"lead {lead_id} does not exist")
    req = s.get(SearchRequest, lead.request_id)
    assert req is not None
    case = s.get(Case, req.case_id)
    assert case is not None
    return lead, case


def lead_object(ctx: Context, lead_id: int) -> str:
    """``case:N/lead:L`` (the audit object of the lead's entries and refusals)."""
    with ctx.session() as s:
        try:
            return f"case:{_lead(s, lead_id)[1].number}/lead:{lead_id}"
        except InputError:
            return f"lead:{lead_id}"


def corroborate(
    ctx: Context,
    actor: Actor,
    lead_id: int,
    category: str,
    what: str,
    obtained_by: str,
    obtained_on: date,
) -> None:
    """Independent evidence that links the candidate to the offence (never another look at
    the face): its kind from a fixed list, what it is, who obtained it, when."""
    obj = lead_object(ctx, lead_id)
    with refusals(ctx, actor, "lead.corroborate", obj), ctx.session() as s:
        lead, case = _lead(s, lead_id)
        user = current_user(s, actor)
        check_case(s, user, "lead.corroborate", case)
        blind_to_lead(s, user, lead, case, policy(ctx, observe=False))
        if category not in CORROBORATION:
            raise InputError(
                f"corroboration category {category!r} is not one of {', '.join(CORROBORATION)}"
            )
        if not what.strip() or not obtained_by.strip():
            raise InputError("corroboration needs what the evidence is and who obtained it")
        if any(w in what.lower() for w in FACE_WORDS):
            raise PolicyRefused(
                "corroboration_independent",
                f"{what!r}: a resemblance or another face search is not corroboration",
            )
        if obtained_on > date.today():
            raise InputError(f"--obtained-on {obtained_on}: a date in the future")
        if obtained_on < case.incident_date:
            raise InputError(
                f"--obtained-on {obtained_on}: before the incident ({case.incident_date})"
            )
        item = {
            "category": category,
            "what": what,
            "obtained_by": obtained_by,
            "obtained_on": obtained_on.isoformat(),
            "recorded_by": actor.username,
        }
        lead.corroboration = [*(lead.corroboration or []), item]
        audit.append(s, "lead.corroborate", obj, item, actor=actor.username, records=[lead])


def _usable(lead: Lead, pol: CaseworkPolicy, rule: str, what: str) -> None:
    if lead.outcome == "refuted":
        raise PolicyRefused(rule, f"lead {lead.id} ({lead.subject}) was refuted: no {what}")
    if pol.corroboration_required and not lead.corroboration:
        raise PolicyRefused(
            rule,
            f"{what} for lead {lead.id} ({lead.subject}) needs independent corroborating "
            "evidence on record first: a face search result is an investigative lead only",
        )


def suspect_identified(ctx: Context, actor: Actor, number: str, lead_id: int) -> None:
    pol = policy(ctx)
    with refusals(ctx, actor, "case.suspect", f"case:{number}"), ctx.session() as s:
        lead, case = _lead(s, lead_id)
        if case.number != number:
            raise InputError(f"lead {lead_id} belongs to case {case.number}, not {number}")
        check_case(s, current_user(s, actor), "case.suspect", case)
        _usable(lead, pol, "corroboration_before_suspect", "'suspect identified'")
        case.status = "suspect_identified"
        audit.append(
            s,
            "case.suspect",
            f"case:{case.number}",
            {"lead": lead.id},
            actor=actor.username,
            records=[case],
        )


def record_outcome(ctx: Context, actor: Actor, lead_id: int, outcome: str, details: str) -> None:
    """Outcomes are a history: each is added, none overwrites another."""
    obj = lead_object(ctx, lead_id)
    with refusals(ctx, actor, "lead.outcome", obj), ctx.session() as s:
        if outcome not in OUTCOMES:
            raise InputError(f"outcome must be one of {', '.join(OUTCOMES)}")
        lead, case = _lead(s, lead_id)
        user = current_user(s, actor)
        check_case(s, user, "lead.outcome", case)
        blind_to_lead(s, user, lead, case, policy(ctx, observe=False))
        if outcome == "corroborated" and not lead.corroboration:
            raise InputError("'corroborated' needs the corroborating evidence recorded first")
        entry = {
            "outcome": outcome,
            "details": details,
            "by": actor.username,
            "at": datetime.now().astimezone().isoformat(),
        }
        lead.outcomes = [*(lead.outcomes or []), entry]
        lead.outcome, lead.outcome_details = outcome, details
        audit.append(
            s,
            "lead.outcome",
            obj,
            {"outcome": outcome, "details": details},
            actor=actor.username,
            records=[lead],
        )


def outcome_stats(ctx: Context, actor: Actor) -> dict[str, dict[str, int]]:
    """Released leads by the candidate's recorded sex/race and latest outcome: the agency's
    real false-lead rate, by group (a supervisor: their unit's cases). A read: nothing is
    written."""
    with refusals(ctx, actor, "lead.stats", "leads"), ctx.session() as s:
        user = current_user(s, actor)
        authorize(user, "lead.stats")
        out: dict[str, dict[str, int]] = {}
        q = select(Lead).join(SearchRequest, Lead.request_id == SearchRequest.id)
        q = q.join(Case, Case.id == SearchRequest.case_id)
        if user.role != "auditor":
            q = q.where(Case.unit == user.unit)
        for lead in s.scalars(q):
            subj = s.scalars(select(Subject).where(Subject.external_id == lead.subject)).first()
            group = f"{subj.sex or '?'}/{subj.race or '?'}" if subj else "expunged/unknown"
            row = out.setdefault(group, {"released": 0, **{o: 0 for o in OUTCOMES}, "open": 0})
            row["released"] += 1
            row[lead.outcome or "open"] += 1
        return out
