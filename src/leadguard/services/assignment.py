"""Who may be assigned to a case, for the case page's assignment select (a read that writes
nothing; ``casework.service.assign`` still checks every assignment it makes).

Eligible: an active examiner or reviewer of the case's unit who is not assigned yet.
Supervisors act on their unit's cases without an assignment, auditors read every case and
admins never act in casework, so none of them is offered."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from leadguard.services.authz import NotAllowed
from leadguard.services.casework.service import ASSIGNABLE_ROLES, case_by_number, check_case
from leadguard.services.context import Actor, Context, current_user
from leadguard.storage.tables import CaseAssignment, User


@dataclass(frozen=True)
class Assignee:
    username: str
    role: str


def eligible_assignees(ctx: Context, actor: Actor, number: str) -> list[Assignee]:
    """The users ``actor`` could assign to case ``number`` now; none for a user who may not
    assign on it (no refusal: the page simply offers no assignment)."""
    with ctx.session() as s:
        case = case_by_number(s, number)
        try:
            check_case(s, current_user(s, actor), "case.assign", case)
        except NotAllowed:
            return []
        assigned = select(CaseAssignment.user_id).where(CaseAssignment.case_id == case.id)
        q = (
            select(User)
            .where(
                User.active.is_(True),
                User.role.in_(ASSIGNABLE_ROLES),
                User.unit == case.unit,
                User.id.not_in(assigned),
            )
            .order_by(User.username)
        )
        return [Assignee(u.username, u.role) for u in s.scalars(q)]
