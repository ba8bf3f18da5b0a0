"""The comparison view's calls from the page (compare.js, cookie login): the aligned pair
with your marks, and marking; JSON in the API's shapes (``api_compare``), errors in
LeadGuard's error shape. Forms carry the page's CSRF token."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from leadguard.core.errors import InputError
from leadguard.server.api_compare import AnnotationIn, add, comparison_of
from leadguard.server.auth import State, WebLogin, require_csrf
from leadguard.server.errors import HANDLED, error_body, headers_of, status_of
from leadguard.server.web import call, whole_number
from leadguard.services import annotations as marks_svc

router = APIRouter(include_in_schema=False)


def refused(exc: Exception) -> JSONResponse:
    body = error_body(exc).model_dump(exclude_none=True)
    return JSONResponse(body, status_code=status_of(exc), headers=headers_of(exc))


def points_of(text: str) -> list[tuple[float, float]]:
    """ "x,y;x,y" -> [(x, y), (x, y)] (a malformed list is left to the validation)."""
    out = []
    for part in text.split(";"):
        xs = part.split(",")
        if len(xs) == 2:
            try:
                out.append((float(xs[0]), float(xs[1])))
            except ValueError:
                continue
    return out


@router.get("/requests/{request_id}/comparison")
def comparison_json(
    request_id: int,
    request: Request,
    st: State,
    who: WebLogin,
    candidate: str | None = Query(None, max_length=200),
    subject: str | None = Query(None, max_length=200),
) -> JSONResponse:
    request.state.login = who
    try:
        out = comparison_of(st, who.actor, request_id, candidate, subject)
    except HANDLED as exc:
        return refused(exc)
    return JSONResponse(out.model_dump())


@router.post("/requests/{request_id}/annotations")
async def annotate(request_id: int, request: Request, st: State, who: WebLogin) -> JSONResponse:
    request.state.login = who
    form = await request.form()
    f: dict[str, Any] = {k: form.get(k) for k in form}
    try:
        require_csrf(st, who, f.get("csrf"))
        body = AnnotationIn(
            candidate=f.get("candidate") or None,
            subject=f.get("subject") or None,
            image=str(f.get("image") or ""),
            kind=str(f.get("kind") or ""),
            feature=str(f.get("feature") or ""),
            points=points_of(str(f.get("points") or "")),
            note=str(f.get("note") or ""),
        )
        mark = await call(st, add, st, who.actor, request_id, body)
    except ValidationError:
        return JSONResponse(
            {"error": "InvalidRequest", "message": "the mark's fields are malformed"},
            status_code=422,
        )
    except HANDLED as exc:
        return refused(exc)
    return JSONResponse(mark.model_dump(), status_code=201)


@router.post("/requests/{request_id}/annotations/{annotation_id}/delete")
async def unannotate(
    request_id: int, annotation_id: str, request: Request, st: State, who: WebLogin
) -> JSONResponse:
    request.state.login = who
    form = await request.form()
    try:
        require_csrf(st, who, form.get("csrf"))  # first: a forged form learns nothing
        mark = whole_number(annotation_id)
        if mark is None:
            raise InputError(f"mark {annotation_id[:20]!r} does not exist")
        await call(st, marks_svc.delete_annotation, st.ctx, who.actor, request_id, mark)
    except HANDLED as exc:
        return refused(exc)
    return JSONResponse({"ok": True, "message": f"mark {annotation_id} removed"})
