"""Leads: release by concurring examiners or adjudication, corroboration, the rules that
keep a face search from becoming an identification, outcomes and their statistics."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from leadguard.casework.authz import authorize
from leadguard.casework.policy import CaseworkPolicy, PolicyRefused
from leadguard.casework.service import (
    OUTCOMES,
    audit_log,
    check_case,
    get_request,
    policy,
    reviews_of,
)
from leadguard.errors import InputError
from leadguard.storage.models import Case, Lead, SearchRequest, Subject, User
from leadguard.workspace import Workspace


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


def _new_lead(
    s: Session,
    user: User,
    req: SearchRequest,
    case: Case,
    subject: str,
    basis: str,
    adjudication: dict[str, Any] | None,
) -> Lead:
    q = select(Lead).where(Lead.request_id == req.id, Lead.subject == subject)
    if s.scalars(q).first() is not None:
        raise InputError(f"{subject!r} has already been released as a lead of request {req.id}")
    lead = Lead(
        request_id=req.id,
        subject=subject,
        released_by=user.id,
        basis=basis,
        adjudication=adjudication,
        corroboration=[],
    )
    s.add(lead)
    s.flush()
    audit_log(
        s,
        user,
        "lead.release",
        f"case:{case.number}/lead:{lead.id}",
        {"subject": subject, "basis": basis, "request": req.id},
    )
    s.expunge(lead)
    return lead


def release(ws: Workspace, user: User, request_id: int, subject: str) -> Lead:
    """A lead leaves the unit only when every required examiner said "possible lead"."""
    pol = policy(ws)
    with ws.session() as s:
        req, case = get_request(s, request_id)
        check_case(s, user, "lead.release", case)
        decisions = _decisions(s, req, subject, pol)
        if any(d != "possible_lead" for d in decisions):
            raise PolicyRefused(
                "two_concurring_examiners",
                f"the examiners' decisions on {subject!r} are {decisions}: release needs "
                f"{pol.examiners_required} concurring 'possible_lead' decisions (a supervisor "
                "may adjudicate a disagreement)",
            )
        return _new_lead(s, user, req, case, subject, "concurring", None)


def adjudicate(
    ws: Workspace, user: User, request_id: int, subject: str, release_lead: bool, note: str
) -> Lead | None:
    """A supervisor settles a disagreement; the disagreement and the ruling stay on record."""
    pol = policy(ws)
    if not note.strip():
        raise InputError("an adjudication needs its reasons (--note)")
    with ws.session() as s:
        req, case = get_request(s, request_id)
        check_case(s, user, "lead.adjudicate", case)
        decisions = _decisions(s, req, subject, pol)
        if len(set(decisions)) == 1:
            raise InputError(
                f"the examiners agree on {subject!r} ({decisions[0]}): nothing to adjudicate"
            )
        ruling = {
            "subject": subject,
            "decisions": decisions,
            "release": release_lead,
            "note": note,
            "by": user.username,
            "on": date.today().isoformat(),
        }
        req.adjudications = [*req.adjudications, ruling]
        audit_log(s, user, "lead.adjudicate", f"case:{case.number}/request:{req.id}", ruling)
        return (
            _new_lead(s, user, req, case, subject, "adjudicated", ruling) if release_lead else None
        )


def _lead(s: Session, lead_id: int) -> tuple[Lead, Case]:
    lead = s.get(Lead, lead_id)
    if lead is None:
        raise InputError(f"lead {lead_id} does not exist")
    req = s.get(SearchRequest, lead.request_id)
    assert req is not None
    case = s.get(Case, req.case_id)
    assert case is not None
    return lead, case


def corroborate(
    ws: Workspace, user: User, lead_id: int, what: str, obtained_by: str, obtained_on: date
) -> None:
    """Independent evidence that links the candidate to the offence (not another look at
    the face): what it is, who obtained it, when."""
    if not what.strip() or not obtained_by.strip():
        raise InputError("corroboration needs what the evidence is and who obtained it")
    with ws.session() as s:
        lead, case = _lead(s, lead_id)
        check_case(s, user, "lead.corroborate", case)
        item = {
            "what": what,
            "obtained_by": obtained_by,
            "obtained_on": obtained_on.isoformat(),
            "recorded_by": user.username,
        }
        lead.corroboration = [*lead.corroboration, item]
        audit_log(s, user, "lead.corroborate", f"case:{case.number}/lead:{lead.id}", item)


def _needs_corroboration(lead: Lead, pol: CaseworkPolicy, rule: str, what: str) -> None:
    if pol.corroboration_required and not lead.corroboration:
        raise PolicyRefused(
            rule,
            f"{what} for lead {lead.id} ({lead.subject}) needs independent corroborating "
            "evidence on record first: a face search result is an investigative lead only",
        )


def record_lineup(ws: Workspace, user: User, lead_id: int) -> None:
    pol = policy(ws)
    with ws.session() as s:
        lead, case = _lead(s, lead_id)
        check_case(s, user, "lead.lineup", case)
        _needs_corroboration(lead, pol, "corroboration_before_lineup", "a photo lineup")
        lead.lineup_recorded = True
        audit_log(s, user, "lead.lineup", f"case:{case.number}/lead:{lead.id}", {})


def suspect_identified(ws: Workspace, user: User, number: str, lead_id: int) -> None:
    pol = policy(ws)
    with ws.session() as s:
        lead, case = _lead(s, lead_id)
        if case.number != number:
            raise InputError(f"lead {lead_id} belongs to case {case.number}, not {number}")
        check_case(s, user, "case.suspect", case)
        _needs_corroboration(lead, pol, "corroboration_before_suspect", "'suspect identified'")
        case.status = "suspect_identified"
        audit_log(s, user, "case.suspect", f"case:{case.number}", {"lead": lead.id})


def record_outcome(ws: Workspace, user: User, lead_id: int, outcome: str, details: str) -> None:
    if outcome not in OUTCOMES:
        raise InputError(f"outcome must be one of {', '.join(OUTCOMES)}")
    with ws.session() as s:
        lead, case = _lead(s, lead_id)
        check_case(s, user, "lead.outcome", case)
        if outcome == "corroborated" and not lead.corroboration:
            raise InputError("'corroborated' needs the corroborating evidence recorded first")
        lead.outcome, lead.outcome_details = outcome, details
        audit_log(
            s,
            user,
            "lead.outcome",
            f"case:{case.number}/lead:{lead.id}",
            {"outcome": outcome, "details": details},
        )


def outcome_stats(ws: Workspace, user: User) -> dict[str, dict[str, int]]:
    """Released leads by the candidate's recorded sex/race and outcome: the agency's real
    false-lead rate, by group."""
    authorize(user, "lead.stats")
    with ws.session() as s:
        out: dict[str, dict[str, int]] = {}
        for lead in s.scalars(select(Lead)):
            subj = s.scalars(select(Subject).where(Subject.external_id == lead.subject)).first()
            group = f"{subj.sex or '?'}/{subj.race or '?'}" if subj else "expunged/unknown"
            row = out.setdefault(group, {"released": 0, **{o: 0 for o in OUTCOMES}, "open": 0})
            row["released"] += 1
            row[lead.outcome or "open"] += 1
        audit_log(s, user, "lead.stats", "leads", {"groups": len(out)})
        return out
