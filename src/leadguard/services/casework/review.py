"""Blind, independent review: packets without scores, decisions with FISWG feature notes and
the exculpatory checklist, reveal only once every required examiner has submitted."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from leadguard.audit import log as audit
from leadguard.core.errors import InputError
from leadguard.services.authz import NotAllowed
from leadguard.services.casework.blind import lettered
from leadguard.services.casework.checks import check_checklist, required_checks
from leadguard.services.casework.policy import CaseworkPolicy, PolicyRefused
from leadguard.services.casework.service import (
    candidates_of,
    check_case,
    get_request,
    policy,
    request_object,
)
from leadguard.services.context import Actor, Context, current_user, refusals
from leadguard.storage.tables import Case, Lead, Review, SearchRequest, User

DECISIONS = ("exclusion", "inconclusive", "possible_lead")
# FISWG facial image comparison feature list (abridged to its component groups)
FEATURES = (
    "face_shape",
    "hairline",
    "forehead",
    "eyebrows",
    "eyes",
    "cheeks",
    "nose",
    "ears",
    "mouth",
    "chin",
    "jawline",
    "neck",
    "facial_hair",
    "marks_scars_tattoos",
    "other",
)


@dataclass(frozen=True)
class PacketCandidate:
    """A candidate by letter only: no name, record id, image path, score or rank; the
    gallery photo's date stays (its age is a required check)."""

    letter: str
    photo_date: str | None = None


@dataclass(frozen=True)
class Packet:
    """What an examiner sees: no score, rank, evidence or anyone else's decision."""

    request: int
    case: str
    probe_id: int | None
    probe_sha256: str | None
    incident_description: str
    person_sought: dict[str, Any]
    candidates: tuple[PacketCandidate, ...]
    decisions: tuple[str, ...] = DECISIONS
    features: tuple[str, ...] = FEATURES
    known_facts: dict[str, Any] | None = None  # facts the case records about the person
    required_checks: tuple[str, ...] = ()  # the checks a possible_lead must carry


@dataclass(frozen=True)
class ExaminerReview:
    examiner: str
    decisions: dict[str, Any]


@dataclass(frozen=True)
class Reveal:
    request: int
    case: str
    candidates: tuple[dict[str, Any], ...]  # as logged with the search (score, rank, evidence)
    reviews: tuple[ExaminerReview, ...]
    adjudications: tuple[dict[str, Any], ...]


@dataclass(frozen=True)
class QueueItem:
    request: int
    case: str
    candidates: int


def reviews_of(s: Session, req: SearchRequest) -> list[Review]:
    q = select(Review).where(Review.request_id == req.id).order_by(Review.id)
    return list(s.scalars(q))


def require_may_review(
    s: Session, user: User, req: SearchRequest, case: Case, action: str, pol: CaseworkPolicy
) -> None:
    check_case(s, user, action, case)
    if not pol.searcher_may_review and req.searched_by == user.id:
        raise PolicyRefused(
            "searcher_may_review", "the examiner who ran the search may not review it"
        )
    if user.id in (req.requested_by, req.approved_by):
        raise PolicyRefused(
            "separation_of_duties", "the requester or approver of a search may not review it"
        )


def blind_packet(ctx: Context, actor: Actor, request_id: int) -> Packet:
    pol = policy(ctx)
    obj = request_object(None, request_id, ctx)
    with refusals(ctx, actor, "review.packet", obj), ctx.session() as s:
        req, case = get_request(s, request_id)
        require_may_review(s, current_user(s, actor), req, case, "review.packet", pol)
        cands = candidates_of(s, req)
        audit.append(
            s, "review.packet", obj, {"candidates_viewed": len(cands)}, actor=actor.username
        )
        return Packet(
            req.id,
            case.number,
            req.probe_id,
            req.probe_sha256,
            case.description,
            dict(case.attributes),
            tuple(
                PacketCandidate(k, c.get("encounter_date"))
                for k, c in lettered(req.id, actor.id, cands)
            ),
            known_facts=dict(case.known_facts or {}),
            required_checks=required_checks(case),
        )


def check_decision(subject: str, d: Any, required: tuple[str, ...] = ()) -> None:
    """One candidate's decision: its kind, confidence, FISWG notes and the exculpatory
    checklist (``required``: the checks a possible lead must carry, ``required_checks``)."""
    if not isinstance(d, dict) or d.get("decision") not in DECISIONS:
        raise InputError(f"{subject}: decision must be one of {', '.join(DECISIONS)}")
    if not isinstance(d.get("confidence"), int) or not 1 <= d["confidence"] <= 5:
        raise InputError(f"{subject}: confidence must be a whole number from 1 to 5")
    features = d.get("features", {})
    if not isinstance(features, dict):
        raise InputError(f"{subject}: features must map FISWG features to notes")
    unknown = set(features) - set(FEATURES)
    if unknown:
        raise InputError(f"{subject}: unknown features {sorted(unknown)}")
    if d["decision"] == "possible_lead" and not any(str(v).strip() for v in features.values()):
        raise InputError(f"{subject}: a possible_lead needs the FISWG feature notes")
    check_checklist(subject, d, required)


