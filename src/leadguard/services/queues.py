"""Work queues: what awaits the acting user now, read from the casework tables.

Each role's queue lists only what that user could act on (the same checks as the services
that act: ``authorize`` per case and unit, separation of duties, blind review), and names
no candidate: a request, a lead and a case by number only, never a subject, an image or a
score. A read: it writes nothing and decides nothing (each action is still checked by its
own service when it is taken).

- supervisor: requests to approve (of their unit, not their own), searches whose reviews
  are all in with a possible lead to release or a disagreement to adjudicate, leads
  awaiting corroboration or an outcome;
- examiner: approved requests to run, blind reviews assigned, leads awaiting corroboration
  or an outcome (on the cases they are assigned to);
- reviewer: blind reviews assigned;
- auditor, admin: nothing awaits them (their pages are reads).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from leadguard.services.authz import NotAllowed
from leadguard.services.casework.lead_state import independent, lead_final
from leadguard.services.casework.policy import CaseworkPolicy
from leadguard.services.casework.review import reviews_of, still_to_review
from leadguard.services.casework.service import check_case, policy
from leadguard.services.context import Actor, Context, current_user, refusals
from leadguard.storage.tables import Case, Lead, Review, SearchRequest, User

# kind -> the section's title, in the order the sections are shown
SECTIONS = {
    "approve": "Search requests to approve",
    "run": "Approved searches to run",
    "review": "Blind reviews assigned to you",
    "decide": "Reviews all in: release or adjudicate",
    "corroborate": "Leads awaiting independent corroboration",
    "outcome": "Leads awaiting an outcome",
}


@dataclass(frozen=True)
class QueueItem:
    kind: str  # a key of SECTIONS
    case: str
    request: int | None
    lead: int | None
    text: str  # what awaits, in words: never a candidate's name, image or score
    since: datetime | None = None


@dataclass(frozen=True)
class QueueSection:
    kind: str
    title: str
    items: tuple[QueueItem, ...]


@dataclass(frozen=True)
class Queue:
    sections: tuple[QueueSection, ...]  # only the sections this role can have, in order

    @property
    def total(self) -> int:
        return sum(len(x.items) for x in self.sections)


ROLE_SECTIONS = {
    "supervisor": ("approve", "decide", "corroborate", "outcome"),
    "examiner": ("run", "review", "corroborate", "outcome"),
    "reviewer": ("review",),
}


def work_queue(ctx: Context, actor: Actor) -> Queue:
    """What awaits ``actor`` now, by section (an empty queue for a role with no work)."""
    pol = policy(ctx, observe=False)
    with refusals(ctx, actor, "case.list", "queue"), ctx.session() as s:
        user = current_user(s, actor)
        kinds = ROLE_SECTIONS.get(user.role, ())
        items = _items(s, user, pol) if kinds else []
    return Queue(
        tuple(QueueSection(k, SECTIONS[k], tuple(i for i in items if i.kind == k)) for k in kinds)
    )


def _may(s: Session, user: User, action: str, case: Case) -> bool:
    try:
        check_case(s, user, action, case)
    except NotAllowed:
        return False
    return True


def _items(s: Session, user: User, pol: CaseworkPolicy) -> list[QueueItem]:
    out: list[QueueItem] = []
    for case in s.scalars(select(Case).order_by(Case.number)):
        if not _may(s, user, "case.view", case):
            continue  # another unit's case, or one the user is not assigned to
        q = select(SearchRequest).where(SearchRequest.case_id == case.id)
        for req in s.scalars(q.order_by(SearchRequest.id)):
            out += _request_items(s, user, pol, case, req)
    return out


def _request_items(
    s: Session, user: User, pol: CaseworkPolicy, case: Case, req: SearchRequest
) -> list[QueueItem]:
    n, rid = case.number, req.id
    if req.status == "pending":
        if req.requested_by != user.id and _may(s, user, "request.approve", case):
            text = f"request {rid}: {req.purpose}"
            return [QueueItem("approve", n, rid, None, text, req.created_at)]
        return []
    if req.status == "approved":
        if _may(s, user, "search.run", case):
            return [QueueItem("run", n, rid, None, f"request {rid}: approved, not run yet")]
        return []
    if req.status != "searched":
        return []
    reviews = reviews_of(s, req)
    if still_to_review(s, user, req, case, pol):
        if len(reviews) < pol.examiners_required:
            text = f"request {rid}: {len(reviews)} of {pol.examiners_required} reviews in"
            return [QueueItem("review", n, rid, None, text)]
        return []  # a third reviewer stays blind to what the reviews led to: no lead here
    out: list[QueueItem] = []
    if len(reviews) >= pol.examiners_required and _may(s, user, "lead.release", case):
        text = _to_decide(s, user, req, reviews[: pol.examiners_required])
        if text:
            out.append(QueueItem("decide", n, rid, None, text))
    for lead in s.scalars(select(Lead).where(Lead.request_id == rid).order_by(Lead.id)):
        if lead_final(s, lead):
            continue
        if not independent(s, lead):
            if _may(s, user, "lead.corroborate", case):
                text = f"lead {lead.id} (request {rid}): no independent corroboration on record"
                out.append(QueueItem("corroborate", n, rid, lead.id, text, lead.released_at))
        elif lead.outcome is None and _may(s, user, "lead.outcome", case):
            text = f"lead {lead.id} (request {rid}): corroborated, no outcome recorded"
            out.append(QueueItem("outcome", n, rid, lead.id, text, lead.released_at))
    return out


def _to_decide(s: Session, user: User, req: SearchRequest, reviews: list[Review]) -> str:
    """What is left to decide on a request whose reviews are all in, counted (no names):
    candidates some examiner called a possible lead, with no lead and no ruling yet."""
    parties = {r.examiner_id for r in reviews}
    if user.id in parties | {req.requested_by, req.searched_by}:
        return ""  # separation of duties: not this user's to release or adjudicate
    released = set(s.scalars(select(Lead.subject).where(Lead.request_id == req.id)))
    ruled = {a.get("subject") for a in req.adjudications or ()}
    concur = disagree = 0
    subjects = {k for r in reviews for k in r.decisions or {}}
    for subject in subjects - released - ruled:
        said = [(r.decisions or {}).get(subject, {}).get("decision") for r in reviews]
        if "possible_lead" not in said:
            continue
        if all(d == "possible_lead" for d in said):
            concur += 1
        else:
            disagree += 1
    parts = []
    if concur:
        parts.append(f"{concur} concurring possible lead(s) to release")
    if disagree:
        parts.append(f"{disagree} disagreement(s) to adjudicate")
    return f"request {req.id}: " + " and ".join(parts) if parts else ""
