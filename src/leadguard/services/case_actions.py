"""Which actions on a case's requests the acting user could take now, so that pages offer
only those (and say what would make the others possible). A read: it writes nothing and
decides nothing; every action is still checked by its own service when it is taken."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from leadguard.services.authz import NotAllowed
from leadguard.services.casework.review import reviews_of, still_to_review
from leadguard.services.casework.service import check_case, policy
from leadguard.services.context import Actor, Context, current_user
from leadguard.storage.tables import Case, SearchRequest


@dataclass(frozen=True)
class Possible:
    ok: bool
    why_not: str = ""  # what would make it possible (empty: not this user's to take)


NO = Possible(False)


@dataclass(frozen=True)
class RequestActions:
    approve: Possible = NO
    run: Possible = NO
    review: Possible = NO
    reveal: Possible = NO


def request_actions(ctx: Context, actor: Actor, number: str) -> dict[int, RequestActions]:
    """Request id -> what ``actor`` may do with it now (a case they may not read: none)."""
    pol = policy(ctx, observe=False)
    out: dict[int, RequestActions] = {}
    with ctx.session() as s:
        case = s.scalars(select(Case).where(Case.number == number)).first()
        if case is None:
            return out
        user = current_user(s, actor)

        def allowed(action: str) -> bool:
            try:
                check_case(s, user, action, case)
            except NotAllowed:
                return False
            return True

        may = {a: allowed(a) for a in ("request.approve", "search.run", "review.reveal")}
        q = select(SearchRequest).where(SearchRequest.case_id == case.id)
        for req in s.scalars(q.order_by(SearchRequest.id)):
            approve = run = review = reveal = NO
            if req.status == "pending" and may["request.approve"]:
                approve = (
                    Possible(True)
                    if req.requested_by != user.id
                    else Possible(False, "another supervisor approves it: not its requester")
                )
            if req.status == "approved" and may["search.run"]:
                run = Possible(True)
            if req.status == "searched":
                review = Possible(True) if still_to_review(s, user, req, case, pol) else NO
                if may["review.reveal"] and not review.ok:
                    n = len(reviews_of(s, req))
                    need = pol.examiners_required
                    reveal = (
                        Possible(True)
                        if n >= need
                        else Possible(False, f"after every blind review is in ({n} of {need})")
                    )
                elif may["review.reveal"]:
                    reveal = Possible(False, "after your own blind review is in")
            out[req.id] = RequestActions(approve, run, review, reveal)
    return out