def still_to_review(
    s: Session, user: User, req: SearchRequest, case: Case, pol: CaseworkPolicy
) -> bool:
    """The user may review this request and has not yet (a third reviewer too): blind to it
    (no reveal, no name, no score, no decision) until they have submitted."""
    try:
        require_may_review(s, user, req, case, "review.submit", pol)
    except (NotAllowed, PolicyRefused):
        return False
    return not any(r.examiner_id == user.id for r in reviews_of(s, req))


def blind_to_lead(s: Session, user: User, lead: Lead, case: Case, pol: CaseworkPolicy) -> None:
    """A user who may still review a lead's request does not work (nor see) its leads: they
    would learn what the reviews led to."""
    req = s.get(SearchRequest, lead.request_id)
    if req is not None and still_to_review(s, user, req, case, pol):
        raise PolicyRefused(
            "blind_review",
            f"{user.username} may still review request {req.id}: its leads are not theirs to "
            "work until their own review is in",
        )


def submit_review(ctx: Context, actor: Actor, request_id: int, decisions: dict[str, Any]) -> None:
    """``decisions`` by the letters of the examiner's packet (A, B, ...); stored by subject."""
    pol = policy(ctx)
    obj = request_object(None, request_id, ctx)
    with refusals(ctx, actor, "review.submit", obj), ctx.session() as s:
        req, case = get_request(s, request_id)
        require_may_review(s, current_user(s, actor), req, case, "review.submit", pol)
        by_letter = {k: c["subject"] for k, c in lettered(req.id, actor.id, candidates_of(s, req))}
        if set(decisions) != set(by_letter):
            raise InputError(
                f"a review must decide on every candidate of the packet, by letter, and no "
                f"other: missing {sorted(set(by_letter) - set(decisions))}, unknown "
                f"{len(set(decisions) - set(by_letter))}"
            )
        for k, d in decisions.items():
            check_decision(k, d, required_checks(case))
        decisions = {by_letter[k]: d for k, d in decisions.items()}
        if any(r.examiner_id == actor.id for r in reviews_of(s, req)):
            raise InputError(f"{actor.username} has already submitted a review of request {req.id}")
        row = Review(request_id=req.id, examiner_id=actor.id, decisions=decisions)
        s.add(row)
        audit.append(
            s,
            "review.submit",
            obj,
            {"decisions": {k: v["decision"] for k, v in decisions.items()}},
            actor=actor.username,
            records=[row],
        )


def reveal(ctx: Context, actor: Actor, request_id: int) -> Reveal:
    """Scores, ranks and every examiner's decisions: only once enough examiners submitted."""
    pol = policy(ctx)
    obj = request_object(None, request_id, ctx)
    with refusals(ctx, actor, "review.reveal", obj), ctx.session() as s:
        req, case = get_request(s, request_id)
        user = current_user(s, actor)
        check_case(s, user, "review.reveal", case)
        reviews = reviews_of(s, req)
        if len(reviews) < pol.examiners_required:
            raise PolicyRefused(
                "examiners_required",
                f"{len(reviews)} of {pol.examiners_required} independent reviews submitted: "
                "nothing is revealed before all are in",
            )
        if still_to_review(s, user, req, case, pol):
            raise PolicyRefused(
                "blind_review",
                f"{actor.username} may still review request {req.id}: the reveal is shown to "
                "a reviewer only after their own review is in",
            )
        names = {u.id: u.username for u in s.scalars(select(User))}
        audit.append(s, "review.reveal", obj, {}, actor=actor.username)
        return Reveal(
            req.id,
            case.number,
            tuple(candidates_of(s, req)),
            tuple(ExaminerReview(names[r.examiner_id], dict(r.decisions)) for r in reviews),
            tuple(req.adjudications or ()),
        )


def queue(ctx: Context, actor: Actor) -> list[QueueItem]:
    """My pending reviews: searched requests on my cases that I may review and have not."""
    pol = policy(ctx, observe=False)
    with refusals(ctx, actor, "review.queue", "reviews"), ctx.session() as s:
        user = current_user(s, actor)
        from leadguard.services.authz import authorize

        authorize(user, "review.queue")
        out = []
        for req in s.scalars(
            select(SearchRequest)
            .where(SearchRequest.status == "searched")
            .order_by(SearchRequest.id)
        ):
            case = s.get(Case, req.case_id)
            assert case is not None
            try:
                require_may_review(s, user, req, case, "review.queue", pol)
            except Exception:
                continue
            if any(r.examiner_id == actor.id for r in reviews_of(s, req)):
                continue
            if len(reviews_of(s, req)) >= pol.examiners_required:
                continue
            out.append(QueueItem(req.id, case.number, len(candidates_of(s, req))))
        return out
