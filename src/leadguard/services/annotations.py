"""Marks on the eye-aligned pair (docs/server.md, "The comparison view"): a point or a
region tied to a FISWG feature, or a measurement between two points given as a fraction of
the inter-eye distance, each with a note.

Who marks: an examiner during their own blind review, by the letter of their packet, until
their review is in (the marks are part of it, then closed); once every review is in, the
supervisor who adjudicates, by subject. Who reads: while blind, each examiner only their
own marks, by letter; once every review is in, whoever may see the reveal reads every mark
on a candidate, with who made it. Marks are stored by subject, as reviews are; every mark
made or removed is audited on the request (sealed like the rest of the request while the
reviews are not all in), its audit entry naming the mark's row, never the subject."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from leadguard.audit import log as audit
from leadguard.core.alignment import CANVAS, fraction_of_inter_eye
from leadguard.core.errors import InputError
from leadguard.services.authz import NotAllowed
from leadguard.services.casework.review import FEATURES, reviews_of
from leadguard.services.casework.service import check_case, get_request, policy, request_object
from leadguard.services.context import Actor, Context, current_user, refusals
from leadguard.services.files import resolve_candidate
from leadguard.storage.db import by_id
from leadguard.storage.tables import Case, ComparisonAnnotation, SearchRequest, User

KINDS = {"point": 1, "region": 2, "measure": 2}  # kind -> number of points
IMAGES = ("probe", "candidate")
MAX_NOTE = 2000
MAX_MARKS = 200  # per user, request and candidate


@dataclass(frozen=True)
class Annotation:
    id: int
    examiner: str
    image: str
    kind: str
    feature: str
    points: tuple[tuple[float, float], ...]
    note: str
    measure: float | None  # a measurement: distance / inter-eye distance
    created_at: str


def _view(row: ComparisonAnnotation, examiner: str) -> Annotation:
    return Annotation(
        row.id,
        examiner,
        row.image,
        row.kind,
        row.feature,
        tuple((float(x), float(y)) for x, y in row.points),
        row.note,
        row.measure,
        row.created_at.isoformat(timespec="seconds"),
    )


def check_mark(image: str, kind: str, feature: str, points: Any, note: str) -> list[list[float]]:
    """The points of a valid mark on the canvas, or an InputError naming what is wrong."""
    if image not in IMAGES:
        raise InputError(f"image must be one of {', '.join(IMAGES)}")
    if kind not in KINDS:
        raise InputError(f"kind must be one of {', '.join(KINDS)}")
    if feature not in FEATURES:
        raise InputError(f"feature must be one of the FISWG features: {', '.join(FEATURES)}")
    if len(note) > MAX_NOTE:
        raise InputError(f"note: at most {MAX_NOTE} characters")
    if not isinstance(points, list | tuple) or len(points) != KINDS[kind]:
        raise InputError(f"a {kind} needs {KINDS[kind]} point(s) on the aligned image")
    out = []
    w, h = CANVAS
    for p in points:
        ok = isinstance(p, list | tuple) and len(p) == 2
        ok = ok and all(isinstance(v, int | float) and math.isfinite(v) for v in p)
        if not ok or not (0 <= p[0] <= w and 0 <= p[1] <= h):
            raise InputError(f"points must be [x, y] on the aligned image (0-{w} by 0-{h})")
        out.append([round(float(p[0]), 1), round(float(p[1]), 1)])
    return out


def may_mark(s: Session, user: User, req: SearchRequest, case: Case, blind: bool) -> None:
    """Blind: the packet's examiner (``resolve_candidate`` checked that), until their review
    is in. After the reveal: the supervisor who may adjudicate the case."""
    if any(r.examiner_id == user.id for r in reviews_of(s, req)):
        raise NotAllowed(
            f"{user.username}: your review of request {req.id} is in; your marks are part of "
            "it and are closed"
        )
    if not blind:
        check_case(s, user, "lead.adjudicate", case)


def _names(s: Session) -> dict[int, str]:
    return {u.id: u.username for u in s.scalars(select(User))}


def _rows(s: Session, req_id: int, subject: str, user_id: int | None) -> list[ComparisonAnnotation]:
    q = select(ComparisonAnnotation).where(
        ComparisonAnnotation.request_id == req_id, ComparisonAnnotation.subject == subject
    )
    if user_id is not None:
        q = q.where(ComparisonAnnotation.user_id == user_id)
    return list(s.scalars(q.order_by(ComparisonAnnotation.id)))


def add_annotation(
    ctx: Context,
    actor: Actor,
    request_id: int,
    image: str,
    kind: str,
    feature: str,
    points: Any,
    note: str = "",
    candidate: str | None = None,
    subject: str | None = None,
) -> Annotation:
    """Mark the aligned pair of one candidate (by letter while blind, by subject after)."""
    pol = policy(ctx, observe=False)
    obj = request_object(None, request_id, ctx)
    with refusals(ctx, actor, "comparison.annotate", obj), ctx.session() as s:
        req, case = get_request(s, request_id)
        cand, _, blind = resolve_candidate(s, actor, req, case, pol, subject, candidate)
        user = current_user(s, actor)
        may_mark(s, user, req, case, blind)
        pts = check_mark(image, kind, feature, points, note.strip())
        if len(_rows(s, req.id, cand["subject"], user.id)) >= MAX_MARKS:
            raise InputError(f"at most {MAX_MARKS} marks per candidate")
        measure = None
        if kind == "measure":
            (x0, y0), (x1, y1) = pts
            measure = fraction_of_inter_eye((x0, y0), (x1, y1))
        row = ComparisonAnnotation(
            request_id=req.id,
            user_id=user.id,
            subject=cand["subject"],
            image=image,
            kind=kind,
            feature=feature,
            points=pts,
            note=note.strip(),
            measure=round(measure, 3) if measure is not None else None,
        )
        s.add(row)
        s.flush()
        audit.append(
            s,
            "comparison.annotate",
            obj,
            {"annotation": row.id, "image": image, "kind": kind, "feature": feature},
            actor=actor.username,
            records=[row],
        )
        return _view(row, actor.username)


def list_annotations(
    ctx: Context,
    actor: Actor,
    request_id: int,
    candidate: str | None = None,
    subject: str | None = None,
) -> list[Annotation]:
    """While blind: your own marks on a letter of your packet. Once every review is in:
    every mark on the subject, with who made it."""
    pol = policy(ctx, observe=False)
    where = f"request:{request_id}/annotations"
    with refusals(ctx, actor, "review.packet", where), ctx.session() as s:
        req, case = get_request(s, request_id)
        cand, _, blind = resolve_candidate(s, actor, req, case, pol, subject, candidate)
        user = current_user(s, actor)
        names = _names(s)
        rows = _rows(s, req.id, cand["subject"], user.id if blind else None)
        return [_view(r, names.get(r.user_id, "?")) for r in rows]


def delete_annotation(ctx: Context, actor: Actor, request_id: int, annotation_id: int) -> None:
    """Remove one of your own marks, while you may still mark."""
    pol = policy(ctx, observe=False)
    obj = request_object(None, request_id, ctx)
    with refusals(ctx, actor, "comparison.unannotate", obj), ctx.session() as s:
        req, case = get_request(s, request_id)
        user = current_user(s, actor)
        check_case(s, user, "case.view", case)  # before saying whether the mark exists
        row = by_id(s, ComparisonAnnotation, annotation_id)
        if row is None or row.request_id != req.id or row.user_id != user.id:
            raise InputError(f"mark {annotation_id} of yours on request {req.id} does not exist")
        from leadguard.services.casework.blind import reviews_in

        blind = not reviews_in(s, req, pol.examiners_required)
        may_mark(s, user, req, case, blind)
        s.delete(row)
        audit.append(
            s,
            "comparison.unannotate",
            obj,
            {
                "annotation": annotation_id,
                "deleted_records": [{"table": "comparison_annotations", "id": annotation_id}],
            },
            actor=actor.username,
        )


def marks_of(s: Session, request_id: int, subject: str) -> list[dict[str, Any]]:
    """Every mark on a candidate, for the lead report (no authorisation: the report's)."""
    names = _names(s)
    return [
        {**_view(r, names.get(r.user_id, "?")).__dict__}
        for r in _rows(s, request_id, subject, None)
    ]
