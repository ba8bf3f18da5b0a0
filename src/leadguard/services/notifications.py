"""In-app notifications, derived from the audit trail and the casework tables (no table of
their own): something assigned to the user or changed on their work, by someone else.

| audit entry | who is told |
|---|---|
| ``case.assign`` | the user assigned |
| ``request.create`` | the supervisors who may approve it |
| ``request.approve`` | the request's requester |
| ``search.run`` | the users who may review the search (their blind review is assigned) |
| ``review.submit`` (the last required review) | the supervisors who may release or adjudicate |
| ``lead.release``, ``lead.adjudicate`` | examiners and supervisors of the case not blind to it |

Each is told only of cases they may view now (``authorize`` per case and unit), and the
text is LeadGuard's own: the case, request and lead by number and who acted, never an
entry's details, so nothing of a search under blind review (candidate names, images,
scores, decisions) is in a notification. A user who may still review a request is told of
nothing that follows its search but their own review being assigned.

Reading: a user marks their notifications read up to an entry (``mark_read``), itself an
audit entry (``notification.read``, object ``user:NAME``, details ``{"through": seq}``): the
newest such entry of the user is the read marker, so no table is added and the audit
chain's covered tables are unchanged."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from leadguard.audit import log as audit
from leadguard.core import textsafe
from leadguard.core.errors import InputError
from leadguard.services.authz import NotAllowed
from leadguard.services.casework.policy import CaseworkPolicy, PolicyRefused
from leadguard.services.casework.review import require_may_review, still_to_review
from leadguard.services.casework.service import check_case, policy
from leadguard.services.context import Actor, Context, current_user, refusals
from leadguard.storage.tables import AuditEntry, Case, Lead, SearchRequest, User

READ_ACTION = "notification.read"
NOTIFYING = (
    "case.assign",
    "request.create",
    "request.approve",
    "search.run",
    "review.submit",
    "lead.release",
    "lead.adjudicate",
)
SCAN = 2000  # newest entries of the notifying actions looked at, at most
SHOWN = 100
_REQUEST = re.compile(r"/request:(\d+)$")
_LEAD = re.compile(r"/lead:(\d+)$")


@dataclass(frozen=True)
class Notification:
    seq: int  # the audit entry it comes from
    at: str  # as stored: ISO 8601, UTC
    case: str
    text: str
    request: int | None = None
    lead: int | None = None


@dataclass(frozen=True)
class Notifications:
    unread: tuple[Notification, ...]  # newest first
    through: int  # the newest entry looked at: what "mark read" marks read up to
    read_through: int = 0  # the user's read marker before this read


@dataclass
class _Reader:
    s: Session
    user: User
    pol: CaseworkPolicy
    cases: dict[str, Case | None] = field(default_factory=dict)
    viewable: dict[str, bool] = field(default_factory=dict)

    def case(self, number: str) -> Case | None:
        if number not in self.cases:
            self.cases[number] = self.s.scalars(select(Case).where(Case.number == number)).first()
        return self.cases[number]

    def may(self, action: str, case: Case) -> bool:
        key = f"{action} {case.number}"
        if key not in self.viewable:
            try:
                check_case(self.s, self.user, action, case)
                self.viewable[key] = True
            except NotAllowed:
                self.viewable[key] = False
        return self.viewable[key]


def read_marker(s: Session, username: str) -> int:
    q = (
        select(AuditEntry.details)
        .where(AuditEntry.action == READ_ACTION, AuditEntry.actor == username)
        .order_by(AuditEntry.seq.desc())
        .limit(1)
    )
    details = s.scalar(q)
    through = details.get("through") if isinstance(details, dict) else None
    return through if isinstance(through, int) else 0


def notifications(ctx: Context, actor: Actor) -> Notifications:
    """The user's unread notifications, newest first (a read: writes nothing)."""
    pol = policy(ctx, observe=False)
    with refusals(ctx, actor, "case.list", "notifications"), ctx.session() as s:
        user = current_user(s, actor)
        marker = read_marker(s, user.username)
        q = (
            select(AuditEntry)
            .where(
                AuditEntry.action.in_(NOTIFYING),
                AuditEntry.seq > marker,
                AuditEntry.actor != user.username,
            )
            .order_by(AuditEntry.seq.desc())
            .limit(SCAN)
        )
        reader = _Reader(s, user, pol)
        out: list[Notification] = []
        newest = marker
        for e in s.scalars(q):
            newest = max(newest, e.seq)
            note = _notice(reader, e)
            if note is not None:
                out.append(note)
                if len(out) >= SHOWN:
                    break
        return Notifications(tuple(out), newest, marker)


