"""Read-only views of casework: cases, requests, leads. A read writes nothing."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from leadguard.services.authz import NotAllowed, authorize
from leadguard.services.casework.leads import LeadInfo, lead_info
from leadguard.services.casework.policy import CaseworkPolicy
from leadguard.services.casework.review import still_to_review
from leadguard.services.casework.service import (
    CaseInfo,
    RequestInfo,
    case_by_number,
    case_info,
    is_assigned,
    policy,
    request_info,
)
from leadguard.services.context import Actor, Context, current_user, refusals
from leadguard.storage.tables import Case, Lead, SearchRequest, User


@dataclass(frozen=True)
class CaseDetail:
    case: CaseInfo
    requests: tuple[RequestInfo, ...]
    leads: tuple[LeadInfo, ...]


def _visible(s: Session, user: User, action: str) -> list[Case]:
    authorize(user, action)
    out = []
    for case in s.scalars(select(Case).order_by(Case.number)):
        try:
            authorize(user, action, case, is_assigned(s, user, case))
        except NotAllowed:
            continue
        out.append(case)
    return out


def list_cases(ctx: Context, actor: Actor) -> list[CaseInfo]:
    with refusals(ctx, actor, "case.list", "cases"), ctx.session() as s:
        return [case_info(s, c) for c in _visible(s, current_user(s, actor), "case.list")]


def _requests(s: Session, case: Case) -> list[SearchRequest]:
    q = select(SearchRequest).where(SearchRequest.case_id == case.id).order_by(SearchRequest.id)
    return list(s.scalars(q))


def _leads(s: Session, case: Case, user: User, pol: CaseworkPolicy) -> list[LeadInfo]:
    """The case's leads, but none of a request the user may still review (a third reviewer
    is blind to what the first reviews led to)."""
    ids = [r.id for r in _requests(s, case) if not still_to_review(s, user, r, case, pol)]
    q = select(Lead).where(Lead.request_id.in_(ids)).order_by(Lead.id)
    return [lead_info(s, lead, case.number) for lead in s.scalars(q)]


def show_case(ctx: Context, actor: Actor, number: str) -> CaseDetail:
    pol = policy(ctx, observe=False)
    with refusals(ctx, actor, "case.view", f"case:{number}"), ctx.session() as s:
        case = case_by_number(s, number)
        user = current_user(s, actor)
        authorize(user, "case.view", case, is_assigned(s, user, case))
        return CaseDetail(
            case_info(s, case),
            tuple(request_info(s, r, number) for r in _requests(s, case)),
            tuple(_leads(s, case, user, pol)),
        )


def list_requests(ctx: Context, actor: Actor, pending: bool = False) -> list[RequestInfo]:
    with refusals(ctx, actor, "request.list", "requests"), ctx.session() as s:
        out = []
        for case in _visible(s, current_user(s, actor), "request.list"):
            out += [
                request_info(s, r, case.number)
                for r in _requests(s, case)
                if not pending or r.status == "pending"
            ]
        return sorted(out, key=lambda r: r.id)


def list_leads(ctx: Context, actor: Actor) -> list[LeadInfo]:
    pol = policy(ctx, observe=False)
    with refusals(ctx, actor, "lead.list", "leads"), ctx.session() as s:
        out: list[LeadInfo] = []
        user = current_user(s, actor)
        for case in _visible(s, user, "lead.list"):
            out += _leads(s, case, user, pol)
        return sorted(out, key=lambda lead: lead.id)
