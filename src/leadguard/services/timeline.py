"""A case's timeline from its audit trail, for the case page: when, who, what (the action
and the part of the case it concerned), oldest first, never an entry's details.

Who reads it: whoever may view the case (``case.view``: examiners and reviewers assigned,
supervisors of its unit, auditors); the details stay on the audit page, which is for
``audit.read`` and is itself audited. The entries are the case's whole trail exactly as
``services.audit.entries`` selects them (its own entries, and those of the searches and
probes its requests ran), with the same blind-review sealing (``casework.blind.seal``).
Further, for a user who may still review one of its requests, every entry of that request,
its search and its leads from the search on is shown sealed, its action hidden too: they
learn nothing of what the other reviews led to before their own is in."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from leadguard.core import textsafe
from leadguard.services.audit import entries
from leadguard.services.casework.review import still_to_review
from leadguard.services.casework.service import case_by_number, check_case, policy
from leadguard.services.context import Actor, Context, current_user, refusals
from leadguard.storage.tables import AuditEntry, Case, Lead, SearchRequest

MAX_ENTRIES = 1000  # the newest entries of a very long trail; the audit page has them all


@dataclass(frozen=True)
class TimelineEntry:
    seq: int
    at: str  # as stored: ISO 8601, UTC
    actor: str
    action: str  # the audit action ("" when sealed for this reader, action and all)
    part: str  # what of the case it concerned, in words: "the case", "request 3", ...
    sealed: str = ""  # why the entry's content is not shown (blind review)


@dataclass(frozen=True)
class Timeline:
    case: str
    entries: tuple[TimelineEntry, ...]  # oldest first
    left_out: int = 0  # older entries not shown (more than MAX_ENTRIES)


def case_timeline(ctx: Context, actor: Actor, number: str) -> Timeline:
    """The timeline of case ``number`` as ``actor`` may see it (a read: writes nothing)."""
    pol = policy(ctx, observe=False)
    with refusals(ctx, actor, "case.view", f"case:{number}"), ctx.session() as s:
        case = case_by_number(s, number)
        user = current_user(s, actor)
        check_case(s, user, "case.view", case)
        rows = entries(s, number, "", pol.examiners_required)
        q = select(SearchRequest).where(SearchRequest.case_id == case.id)
        blind = [r for r in s.scalars(q) if still_to_review(s, user, r, case, pol)]
        hidden = [_blind_objects(s, case, r) for r in blind]
        out = []
        for e in rows:
            why = "sealed: blind review" if e.get("sealed") else ""
            action, who = e["action"], e["actor"]
            for start, objects in hidden:
                if e["seq"] >= start and e["object"] in objects:
                    why, action, who = "sealed until your own blind review is in", "", ""
            out.append(TimelineEntry(e["seq"], e["at"], who, action, part(e["object"]), why))
    left = max(0, len(out) - MAX_ENTRIES)
    return Timeline(case.number, tuple(out[left:]), left)


def _blind_objects(s: Session, case: Case, req: SearchRequest) -> tuple[int, set[str]]:
    """The first sequence number of the request's search and the objects of the request,
    its search and its leads."""
    objects = {f"case:{case.number}/request:{req.id}", f"request:{req.id}"}
    objects.add(f"request:{req.id}/candidate")
    if req.search_id is not None:
        objects.add(f"search:{req.search_id}")
    for lid in s.scalars(select(Lead.id).where(Lead.request_id == req.id)):
        objects.add(f"case:{case.number}/lead:{lid}")
    first = s.scalar(
        select(func.min(AuditEntry.seq)).where(AuditEntry.object == f"search:{req.search_id}")
    )
    return int(first or 0), objects


def part(obj: str) -> str:
    """An audit object as the part of the case it concerns: ``case:C-1`` -> ``the case``,
    ``case:C-1/request:3`` -> ``request 3``, ``search:5`` -> ``search 5``."""
    number = textsafe.case_of(obj)
    rest = obj.removeprefix(f"case:{number}").lstrip("/") if number is not None else obj
    if not rest:
        return "the case"
    return ", ".join(p.replace(":", " ") for p in rest.split("/"))