def mark_read(ctx: Context, actor: Actor, through: int) -> int:
    """Mark the user's notifications read up to audit entry ``through`` (audited); returns
    the marker. A marker is never moved back, nor past the newest entry."""
    with refusals(ctx, actor, READ_ACTION, f"user:{actor.username}"), ctx.session() as s:
        user = current_user(s, actor)
        head = int(s.scalar(select(func.max(AuditEntry.seq))) or 0)
        if not 0 <= through <= head:
            raise InputError(f"notifications read up to entry {through}: no such entry")
        marker = max(read_marker(s, user.username), through)
        audit.append(
            s, READ_ACTION, f"user:{user.username}", {"through": marker}, actor=user.username
        )
        return marker


def _ids(obj: str) -> tuple[int | None, int | None]:
    r, ld = _REQUEST.search(obj), _LEAD.search(obj)
    return (int(r.group(1)) if r else None), (int(ld.group(1)) if ld else None)


def _may_review(r: _Reader, req: SearchRequest, case: Case) -> bool:
    try:
        require_may_review(r.s, r.user, req, case, "review.submit", r.pol)
    except (NotAllowed, PolicyRefused):
        return False
    return True


def _notice(r: _Reader, e: AuditEntry) -> Notification | None:
    number = textsafe.case_of(e.object)
    case = r.case(number) if number else None
    if case is None or not r.may("case.view", case):
        return None
    rid, lid = _ids(e.object)
    if e.action == "case.assign":
        if (e.details or {}).get("user") != r.user.username:
            return None
        return Notification(
            e.seq, e.at, case.number, f"{e.actor} assigned you to case {case.number}"
        )
    req: SearchRequest | None = None
    if lid is not None:
        lead = r.s.get(Lead, lid)
        req = r.s.get(SearchRequest, lead.request_id) if lead is not None else None
    elif rid is not None:
        req = r.s.get(SearchRequest, rid)
    if req is None or req.case_id != case.id:
        return None
    text = _text(r, e, req, case, lid)
    return Notification(e.seq, e.at, case.number, text, req.id, lid) if text else None


def _text(r: _Reader, e: AuditEntry, req: SearchRequest, case: Case, lead: int | None) -> str:
    n, who = case.number, e.actor
    if e.action == "request.create":
        if r.user.id == req.requested_by or not r.may("request.approve", case):
            return ""
        return f"{who} filed search request {req.id} on case {n}: it awaits approval"
    if e.action == "request.approve":
        if r.user.id != req.requested_by:
            return ""
        return f"{who} approved your search request {req.id} on case {n}: it can be run"
    if e.action == "search.run":
        if not _may_review(r, req, case):
            return ""
        return f"search request {req.id} on case {n} was run: a blind review is assigned to you"
    if still_to_review(r.s, r.user, req, case, r.pol) or r.user.role not in (
        "examiner",
        "supervisor",
    ):
        return ""  # blind to what the reviews led to; reviewers and auditors act on no lead
    if e.action == "review.submit":
        if not r.may("lead.release", case) or not _completes(r.s, e, r.pol):
            return ""
        return (
            f"every blind review of search request {req.id} on case {n} is in: release or "
            "adjudicate"
        )
    if e.action == "lead.release":
        return f"{who} released lead {lead} from search request {req.id} on case {n}"
    if e.action == "lead.adjudicate":
        return f"{who} adjudicated a disagreement on search request {req.id} on case {n}"
    return ""


def _completes(s: Session, e: AuditEntry, pol: CaseworkPolicy) -> bool:
    """The entry is the review that brought the request to its required number."""
    q = select(func.count(AuditEntry.id)).where(
        AuditEntry.action == "review.submit",
        AuditEntry.object == e.object,
        AuditEntry.seq <= e.seq,
    )
    return int(s.scalar(q) or 0) == pol.examiners_required
