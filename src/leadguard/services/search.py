"""The one door to a face search. In a workspace with accounts a search runs only from an
approved request (``casework.service.run_search``) or as a supervisor's urgent override: tied
to a case, with a written reason, flagged for review afterwards. A workspace with no accounts
(evaluation, demo) says on every search that it is unprotected; ``allow_unprotected = false``
forbids that mode."""

from __future__ import annotations

import hashlib
from contextlib import nullcontext
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy.orm import Session

from leadguard.audit import log as audit
from leadguard.core.errors import InputError, LeadGuardError
from leadguard.core.textsafe import free_text_problem
from leadguard.core.types import CandidateList
from leadguard.search.request import SearchRequest

__all__ = ["Override", "SearchRequest", "search"]
from leadguard.services.authz import NotAllowed
from leadguard.services.context import Actor, Context, current_user, refusals

UNPROTECTED = (
    "UNPROTECTED WORKSPACE: it has no accounts, so this search was not authorised, approved or "
    "reviewed; use such a workspace for evaluation and demonstration only"
)


@dataclass(frozen=True)
class Override:
    """A supervisor's urgent search outside a request: audited and flagged for review."""

    case: str
    reason: str


def search(
    ctx: Context,
    actor: Actor | None,
    request: SearchRequest,
    override: Override | None = None,
) -> CandidateList:
    """A search outside casework: unprotected mode, or a supervisor's urgent override (its
    audit entry written in the search's own transaction)."""
    from leadguard.search.run import search as run_search
    from leadguard.services.casework.sealed_faces import sealed_faces
    from leadguard.services.casework.service import case_by_number, check_case

    protected = ctx.has_accounts()
    obj = f"case:{override.case}" if override else f"probe:{request.probe.name}"
    with refusals(ctx, actor, "search", obj):
        if not protected:
            if not ctx.settings.allow_unprotected:
                raise NotAllowed(
                    "this workspace has no accounts and allow_unprotected is false: create "
                    "accounts (`leadguard user add`) and search from approved requests"
                )
        elif override is None or actor is None:
            raise NotAllowed(
                "in a workspace with accounts a search runs only from an approved request "
                "(`leadguard request run`), or as a supervisor's urgent override "
                "(`leadguard search --urgent --case N --reason TEXT` after `leadguard login`)"
            )
        else:
            if not override.reason.strip():
                raise InputError("an urgent override needs its written reason (--reason)")
            if problem := free_text_problem("the override's reason", override.reason):
                raise InputError(problem)
            with ctx.read_session() as s:  # a check: no writer lock
                case = case_by_number(s, override.case)
                check_case(s, current_user(s, actor), "search.override", case)
                request = with_case_groups(request, case.attributes)
                refuse_if_under_review(ctx, s, request)
        if not protected:
            acting = audit.acting_as(actor.username) if actor else nullcontext()
            # a failed search logs itself (search-log row, audit entry)
            with acting, ctx.borrowed_model() as model:
                result = run_search(ctx.ws, request, model=model)
            return replace(result, notices=(UNPROTECTED, *result.notices))
        assert override is not None and actor is not None
        by, reason, number = actor.username, override.reason, override.case

        def flag(s: Session, result: CandidateList) -> None:  # in the search's transaction
            audit.append(
                s,
                "search.override",
                f"case:{number}/search:{result.search_id}",
                {
                    "reason": reason,
                    "search": result.search_id,
                    "probe_sha256": result.probe_sha256,
                    "flagged_for_review": True,
                },
                actor=by,
            )

        # a failed search logs itself (search-log row, audit entry)
        with audit.acting_as(by), ctx.borrowed_model() as model:
            with ctx.read_session() as s:  # the person of a sealed request, in any photo
                sealed = sealed_faces(ctx, s, model, lambda: examiners_required(ctx))
            result = run_search(ctx.ws, request, model=model, then=flag, screen=sealed.check)
        return replace(
            result,
            notices=(
                f"URGENT OVERRIDE by {by} on case {number}: flagged for supervisory review",
                *result.notices,
            ),
        )


def refuse_if_under_review(ctx: Context, s: Session, request: SearchRequest) -> None:
    """An urgent search of a photo that a search request is waiting on (its search not yet
    run, or its blind reviews not all in) is refused: its list would show that request's
    candidates before the examiners' own decisions, before the probe is embedded. (The same
    photo re-encoded, or the file replaced after this read, is caught by the face screen,
    ``sealed_faces``, which also compares the bytes actually searched.)"""
    from leadguard.pipeline.decode import read_file
    from leadguard.services.casework.blind import before_review
    from leadguard.services.casework.policy import PolicyRefused
    from leadguard.services.casework.sealed_faces import SEALED_BYTES
    from leadguard.storage.tables import ProbeRecord

    if request.stored_probe is not None:
        row = s.get(ProbeRecord, request.stored_probe)
        sha = row.sha256 if row is not None else ""
    else:
        try:
            data = read_file(request.probe, ctx.settings.max_image_bytes)
        except LeadGuardError:
            return  # the search refuses the file itself, with its own message
        sha = hashlib.sha256(data).hexdigest()
    if sha and before_review(s, sha, lambda: examiners_required(ctx)):
        raise PolicyRefused("sealed_probe", SEALED_BYTES)


def examiners_required(ctx: Context) -> int:
    """The casework policy's examiners per search (the adopted policy's)."""
    from leadguard.services.casework.service import policy

    return policy(ctx, observe=False).examiners_required


def with_case_groups(request: SearchRequest, attributes: dict[str, Any] | None) -> SearchRequest:
    """An urgent search on a case groups its probe as the case describes the person sought,
    where the request itself names no group."""
    from leadguard.services.casework.service import described_groups

    if request.probe_sex is not None or request.probe_race is not None:
        return request
    sex, race = described_groups(attributes)
    return replace(request, probe_sex=sex, probe_race=race)
