"""Leads: release by concurring examiners whose checks are consistent or explained, or by a
supervisor's adjudication that answers every inconsistency (a release reversed only on an
independent third review; an exclusion final); the rules that keep a face search from
becoming an identification; outcomes as a history in which "refuted" is final.
Corroboration is recorded by ``casework.corroboration``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from leadguard.audit import log as audit
from leadguard.core.errors import InputError
from leadguard.services.authz import authorize
from leadguard.services.casework.checks import (
    AdjudicationBrief,
    brief_of,
    check_answers,
    log_brief,
    read_brief_first,
    refuse_release,
    reviews_needed,
)
from leadguard.services.casework.lead_state import (
    corroboration_dicts,
    get_lead,
    independent,
    lead_final,
    lead_object,
    refuse_if_final,
    showing_dicts,
)
from leadguard.services.casework.policy import CaseworkPolicy, PolicyRefused
from leadguard.services.casework.review import blind_to_lead, reviews_of
from leadguard.services.casework.service import (
    OUTCOMES,
    check_case,
    get_request,
    policy,
    request_object,
)
from leadguard.services.context import Actor, Context, current_user, refusals
from leadguard.storage.tables import Case, Lead, SearchRequest, Subject, User


@dataclass(frozen=True)
class LeadInfo:
    id: int
    case: str
    request: int
    subject: str
    basis: str
    released_by: str
    released_at: datetime
    corroboration: tuple[dict[str, Any], ...]  # records, then legacy free text (never counted)
    lineup_recorded: bool
    outcome: str | None
    outcomes: tuple[dict[str, Any], ...]
    independent: bool = False  # evidence linking the person to the offence is on record
    final: str | None = None  # why the lead is closed for good (refuted, excluded)
    lineups: tuple[dict[str, Any], ...] = ()  # photo-array showings, with the witness type


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
        tuple(corroboration_dicts(s, lead)),
        lead.lineup_recorded,
        lead.outcome,
        tuple(lead.outcomes or ()),
        independent(s, lead),
        lead_final(s, lead),
        tuple(showing_dicts(s, lead)),
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
        first = reviews_of(s, req)[: pol.examiners_required]
        refuse_release(brief_of(s, req, case, subject, first))
        return _new_lead(s, actor, req, case, subject, "concurring", None)


def adjudication_brief(
    ctx: Context, actor: Actor, request_id: int, subject: str
) -> AdjudicationBrief:
    """Every examiner's decision, feature notes and exculpatory checks on ``subject``, and
    the inconsistencies a ruling must answer. A supervisor reads it before ``adjudicate``
    (which refuses otherwise); the reading is audited."""
    pol = policy(ctx)
    obj = request_object(None, request_id, ctx)
    with refusals(ctx, actor, "lead.adjudicate", obj), ctx.session() as s:
        req, case = get_request(s, request_id)
        user = current_user(s, actor)
        check_case(s, user, "lead.adjudicate", case)
        _not_a_party(s, user, req)
        brief = brief_of(s, req, case, subject, reviews_needed(reviews_of(s, req), pol))
        log_brief(s, obj, actor.username, brief)  # every review, a third one included
        return brief


def adjudicate(
    ctx: Context,
    actor: Actor,
    request_id: int,
    subject: str,
    release_lead: bool,
    note: str,
    answers: dict[str, str] | None = None,
) -> LeadInfo | None:
    """A supervisor settles a disagreement, or inconsistencies the reviews left open, after
    reading ``adjudication_brief``; ``answers`` maps each check in ``brief.to_answer`` to
    the written answer. The ruling is final: an exclusion for good; a release reversed only
    on an independent third review submitted after it. Every ruling stays on record."""
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
        brief = brief_of(s, req, case, subject, reviews_of(s, req))
        read_brief_first(s, obj, actor.username, brief)
        open_items = brief.to_answer if decisions[0] == "possible_lead" else ()
        if len(set(decisions)) == 1 and not open_items:
            raise InputError(
                f"the examiners agree on {subject!r} ({decisions[0]}): nothing to adjudicate"
            )
        check_answers(brief, answers or {})
        earlier = [a for a in req.adjudications or () if a.get("subject") == subject]
        if earlier and not earlier[-1].get("release"):
            raise PolicyRefused(
                "exclusion_final",
                f"{subject!r} was excluded by adjudication on {earlier[-1]['on']} by "
                f"{earlier[-1]['by']}: an exclusion is final",
            )
        ruling: dict[str, Any] = {
            "subject": subject,
            "decisions": decisions,
            "release": release_lead,
            "note": note,
            "answers": {k: answers[k] for k in brief.to_answer} if answers else {},
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


def require_usable(s: Session, lead: Lead, pol: CaseworkPolicy, rule: str, what: str) -> None:
    refuse_if_final(s, lead, what)
    if pol.corroboration_required and not independent(s, lead):
        raise PolicyRefused(
            rule,
            f"{what} for lead {lead.id} ({lead.subject}) needs independent evidence linking "
            "the person to the offence on record first (presence-only evidence does not): a "
            "face search result is an investigative lead only",
        )


def suspect_identified(ctx: Context, actor: Actor, number: str, lead_id: int) -> None:
    pol = policy(ctx)
    with refusals(ctx, actor, "case.suspect", f"case:{number}"), ctx.session() as s:
        lead, case = get_lead(s, lead_id)
        if case.number != number:
            raise InputError(f"lead {lead_id} belongs to case {case.number}, not {number}")
        check_case(s, current_user(s, actor), "case.suspect", case)
        require_usable(s, lead, pol, "corroboration_before_suspect", "'suspect identified'")
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
        lead, case = get_lead(s, lead_id)
        user = current_user(s, actor)
        check_case(s, user, "lead.outcome", case)
        blind_to_lead(s, user, lead, case, policy(ctx, observe=False))
        why = lead_final(s, lead)
        if why:
            raise PolicyRefused(
                "lead_final", f"lead {lead.id} ({lead.subject}) is final: {why}; no later outcome"
            )
        if outcome == "corroborated" and not independent(s, lead):
            raise PolicyRefused(
                "corroboration_before_suspect",
                "'corroborated' needs independent evidence linking the person to the offence "
                "on record first",
            )
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
