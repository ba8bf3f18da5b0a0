"""Blind review that stays blind: candidates by letter, sealed audit entries.

Until every required review of a search is in, nobody (whatever the role) reads who the
candidates are, how they scored or what another examiner decided:

- an examiner's packet names the candidates by letter (A, B, C, ...) in that examiner's own
  order; reviews are submitted by letter and stored by subject;
- the audit entries of the search and of the request from the search on (the search, its
  run, the packets viewed, the reviews, refusals on the request) are *sealed*: their
  sequence number, time, actor, action, object and both hashes stay, their details are
  replaced by a placeholder (``sealed_entry``). The chain is untouched, ``audit verify``
  still checks every entry; the content is shown once the reviews are in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from leadguard.services.casework.service import blind_order
from leadguard.services.context import Context
from leadguard.storage.tables import AuditEntry, Case, Review, SearchRequest


def letter(i: int) -> str:
    """0 -> A, 25 -> Z, 26 -> AA, ... (a candidate's name in a blind packet)."""
    out = ""
    i += 1
    while i:
        i, r = divmod(i - 1, 26)
        out = chr(ord("A") + r) + out
    return out


def lettered(request_id: int, user_id: int, cands: list[dict[str, Any]]) -> list[tuple[str, Any]]:
    """The candidates in this examiner's own order, each with its letter."""
    order = sorted(cands, key=lambda c: blind_order(request_id, user_id, c["subject"]))
    return [(letter(i), c) for i, c in enumerate(order)]


def review_count(s: Session, request_id: int) -> int:
    q = select(func.count(Review.id)).where(Review.request_id == request_id)
    return int(s.scalar(q) or 0)


def reviews_in(s: Session, req: SearchRequest, required: int) -> bool:
    """Every required review of the request's search is in (the reveal condition)."""
    return req.search_id is not None and review_count(s, req.id) >= required


@dataclass(frozen=True)
class Sealed:
    """A searched request whose reviews are not all in."""

    request: int
    case: str
    search: int
    reviews: int
    required: int
    from_seq: int  # entries of the request from this one on are sealed

    def objects(self, obj: str) -> bool:
        """Whether an audit object is this request's or its search's."""
        req = f"request:{self.request}"
        return (
            obj == f"search:{self.search}"
            or obj == f"case:{self.case}/{req}"
            or obj == req
            or obj.startswith(f"{req}/")
        )


def sealed_requests(s: Session, required: int) -> list[Sealed]:
    counts = (
        select(Review.request_id, func.count(Review.id).label("n"))
        .group_by(Review.request_id)
        .subquery()
    )
    q = (
        select(SearchRequest.id, Case.number, SearchRequest.search_id, counts.c.n)
        .join(Case, Case.id == SearchRequest.case_id)
        .outerjoin(counts, counts.c.request_id == SearchRequest.id)
        .where(SearchRequest.search_id.is_not(None))
    )
    out = []
    for rid, number, sid, n in s.execute(q):
        if (n or 0) >= required:
            continue
        first = s.scalar(
            select(func.min(AuditEntry.seq)).where(AuditEntry.object == f"search:{sid}")
        )
        out.append(Sealed(rid, number, sid, n or 0, required, first or 0))
    return out


@dataclass(frozen=True)
class Waiting:
    """A request whose candidates nobody may read yet, and the probe it searches."""

    request: int
    probe: int | None
    sha256: str
    face: int | None
    edits: tuple[tuple[str, tuple[Any, ...]], ...]
    source_type: str


def waiting_requests(
    s: Session, required: Callable[[], int], probe_sha256: str | None = None
) -> list[Waiting]:
    """The requests (of this probe's bytes, where given) whose candidates nobody may read
    yet: not yet searched, or searched with reviews missing. An urgent search of the same
    photo would list those candidates first, outside the blind review. ``required`` (the
    policy's examiners per search) is read only where such a request exists: almost every
    search's photo is no request's."""
    q = (
        select(
            SearchRequest.id,
            SearchRequest.search_id,
            SearchRequest.probe_id,
            SearchRequest.probe_sha256,
            SearchRequest.face,
            SearchRequest.edits,
            SearchRequest.source_type,
        )
        .where(SearchRequest.status.in_(("pending", "approved", "searched")))
        .order_by(SearchRequest.id)
    )
    if probe_sha256 is not None:
        q = q.where(SearchRequest.probe_sha256 == probe_sha256)
    rows = s.execute(q).all()
    if not rows:
        return []
    searched = [r.id for r in rows if r.search_id is not None]
    counts: dict[int, int] = {}
    if searched:
        counts = dict(
            s.execute(
                select(Review.request_id, func.count(Review.id))
                .where(Review.request_id.in_(searched))
                .group_by(Review.request_id)
            ).all()
        )
    need = required() if searched else 0
    return [
        Waiting(
            r.id,
            r.probe_id,
            r.probe_sha256 or "",
            r.face,
            tuple((e["op"], tuple(e["args"])) for e in r.edits or ()),
            r.source_type,
        )
        for r in rows
        if r.search_id is None or counts.get(r.id, 0) < need
    ]


def before_review(s: Session, probe_sha256: str, required: Callable[[], int]) -> list[int]:
    """The requests of these bytes whose candidates nobody may read yet."""
    return [w.request for w in waiting_requests(s, required, probe_sha256)]


def sealed_entry(e: dict[str, Any], why: Sealed) -> dict[str, Any]:
    """The entry as shown while sealed: the chain fields stay, the details do not."""
    return {
        **e,
        "details": {
            "sealed": (
                f"blind review of request {why.request}: {why.reviews} of {why.required} "
                "reviews in; the content is shown once every review is in"
            )
        },
        "sealed": True,
    }


def seal(s: Session, rows: list[dict[str, Any]], required: int) -> list[dict[str, Any]]:
    """Audit entries (``audit.entry_dict``) with those under blind review sealed."""
    pending = sealed_requests(s, required)
    if not pending:
        return rows
    out = []
    for e in rows:
        why = next((p for p in pending if e["seq"] >= p.from_seq and p.objects(e["object"])), None)
        out.append(sealed_entry(e, why) if why else e)
    return out


def letters_of(ctx: Context, request_id: int, user_id: int) -> dict[str, str]:
    """subject -> the letter an examiner's packet gives it: for the demo's scripted
    examiners and for tests; no shell exposes it."""
    from leadguard.services.casework.service import candidates_of, get_request

    with ctx.session() as s:
        req, _ = get_request(s, request_id)
        return {c["subject"]: k for k, c in lettered(req.id, user_id, candidates_of(s, req))}
